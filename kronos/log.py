"""One logger and one timed, nested step() for progress; safe to use from concurrent jobs.

Every line goes through one rich console (which serializes writes, and keeps a live progress display
below them); a job's lines carry its name (`job()`), and each thread nests its own steps."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape

console = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("kronos")
_local = threading.local()  # depth: the nesting of step()s; tag: the job this thread runs


class _ConsoleHandler(logging.Handler):
    """Log records as plain lines on the console (so they never tear a live display)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            console.print(self.format(record), markup=False)
        except Exception:  # logging must not raise
            self.handleError(record)


def setup(verbose: bool = False) -> None:
    """Send kronos log records to stderr (once)."""
    if not log.handlers:
        handler = _ConsoleHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def _depth() -> int:
    return getattr(_local, "depth", 0)


def indent() -> str:
    """What starts a line here: the job's tag when a job runs, then two spaces per open step."""
    tag = getattr(_local, "tag", "")
    return f"[{tag}] " * bool(tag) + "  " * _depth()


@contextlib.contextmanager
def job(tag: str) -> Iterator[None]:
    """Mark the lines this thread prints while the block runs as the job `tag`'s."""
    saved = getattr(_local, "tag", ""), _depth()
    _local.tag, _local.depth = tag, 0
    try:
        yield
    finally:
        _local.tag, _local.depth = saved


def info(msg: str) -> None:
    console.print(f"{indent()}{msg}", markup=False)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Print `title`, indent what happens inside, print the elapsed time at the end."""
    console.print(f"{escape(indent())}[bold]‣ {title}[/bold]")
    start = time.monotonic()
    _local.depth = _depth() + 1
    ok = False
    try:
        yield
        ok = True
    finally:
        _local.depth = _depth() - 1
        took = time.monotonic() - start
        mark = "[green]done[/green]" if ok else "[red]failed[/red]"
        console.print(f"{escape(indent())}  {mark} {title} ({took:.1f}s)")
