"""What a remote runner adds to kronos's errors."""

from __future__ import annotations

from ..errors import KronosError


class SchedulerGone(KronosError):
    """The Dask scheduler went away mid-run (or cannot be reached): nothing more can be built or collected."""

    exit_code = 2
