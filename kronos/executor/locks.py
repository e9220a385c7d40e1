"""Locks for what concurrent jobs share: one lock per key (a target's image, a deps layer)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar


class KeyedLocks:
    """`with locks.hold(key):` — callers with the same key run one at a time, others do not wait."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
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
