"""Another attempt for what the network got wrong on the way: a reset or refused connection, a
timeout, an answer cut short, 408/429/5xx. A definite answer (404, a checksum or signature that does
not match) is never asked again."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import ConfigError, FetchError
from .log import log

T = TypeVar("T")
ATTEMPTS_ENV = "KRONOS_DOWNLOAD_ATTEMPTS"
DEFAULT_ATTEMPTS = 4
FIRST_DELAY = 2.0  # seconds before the second attempt; doubled before each one after it
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class Transient(FetchError):
    """A failure another attempt may not meet."""


def attempts() -> int:
    raw = os.environ.get(ATTEMPTS_ENV, str(DEFAULT_ATTEMPTS))
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{ATTEMPTS_ENV}={raw!r}: expected a whole number of attempts, at least 1")
    return n


def retried(action: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """action() until it does not raise Transient, at most attempts() times; the last failure is
    raised as a plain FetchError that says how many attempts were made."""
    total = attempts()
    delay = FIRST_DELAY
    for attempt in range(1, total + 1):
        try:
            return action()
        except Transient as e:
            if attempt == total:
                raise FetchError(f"{e} ({total} attempts)" if total > 1 else str(e)) from None
            log.warning("%s; attempt %d of %d in %g s", e, attempt + 1, total, delay)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
