"""The nightly's cost: a no-op build, a nightly in which nothing changed, and a nightly after one recipe
changed, with where the time goes (each stage's seconds, from the night's report.json).

Run as root in a checkout where `make run` (or a nightly) has built and published the default targets:

    .venv/bin/python -m bench.nightly [--root DIR] [--jobs 2] [--runs 5] [--change python3-xenapi]

1. No-op build: `kronos build --jobs N`, --runs times; the median. Goal: under 1 s. Run with Python's
   bytecode cache allowed (PYTHONDONTWRITEBYTECODE unset), as an installed kronos runs: without it every
   run compiles kronos's 120 modules again (about 0.1 s).
2. A nightly that settles (whatever is not yet judged or staged), then a nightly in which nothing changed:
   its wall time and stages. Goal: under 30 s, the index refresh included.
3. One recipe changed (a patch that adds a file to its tree, in patches/<recipe>/common): a nightly; its
   wall time and stages. Then the patch is removed and a last nightly restores the earlier builds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench.common import BenchError, fmt_s, kronos_executable, log, run_main, tail, timed

PROG = "nightly"
GOAL_NOOP = 1.0
GOAL_NIGHT = 30.0
PATCH = "bench-nightly-change.patch"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.nightly", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout (default: the current directory)")
    p.add_argument("--jobs", type=int, default=2, help="--jobs of kronos build and nightly (default 2)")
    p.add_argument("--runs", type=int, default=5, help="no-op builds to take the median of (default 5)")
    p.add_argument("--change", default="python3-xenapi", help="the recipe to change (default python3-xenapi)")
    p.add_argument("--no-op-only", action="store_true", help="only the no-op builds (seconds, not half an hour)")
    return p.parse_args()


def last_report(root: Path) -> dict[str, Any]:
    home = root / "out" / "nightly"
    runs = sorted(p for p in home.iterdir() if (p / "report.json").is_file()) if home.is_dir() else []
    if not runs:
        raise BenchError(f"no night record under {home}")
    data: dict[str, Any] = json.loads((runs[-1] / "report.json").read_text())
    return data


def night(root: Path, jobs: int, what: str, logs: Path) -> tuple[float, dict[str, Any]]:
    seconds, rc = timed([kronos_executable(), "nightly", "--jobs", str(jobs)], logs / f"{what}.log", cwd=root)
    if rc not in (0, 1):
        raise BenchError(f"kronos nightly ({what}) exited {rc}:\n{tail((logs / f'{what}.log').read_text(), 20)}")
    report = last_report(root)
    stages = ", ".join(f"{s['name']} {fmt_s(s['seconds'])}" for s in report["stages"])
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["counts"].items()))
    print(f"{what}: {fmt_s(seconds)} wall, exit {rc} ({report['result']}); stages: {stages}; {counts}")
    return seconds, report


def main() -> int:
    args = parse_args()
    root = args.root.resolve()
    logs = root / "out" / "bench-nightly"
    logs.mkdir(parents=True, exist_ok=True)
    if not (root / "recipes" / args.change).is_dir():
        raise BenchError(f"no recipe {args.change} in {root / 'recipes'}")
    kronos = kronos_executable()

    log(f"no-op builds ({args.runs}, after one that settles)")
    bytecode = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for i in range(-1, args.runs):
        seconds, rc = timed([kronos, "build", "--jobs", str(args.jobs)], logs / f"noop-{i}.log", env=bytecode,
                            cwd=root)
        if rc != 0:
            raise BenchError(f"kronos build exited {rc}: {tail((logs / f'noop-{i}.log').read_text(), 5)}")
        if i >= 0:
            times.append(seconds)
    noop = statistics.median(times)
    print(f"no-op build: median {noop:.2f}s of {args.runs} ({', '.join(f'{t:.2f}' for t in times)});"
          f" goal < {GOAL_NOOP:.0f}s: {'met' if noop < GOAL_NOOP else 'NOT met'}")
    if args.no_op_only:
        return 0

    log("a nightly that settles, then one in which nothing changed")
    night(root, args.jobs, "settle", logs)
    quiet, _ = night(root, args.jobs, "no-change", logs)
    print(f"no-change nightly: {fmt_s(quiet)}; goal < {GOAL_NIGHT:.0f}s: {'met' if quiet < GOAL_NIGHT else 'NOT met'}")

    patches = root / "patches" / args.change / "common"
    created = not patches.exists()
    patches.mkdir(parents=True, exist_ok=True)
    series = patches / "series"
    before = series.read_text() if series.exists() else None
    try:
        (patches / PATCH).write_text("--- /dev/null\n+++ b/BENCH-NIGHTLY\n@@ -0,0 +1 @@\n+a change for bench.nightly\n")
        series.write_text((before or "") + f"{PATCH}\n")
        log(f"{args.change} changed: a nightly")
        night(root, args.jobs, "one-changed", logs)
    finally:
        (patches / PATCH).unlink(missing_ok=True)
        if before is None:
            series.unlink(missing_ok=True)
        else:
            series.write_text(before)
        if created:
            shutil.rmtree(root / "patches" / args.change, ignore_errors=True)
    log("the change undone: a nightly (the earlier builds come back from out/.builds)")
    night(root, args.jobs, "undone", logs)
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
