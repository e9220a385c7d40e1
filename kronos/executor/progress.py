"""Progress of a run: on a terminal one live line per running job (elapsed, the last line of its
log); otherwise (CI) plain timestamped lines; with verbose, every job's log streamed as it grows."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .base import Listener, Result, Status

LogFinder = Callable[[str, float], "Path | None"]  # (job, wall time it started) -> its log, once known
POLL = 0.5  # seconds between looks at the running jobs' logs


def last_line(path: Path | None, limit: int = 4096) -> str:
    """The last non-empty line of a log (read from its end only)."""
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.replace("\r", "\n").splitlines() if ln.strip()]
    return "".join(ch for ch in lines[-1] if ch.isprintable()) if lines else ""


class _Running:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.wall = time.time()
        self.log: Path | None = None
        self.offset = 0


class Progress(Listener):
    """The listener of a run; use it as a context manager around Executor.run()."""

    def __init__(self, console: Console, find_log: LogFinder, verbose: bool = False,
                 live: bool | None = None) -> None:
        self.console = console
        self.find_log = find_log
        self.verbose = verbose
        self.live = console.is_terminal and not verbose if live is None else live
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._stop = threading.Event()

    def _line(self, text: str) -> None:
        stamp = "" if self.live else time.strftime("%H:%M:%S ")
        self.console.print(f"{stamp}{text}", markup=False)

    def started(self, job: str) -> None:
        with self._lock:
            self._running[job] = _Running()
        self._line(f"started {job}")

    def finished(self, result: Result) -> None:
        with self._lock:
            running = self._running.pop(result.job, None)
        if running is not None and self.verbose:
            self._stream(result.job, running)
        if result.status is Status.SKIPPED:
            self._line(f"{result.job} {result.reason}")
        else:
            self._line(f"{result.status.value} {result.job} ({result.seconds:.1f}s)")

    def _log(self, job: str, running: _Running) -> Path | None:
        if running.log is None:
            running.log = self.find_log(job, running.wall)
        return running.log

    def _stream(self, job: str, running: _Running) -> None:
        """Print what job's log gained since the last look."""
        path = self._log(job, running)
        if path is None:
            return
        try:
            with path.open("rb") as f:
                f.seek(running.offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # whole lines only; the rest comes with the next look
        running.offset += end
        for line in data[:end].decode(errors="replace").splitlines():
            self.console.print(f"[{job}] | {line}", markup=False)

    def _poll(self) -> None:
        while not self._stop.wait(POLL):
            with self._lock:
                jobs = list(self._running.items())
            for job, running in jobs:
                if self.verbose:
                    self._stream(job, running)
                else:
                    self._log(job, running)

    def render(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=max(20, self.console.width - 40))
        with self._lock:
            jobs = list(self._running.items())
        now = time.monotonic()
        for job, running in jobs:
            grid.add_row(Text(job, style="bold"), f"{now - running.start:5.0f}s",
                         Text(last_line(running.log), style="dim"))
        return grid

    @contextlib.contextmanager
    def shown(self) -> Iterator[Progress]:
        """Show progress while the block runs (the live display, the log poller)."""
        poller = threading.Thread(target=self._poll, name="kronos-progress", daemon=True)
        poller.start()
        try:
            if self.live:
                with Live(get_renderable=self.render, console=self.console, refresh_per_second=4,
                          transient=True):
                    yield self
            else:
                yield self
        finally:
            self._stop.set()
            poller.join()
