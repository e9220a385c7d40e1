"""Who made a container: this kronos process, named by labels (a run id, its pid, the pid's start time
and the host), so that `kronos clean` and the next run can tell the leftovers of a kronos that was
killed (SIGKILL, a reboot) from the containers of one that still runs."""

from __future__ import annotations

import functools
import os
import socket
import uuid

from .holding import start_time

PREFIX = "org.kronos"
RUN, PID, STARTED, HOST = (f"{PREFIX}.{k}" for k in ("run", "pid", "pid-start", "host"))


@functools.cache
def labels() -> tuple[tuple[str, str], ...]:
    """This process's labels (one run id per process)."""
    return ((RUN, uuid.uuid4().hex[:12]), (PID, str(os.getpid())), (STARTED, start_time(os.getpid()) or ""),
            (HOST, socket.gethostname()))


def gone(found: dict[str, str]) -> bool:
    """Whether the kronos that made a container with these labels is no longer running: on this host, its
    pid is gone or now names another process (another start time). A container of another host, or
    without the labels, is never taken for a leftover."""
    if found.get(HOST) != socket.gethostname() or not found.get(PID, "").isdigit():
        return False
    return start_time(int(found[PID])) != found.get(STARTED)


def describe(found: dict[str, str]) -> str:
    """A leftover for a person: what it was for and who made it."""
    what = ", ".join(f"{k.removeprefix(PREFIX + '.')} {v}" for k, v in sorted(found.items())
                     if k.startswith(PREFIX) and k not in (RUN, PID, STARTED, HOST))
    return f"{what or 'a container'} of kronos pid {found.get(PID, '?')} (run {found.get(RUN, '?')})"
