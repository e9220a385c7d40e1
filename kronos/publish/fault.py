"""Fault injection for the crash tests: KRONOS_FAULT_AT=N kills the process at its N-th checkpoint."""

from __future__ import annotations

import os
import signal

_count = 0


def checkpoint(label: str) -> None:
    """Count a point where a crash must leave a consistent repository; die there when told to."""
    global _count
    _count += 1
    at = os.environ.get("KRONOS_FAULT_AT")
    if at and int(at) == _count:
        os.write(2, f"kronos: fault injection: SIGKILL at checkpoint {_count} ({label})\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)
