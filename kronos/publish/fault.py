"""Fault injection for the crash and concurrency tests, at the publish's checkpoints.

    KRONOS_FAULT_AT=N                 SIGKILL this process (alone) at its N-th checkpoint
    KRONOS_FAULT_FAIL=<label>         raise ENOSPC, as a full disk would, at the checkpoint <label>
    KRONOS_FAULT_WAIT=<label>=<file>  at the checkpoint <label>, write <file>.waiting (this pid) and
                                      wait until <file> exists (an hour at most)
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

from ..errors import ConfigError

_count = 0
WAIT_LIMIT = 3600.0


def checkpoint(label: str) -> None:
    """Count a point where a crash must leave a consistent repository; act there when told to."""
    global _count
    _count += 1
    at = os.environ.get("KRONOS_FAULT_AT")
    if at and not (at.isascii() and at.isdigit()):
        raise ConfigError(f"environment KRONOS_FAULT_AT: '{at}' is not a checkpoint number (1, 2, ...)")
    if at and int(at) == _count:
        os.write(2, f"kronos: fault injection: SIGKILL at checkpoint {_count} ({label})\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("KRONOS_FAULT_FAIL") == label:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (fault injection at {label})")
    wait = os.environ.get("KRONOS_FAULT_WAIT", "")
    if wait.partition("=")[0] == label:
        _wait(label, Path(wait.partition("=")[2]))


def _wait(label: str, resume: Path) -> None:
    os.write(2, f"kronos: fault injection: waiting at {label} until {resume} exists\n".encode())
    resume.with_name(resume.name + ".waiting").write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + WAIT_LIMIT
    while not resume.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"fault injection: {resume} did not appear within {WAIT_LIMIT:g} s")
        time.sleep(0.05)
