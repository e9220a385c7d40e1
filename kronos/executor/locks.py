"""Locks for what concurrent jobs share: one lock per key (a target's image, a deps layer), held by
the threads of one kronos and, through a lock file, by every kronos on the machine that shares the
cache (a nightly beside a developer's build, a test suite's builds beside each other)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on path for the block: other processes (and threads) wait for it. The kernel
    drops it when the process dies, so a killed kronos never leaves it held. The file is made for the
    block and removed at its end; a waiter that then holds a removed file takes the lock anew."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed it while this one waited
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


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
    """A call made at most once, however many threads ask for its value at the same moment. A call that
    failed is not made again: every caller gets its error (a base image that cannot be made fails each
    job that needs it with mmdebstrap's error, run once)."""

    def __init__(self, func: Callable[[], T]) -> None:
        self._func = func
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None
        self._error: Exception | None = None

    def __call__(self) -> T:
        with self._lock:
            if not self._done:
                try:
                    self._value = self._func()
                except Exception as e:
                    self._error = e
                self._done = True
            if self._error is not None:
                raise self._error
            return self._value  # type: ignore[return-value]
