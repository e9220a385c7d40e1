"""The executor interface: jobs with dependencies in, one result per job out, events on the way.

A job starts when every job it comes after has succeeded; a failed job skips exactly the jobs that
depend on it (directly or not), everything else goes on."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class Status(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Job:
    name: str  # unique among the jobs of one run
    func: Callable[[], object]
    after: tuple[str, ...] = ()  # jobs that must have succeeded before this one starts
    weight: float = 1.0  # its expected cost (e.g. the last build's seconds): the longest chain starts first


@dataclass(frozen=True)
class Result:
    job: str
    status: Status
    value: object = None
    error: Exception | None = None
    reason: str = ""  # why it failed or was skipped ("skipped: b failed")
    seconds: float = 0.0
    started: float = 0.0  # wall clock (time.time()) when it began to run; 0 when skipped


class Listener:
    """Events of a run (called from the executor's threads; a no-op by default)."""

    def started(self, job: str) -> None:
        """job began to run."""

    def finished(self, result: Result) -> None:
        """job ended: done, failed or skipped."""


class Executor(ABC):
    """Runs jobs in dependency order, at most `jobs` at a time."""

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.jobs = jobs

    @abstractmethod
    def run(self, jobs: Sequence[Job], listener: Listener | None = None) -> dict[str, Result]:
        """Run every job (or skip it); return one result per job name."""


def check(jobs: Sequence[Job]) -> dict[str, Job]:
    """The jobs by name; unknown or duplicate names and cycles are programming errors."""
    by_name: dict[str, Job] = {}
    for job in jobs:
        if job.name in by_name:
            raise ValueError(f"duplicate job {job.name!r}")
        by_name[job.name] = job
    for job in jobs:
        for dep in job.after:
            if dep not in by_name:
                raise ValueError(f"job {job.name!r} comes after unknown job {dep!r}")
    state: dict[str, int] = {}  # 1: on the path, 2: checked

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError(f"jobs form a cycle: {' -> '.join((*path, name))}")
        state[name] = 1
        for dep in by_name[name].after:
            visit(dep, (*path, name))
        state[name] = 2

    for name in by_name:
        visit(name, ())
    return by_name


def chain_heights(jobs: Sequence[Job]) -> dict[str, float]:
    """Each job's weight plus the heaviest chain of jobs that wait for it (the critical path's share)."""
    by_name = check(jobs)
    dependents: dict[str, list[str]] = {name: [] for name in by_name}
    for job in jobs:
        for dep in job.after:
            dependents[dep].append(job.name)
    height: dict[str, float] = {}

    def visit(name: str) -> float:
        if name not in height:
            height[name] = by_name[name].weight + max((visit(d) for d in dependents[name]), default=0.0)
        return height[name]

    for name in by_name:
        visit(name)
    return height


_REGISTRY: dict[str, Callable[[int], Executor]] = {}


def register(name: str, factory: Callable[[int], Executor]) -> None:
    _REGISTRY[name] = factory


def get_executor(name: str = "local", jobs: int = 1) -> Executor:
    if name not in _REGISTRY:
        raise ValueError(f"unknown executor {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name](jobs)
