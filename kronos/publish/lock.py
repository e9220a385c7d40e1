"""The publish lock: an flock on <root>/.lock that only the publishing process holds, its holder's pid
in <root>/.lock.pid, and a bounded wait that says who holds it.

The descriptor is close-on-exec and no process is forked while it is held (the .deb readers are
spawned), so the kernel drops the lock when the holder dies, however it dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..log import info
from .fault import checkpoint
from .tree import PublishError

TIMEOUT_KEY = "repository.lock_timeout, env KRONOS_PUBLISH_LOCK_TIMEOUT"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _command(pid: int) -> str:
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


def holder(root: Path) -> str:
    """Who holds the lock, for a person: the recorded pid, whether it runs, who has the file open."""
    lock = root / ".lock"
    try:
        pid_text, _, started = (root / ".lock.pid").read_text().partition("\n")
        pid = int(pid_text)
    except (OSError, ValueError):
        pid = 0
        started = ""
    openers = [p for p in _openers(lock) if p != pid]
    others = f"; {lock} is open in " + ", ".join(f"pid {p} ({_command(p)})" for p in openers) if openers else ""
    if not pid:
        return f"a process that recorded no pid{others}"
    if _start_time(pid) == started.strip():
        return f"pid {pid} (running: {_command(pid)}){others}"
    return f"pid {pid} (no longer running{', a process it started may still hold the lock' if openers else ''})" \
           f"{others}"


@contextlib.contextmanager
def locked(root: Path, timeout: float) -> Iterator[None]:
    """Serialize publishes; wait at most `timeout` seconds for the holder, saying who it is."""
    root.mkdir(parents=True, exist_ok=True)
    lock = root / ".lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, root, timeout)
        pidfile = root / ".lock.pid"
        tmp = root / ".lock.pid.new"
        tmp.write_text(f"{os.getpid()}\n{_start_time(os.getpid())}\n")
        os.replace(tmp, pidfile)
        try:
            checkpoint("locked")
            yield
        finally:
            pidfile.unlink(missing_ok=True)  # before the unlock: a recorded pid always holds the lock
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, root: Path, timeout: float) -> None:
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
            raise PublishError(f"the publish lock {root / '.lock'} is still held by {holder(root)}; gave up after"
                               f" {timeout:g} s ({TIMEOUT_KEY})")
        if not told:
            info(f"waiting for the publish lock {root / '.lock'}, held by {holder(root)}"
                 f" (at most {timeout:g} s; {TIMEOUT_KEY})")
            told = True
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)
