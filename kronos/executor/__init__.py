"""Running a graph of jobs: the interface (base.py) and its implementations, registered by name."""

from __future__ import annotations

from .base import Executor, Job, Listener, Result, Status, get_executor, register
from .local import LocalExecutor

register("local", LocalExecutor)

__all__ = ["Executor", "Job", "Listener", "LocalExecutor", "Result", "Status", "get_executor", "register"]
