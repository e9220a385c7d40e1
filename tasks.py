"""invoke entry point: the task collection lives in kronos.cli."""

from kronos.cli import ns

__all__ = ["ns"]
