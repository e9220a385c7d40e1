"""Named locks between kronos processes: an flock on a lock file that only the holding process has
open, its holder (pid, process start time, host) in a file beside it, and a bounded wait that says
who holds it. The publish lock (publish/lock.py) and each recipe's build lock (pipeline.py) are such.

The descriptor is close-on-exec, so the kernel drops the lock when the holder dies, however it dies,
and no child it starts keeps it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .log import info


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def command(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "?"
    text = " ".join(a.decode(errors="replace") for a in argv)
    return text if len(text) <= 100 else text[:97] + "..."


def _openers(path: Path) -> list[int]:
    """The pids (but this one) that have path open: whoever holds an flock on it is among them."""
    target = str(path.resolve())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == target:
                        found.append(int(proc.name))
                        break
    return sorted(found)


def holder(lock: Path, pidfile: Path) -> str:
    """Who holds the lock, for a person: the recorded pid (and host, when another), whether it runs,
    who has the file open."""
    try:
        pid_text, started, host = ([*pidfile.read_text().splitlines(), "", ""])[:3]
        pid = int(pid_text)
    except (OSError, ValueError):
        pid, started, host = 0, "", ""
    openers = [p for p in _openers(lock) if p != pid]
    others = f"; {lock} is open in " + ", ".join(f"pid {p} ({command(p)})" for p in openers) if openers else ""
    if not pid:
        return f"a process that recorded no pid{others}"
    if host and host != socket.gethostname():
        return f"pid {pid} on host {host} (started at tick {started}){others}"
    if start_time(pid) == started.strip():
        return f"pid {pid} (running: {command(pid)}){others}"
    return f"pid {pid} (no longer running{', a process it started may still hold the lock' if openers else ''})" \
           f"{others}"


@contextlib.contextmanager
def held(lock: Path, pidfile: Path, timeout: float, what: str, setting: str,
         error: Callable[[str], Exception]) -> Iterator[None]:
    """Hold `what` (the flock on lock); wait at most `timeout` seconds for its holder, saying who it
    is once, then give up with error(one line). setting names where the timeout is set."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, lock, pidfile, timeout, what, setting, error)
        tmp = pidfile.with_name(pidfile.name + ".new")
        tmp.write_text(f"{os.getpid()}\n{start_time(os.getpid())}\n{socket.gethostname()}\n")
        os.replace(tmp, pidfile)
        try:
            yield
        finally:
            pidfile.unlink(missing_ok=True)  # before the unlock: a recorded pid always holds the lock
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, lock: Path, pidfile: Path, timeout: float, what: str, setting: str,
             error: Callable[[str], Exception]) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise error(f"{what} {lock} is still held by {holder(lock, pidfile)}; gave up after {timeout:g} s"
                        f" ({setting})")
        if not told:
            info(f"waiting for {what} {lock}, held by {holder(lock, pidfile)} (at most {timeout:g} s; {setting})")
            told = True
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)
