"""Contributor conveniences of `kronos build`: a shell in the kept tree of a failed build."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .engine import Engine
from .errors import FailedBuild
from .executor.report import Row
from .log import info


def shell_into_failures(engine: Engine, rows: Sequence[Row]) -> None:
    """For each build that failed in its container, an interactive shell in its kept build tree."""
    for row in rows:
        if isinstance(row.error, FailedBuild):
            info(f"{row.target}/{row.recipe}: a shell in the kept build tree ({row.error.image},"
                 f" {row.error.workdir}); exit to leave")
            sys.stdout.flush()
            engine.shell(row.error.image, row.error.user, row.error.workdir)
