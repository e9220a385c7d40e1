"""The one clock: everything time-based asks here, so tests can set the time."""

from __future__ import annotations

import datetime as dt
import os

from .errors import ConfigError


def now() -> dt.datetime:
    """Current UTC time; KRONOS_NOW (whole seconds since the epoch) overrides it."""
    fixed = os.environ.get("KRONOS_NOW")
    if fixed:
        try:
            return dt.datetime.fromtimestamp(int(fixed), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(f"environment KRONOS_NOW: '{fixed}' is not a time (whole seconds since"
                              " 1970-01-01 UTC, e.g. 1767225600); unset it to use the system clock") from None
    return dt.datetime.now(tz=dt.UTC)
