"""Where a build job runs: this process and its engine (local, the default), or Dask workers each with
their own engine (dask). The graph, the order and the choice of versions stay with the coordinator
(kronos/pipeline.py); a runner takes one BuildSpec at a time and answers with its BuildResult."""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from ..engine import Engine
from ..job import BuildResult, BuildSpec, Worker
from ..store import Store
from .execute import execute


class Runner(ABC):
    name = ""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 (nothing to let go of by default)
        """Let go of what it holds (a scheduler's connection)."""

    def slots(self) -> int:
        """How many builds it runs at once when nothing else says (--jobs, KRONOS_JOBS)."""
        return 1

    def ship(self, spec: BuildSpec, engine: Engine) -> BuildSpec:
        """spec, with what its runner needs that the coordinator's engine has (the base image's archive)."""
        return spec

    @abstractmethod
    def run(self, spec: BuildSpec, log: Path) -> BuildResult:
        """Build spec; the log ends up in `log` (as it runs when the runner can)."""


class LocalRunner(Runner):
    """This process, this engine: the build runs in the calling thread."""

    name = "local"

    def __init__(self, store: Store, engine: Engine, work: Path, locks: Path) -> None:
        super().__init__(store)
        self.engine, self.work, self.locks = engine, work, locks
        self.worker = Worker(f"local ({socket.gethostname()} pid {os.getpid()})",
                             engine=str(getattr(engine, "where", "")))

    def run(self, spec: BuildSpec, log: Path) -> BuildResult:
        return execute(spec, self.engine, self.store, self.work, log, self.worker, self.locks)
