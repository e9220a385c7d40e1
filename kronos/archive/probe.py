"""`kronos targets --check`: is each target's archive reachable, and does it verify? Every suite a
target reads (its suite, pockets and build-deps suites) is downloaded afresh and verified by the same
rules as a build; the answer is a line per suite with how long it took."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..cache import Cache
from ..config import Settings, Target
from ..errors import KronosError
from ..retry import attempts
from .access import Archives


@dataclass(frozen=True)
class Probe:
    target: str
    suite: str
    mirror: str
    seconds: float
    date: str  # the verified Release's Date ("" when it failed)
    problem: str  # "" when reachable and verified

    def line(self) -> str:
        verdict = f"ok, dated {self.date}" if not self.problem else f"FAILED: {self.problem}"
        return f"{self.target:10} {self.suite:22} {self.seconds:6.1f} s  {verdict}  ({self.mirror})"


def suites(target: Target) -> tuple[str, ...]:
    return tuple(dict.fromkeys((target.suite, *target.pockets, *target.extra_suites)))


def probe(settings: Settings, cache: Cache, targets: Iterable[Target]) -> Iterable[Probe]:
    """One Probe per suite of each target, as each finishes (a slow mirror shows as it happens).
    index_max_age 0, as `build --refresh`: every InRelease is downloaded now."""
    attempts()  # a bad KRONOS_DOWNLOAD_ATTEMPTS is one error, not one per suite
    archives = Archives(dataclasses.replace(settings, index_max_age=0), cache)
    for target in targets:
        archive = settings.archive_of(target)
        for suite in suites(target):
            started = time.monotonic()
            mirror, date, problem = "?", "", ""
            try:
                mirror = archives.mirror(archive, suite)
                date = str(archives.release(archive, suite).release["Date"])
            except KronosError as e:
                problem = str(e)
            yield Probe(target.name, suite, mirror, time.monotonic() - started, date, problem)
