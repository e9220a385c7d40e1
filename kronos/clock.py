"""The one clock: everything time-based asks here, so tests can set the time."""

from __future__ import annotations

import datetime as dt
import os


def now() -> dt.datetime:
    """Current UTC time; KRONOS_NOW (seconds since the epoch) overrides it."""
    fixed = os.environ.get("KRONOS_NOW")
    if fixed:
        return dt.datetime.fromtimestamp(int(fixed), tz=dt.UTC)
    return dt.datetime.now(tz=dt.UTC)
