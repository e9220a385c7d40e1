"""`kronos targets --check`: is each target's archive reachable, and does it verify? Every suite a
target reads (its suite, pockets and build-deps suites) is downloaded afresh and verified by the same
rules as a build; the answer is a line per suite with how long it took."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..cache import Cache
from ..config import Settings, Target
from ..errors import KronosError
from .access import Archives
from .release import fetch_release


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
    """One Probe per suite of each target, as each finishes (a slow mirror shows as it happens)."""
    archives = Archives(settings, cache)
    for target in targets:
        archive = settings.archives[target.archive]
        for suite in suites(target):
            started = time.monotonic()
            mirror, date, problem = "?", "", ""
            try:
                mirror = archives.mirror(archive, suite)
                release = fetch_release(cache, mirror, suite, archives.keyrings(archive), archive.snapshot, 0)
                date = str(release.release["Date"])
            except KronosError as e:
                problem = str(e)
            yield Probe(target.name, suite, mirror, time.monotonic() - started, date, problem)
