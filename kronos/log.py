"""One logger and one timed, nested step() for progress."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator

from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("kronos")
_depth = 0


def setup(verbose: bool = False) -> None:
    """Send kronos log records to stderr (once)."""
    if log.handlers:
        log.setLevel(logging.DEBUG if verbose else logging.INFO)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def indent() -> str:
    return "  " * _depth


def info(msg: str) -> None:
    console.print(f"{indent()}{msg}", markup=False)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Print `title`, indent what happens inside, print the elapsed time at the end."""
    global _depth
    console.print(f"{indent()}[bold]‣ {title}[/bold]")
    start = time.monotonic()
    _depth += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        _depth -= 1
        took = time.monotonic() - start
        mark = "[green]done[/green]" if ok else "[red]failed[/red]"
        console.print(f"{indent()}  {mark} {title} ({took:.1f}s)")
