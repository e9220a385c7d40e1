"""Locks for what concurrent jobs share: one lock per key (a target's image, a deps layer), held by
the threads of one kronos and, through a lock file, by every kronos on the machine that shares the
cache (a nightly beside a developer's build, a test suite's builds beside each other)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on path (made when missing) for the block: other processes wait for it. The
    kernel drops it when the process dies, so a killed kronos never leaves it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class KeyedLocks:
    """`with locks.hold(key, across=dir):` — callers with the same key run one at a time, others do not
    wait. With `across`, other processes holding the same key under the same directory wait too."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def hold(self, key: str, across: Path | None = None) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if across is None:
                yield
                return
            name = hashlib.sha256(key.encode()).hexdigest()[:24]
            with file_lock(across / f"{name}.lock"):
                yield


T = TypeVar("T")


class Once(Generic[T]):
    """A call made at most once, however many threads ask for its value at the same moment."""

    def __init__(self, func: Callable[[], T]) -> None:
        self._func = func
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None

    def __call__(self) -> T:
        with self._lock:
            if not self._done:
                self._value = self._func()
                self._done = True
            return self._value  # type: ignore[return-value]
