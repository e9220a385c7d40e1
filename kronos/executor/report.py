"""The end of a run: one table per target — built / up to date / failed / skipped, version, time, log."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from ..errors import BuildError


class State(enum.StrEnum):
    BUILT = "built"
    UP_TO_DATE = "up to date"
    FAILED = "failed"
    SKIPPED = "skipped"


STYLE = {State.BUILT: "green", State.UP_TO_DATE: "", State.FAILED: "bold red", State.SKIPPED: "yellow"}


@dataclass(frozen=True)
class Row:
    target: str
    recipe: str
    state: State
    version: str = ""
    seconds: float = 0.0
    log: str = ""
    reason: str = ""  # failed: the error line; skipped: "skipped: <dependency> failed"
    error: Exception | None = field(default=None, compare=False, repr=False)  # failed: what was raised
    started: float = 0.0  # wall clock when the job began (0: it did not run)
    worker: str = ""  # the worker that built it (remote runners)
    lost: tuple[str, ...] = ()  # workers lost mid-build before `worker` built it


def tables(rows: Sequence[Row]) -> list[Table]:
    out: list[Table] = []
    for target in dict.fromkeys(r.target for r in rows):
        table = Table(title=target, title_justify="left", box=None, pad_edge=False)
        remote = any(r.worker for r in rows if r.target == target)
        for column in ("recipe", "result", "version", "time", *(("worker",) if remote else ()), "log"):
            table.add_column(column, justify="right" if column == "time" else "left",
                             overflow="fold")
        for r in rows:
            if r.target != target:
                continue
            result = r.reason if r.state is State.SKIPPED else r.state.value
            took = f"{r.seconds:.1f}s" if r.state is not State.SKIPPED else ""
            table.add_row(r.recipe, f"[{STYLE[r.state]}]{result}[/]" if STYLE[r.state] else result,
                          r.version, took, *((r.worker,) if remote else ()), r.log)
        out.append(table)
    return out


def show(console: Console, rows: Sequence[Row]) -> None:
    """Print the tables, then each failure's own line (it names its log)."""
    for table in tables(rows):
        console.print(table)
    for r in rows:
        if r.state is State.FAILED:
            console.print(f"{r.target}/{r.recipe}: {r.reason}", markup=False)
        if r.lost:
            console.print(f"{r.target}/{r.recipe}: built on {r.worker} after worker{'s' * (len(r.lost) > 1)}"
                          f" {', '.join(r.lost)} {'were' if len(r.lost) > 1 else 'was'} lost mid-build", markup=False)
    counts = {s: sum(r.state is s for r in rows) for s in State}
    console.print(", ".join(f"{n} {s.value}" for s, n in counts.items()), markup=False)


def failure_line(rows: Sequence[Row]) -> str | None:
    """The summary of a run in which something failed, or None."""
    failed = sum(r.state is State.FAILED for r in rows)
    skipped = sum(r.state is State.SKIPPED for r in rows)
    if not failed:
        return None
    return f"{failed} failed, {skipped} skipped; see the table above"


def failure(rows: Sequence[Row]) -> Exception | None:
    """What a run that failed raises: a single failure's own error (its line, its exit code, its
    traceback under --debug), else one BuildError that sums the run up; None when nothing failed."""
    failed = [r for r in rows if r.state is State.FAILED]
    line = failure_line(rows)
    if not failed or line is None:
        return None
    if len(failed) == 1 and failed[0].error is not None:
        return failed[0].error
    error = BuildError(line)
    error.__cause__ = failed[0].error
    return error
