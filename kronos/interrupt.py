"""Interrupts: the first SIGINT (Ctrl-C) or SIGTERM stops a run cleanly, a second one ends it at once.

The first signal raises KeyboardInterrupt in the main thread as Python's default does (for SIGTERM too),
except while an executor drains its jobs (`draining()`): then the main thread waits for them to end.

On the first signal nothing new starts (the executor asks `stopping()`), and everything that runs on
the run's behalf outside this process is stopped: each live build container is removed (killed) and
each child process is sent SIGTERM (SIGKILL after a short grace). They register themselves while they
live (`stoppable()`). Their callers then fail as they would on their own, so every context manager
on the way out removes its scratch directory, throwaway GnuPG home or staged output, and out/, the
ledgers and the repository stay as they were. The program ends with `Interrupted` (exit 128 + the
signal's number: 130 for SIGINT, 143 for SIGTERM).

The stopping runs on a thread of its own, not in the signal handler, so the handler never waits on a
lock the interrupted main thread may hold."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from .errors import KronosError

GRACE = 5.0  # seconds a child process has after SIGTERM before SIGKILL


class Interrupted(KronosError):
    """The run was stopped by a signal: exit 128 + its number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}: nothing more was started, the running"
                         " jobs were stopped and their outputs left as they were")


_lock = threading.Lock()
_stoppers: dict[int, Callable[[], None]] = {}
_ids = itertools.count()
_event = threading.Event()
_signum: list[int] = []
_draining = threading.Event()  # set while an executor drains its running jobs itself (see draining())


def stopping() -> bool:
    """Whether a stop was asked for: start nothing more."""
    return _event.is_set()


def signum() -> int | None:
    return _signum[0] if _signum else None


def name() -> str:
    """The signal that asked for the stop, for a person ("SIGINT"), or "an interrupt"."""
    return signal.Signals(_signum[0]).name if _signum else "an interrupt"


def check() -> None:
    """Raise Interrupted when a stop was asked for (before starting something long)."""
    if _signum:
        raise Interrupted(_signum[0])


@contextlib.contextmanager
def stoppable(stop: Callable[[], None], late: bool = True) -> Iterator[None]:
    """While the block runs, a stop calls `stop` (once). One already asked for calls it at once when
    `late` (a container made as the stop came); not otherwise (a cleanup command run after the stop,
    such as `gpgconf --kill`, must be left to end)."""
    with _lock:
        key = next(_ids)
        _stoppers[key] = stop
        now = _event.is_set() and late
    if now:
        _call(stop)
    try:
        yield
    finally:
        with _lock:
            _stoppers.pop(key, None)


def _call(stop: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # a stopper that fails must not keep the others from running
        stop()


def request_stop(number: int) -> None:
    """What the first signal does (also callable directly): mark the stop, then run every stopper on a
    thread of its own."""
    with _lock:
        if _event.is_set():
            return
        _signum.append(number)
        _event.set()
        stoppers = list(_stoppers.values())
    for stop in stoppers:
        threading.Thread(target=_call, args=(stop,), daemon=True, name="kronos-stop").start()


def _handler(number: int, frame: FrameType | None) -> None:
    if _event.is_set():  # the second signal: out at once
        sys.stderr.write(f"\nkronos: {signal.Signals(number).name} again: exiting now\n")
        sys.stderr.flush()
        os._exit(128 + number)
    sys.stderr.write(f"\nkronos: {signal.Signals(number).name}: stopping (running jobs are stopped, nothing more"
                     " starts; again to exit at once)\n")
    sys.stderr.flush()
    request_stop(number)
    if not _draining.is_set():
        raise KeyboardInterrupt  # the main thread unwinds through its context managers


@contextlib.contextmanager
def draining() -> Iterator[None]:
    """For the block, the first signal does not raise in the main thread: it waits for the running jobs,
    which their stoppers end, and reports each (the executor)."""
    _draining.set()
    try:
        yield
    finally:
        _draining.clear()


def install() -> None:
    """Handle SIGINT and SIGTERM in this (the main) thread's process."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def reset() -> None:
    """Forget a stop (tests that run several commands in one process)."""
    with _lock:
        _event.clear()
        _signum.clear()
