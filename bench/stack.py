"""The real stack with --jobs: wall time against the critical path and the machine bound; a no-op run.

Run as root from the repository root (the base images may exist; they are made once per machine):

    .venv/bin/python -m bench.stack [--jobs 2] [--work /var/tmp/kronos-bench-stack]

1. Cold: no outputs and no build-deps layers (`kronos/deps-*` images removed), then
   `kronos build --jobs N` of the default targets; its wall time.
2. Alone: each (target, recipe) rebuilt by itself (`--only R --rebuild`, its build-deps layer
   removed first, the other outputs kept), one at a time; its wall time.
3. The critical path: the longest chain of alone times along the graph's edges (`kronos graph`);
   the machine bound: the sum of the alone times divided by the cores the jobs can use
   (min(N, cores)). Goal: cold wall <= 1.15 x the larger of the two.
4. A no-op: `kronos build --jobs N` again, nothing changed. Goal: < 2 s.
5. xen through kronos against a plain dpkg-buildpackage -b of the same source in the same build-deps
   layer (bench/xen.py, one round unless --xen-rounds). Goal: <= 1.10.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

from bench import xen as bench_xen
from bench.common import ROOT, BenchError, fmt_s, kronos_executable, log, run_main, tail, timed

PROG = "stack"
GOAL_RATIO = 1.15
GOAL_NOOP = 2.0
DEPS_PREFIX = "kronos/deps-"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="kronos build --jobs (default 2)")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("KRONOS_BENCH_WORK",
                                                                     "/var/tmp/kronos-bench-stack")),
                   help="outputs and logs (default /var/tmp/kronos-bench-stack; env KRONOS_BENCH_WORK)")
    p.add_argument("--xen-rounds", type=int, default=1, help="rounds of bench/xen.py's comparison (default 1;"
                   " 0 skips it)")
    args = p.parse_args()
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    return args


def remove_deps_layers() -> None:
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], check=True,
                         capture_output=True, text=True).stdout.split()
    refs = [r for r in out if r.startswith(DEPS_PREFIX)]
    if refs:
        subprocess.run(["docker", "rmi", "-f", *refs], check=True, stdout=subprocess.DEVNULL)


Graph = dict[str, tuple[list[str], list[tuple[str, str]]]]  # target -> (order, edges from -> to)


def read_graph(kronos: str, env: dict[str, str]) -> Graph:
    """`kronos graph`: '<target>: a b c' lines, each followed by '  x -> y  (why)' edge lines."""
    text = subprocess.run([kronos, "graph"], env=env, cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout
    graph: Graph = {}
    target = ""
    for line in text.splitlines():
        head = re.fullmatch(r"([a-z][a-z0-9.+-]*): (.*)", line)
        edge = re.fullmatch(r"\s+(\S+) -> (\S+)\s.*", line)
        if head:
            target = head.group(1)
            graph[target] = (head.group(2).split(), [])
        elif edge and target:
            graph[target][1].append((edge.group(1), edge.group(2)))
    if not graph:
        raise BenchError(f"kronos graph printed no order:\n{tail(text, 10)}")
    return graph


def critical_path(graph: Graph, alone: dict[tuple[str, str], float]) -> tuple[float, list[str]]:
    """The longest chain of alone times in any target (targets are independent of each other)."""
    best: tuple[float, list[str]] = (0.0, [])
    for target, (order, edges) in graph.items():
        finish: dict[str, tuple[float, list[str]]] = {}
        for node in order:  # dependencies come first in the order
            deps = [finish[to] for frm, to in edges if frm == node and to in finish]
            start = max(deps, default=(0.0, []), key=lambda d: d[0])
            finish[node] = (start[0] + alone[(target, node)], [*start[1], f"{target}/{node}"])
        longest = max(finish.values(), default=(0.0, []), key=lambda f: f[0])
        best = max(best, longest, key=lambda f: f[0])
    return best


def main() -> int:
    args = parse_args()
    kronos = kronos_executable()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    env = {**os.environ, "KRONOS_OUTPUT_DIR": str(work / "out"), "KRONOS_ROOT": str(ROOT)}
    env.pop("KRONOS_TARGETS", None)
    graph = read_graph(kronos, env)

    log(f"cold: no outputs, no build-deps layers; kronos build --jobs {args.jobs}")
    remove_deps_layers()
    wall, rc = timed([kronos, "build", "--jobs", str(args.jobs)], work / "logs" / "cold.log", env=env, cwd=ROOT)
    if rc != 0:
        raise BenchError(f"the cold build failed (exit {rc}); log: {work / 'logs' / 'cold.log'}")

    alone: dict[tuple[str, str], float] = {}
    for target, (order, _) in graph.items():
        for recipe in order:
            log(f"alone: {target}/{recipe}")
            remove_deps_layers()
            logf = work / "logs" / f"alone-{target}-{recipe}.log"
            t, rc = timed([kronos, "build", "--target", target, "--only", recipe, "--rebuild"], logf,
                          env=env, cwd=ROOT)
            if rc != 0:
                raise BenchError(f"{target}/{recipe} alone failed (exit {rc}); log: {logf}")
            alone[(target, recipe)] = t

    log("no-op")
    noop, rc = timed([kronos, "build", "--jobs", str(args.jobs)], work / "logs" / "noop.log", env=env, cwd=ROOT)
    if rc != 0:
        raise BenchError(f"the no-op build failed (exit {rc}); log: {work / 'logs' / 'noop.log'}")

    xen = bench_xen.compare(kronos, env, work, args.xen_rounds) if args.xen_rounds > 0 else None

    cores = min(args.jobs, os.cpu_count() or 1)
    path, chain = critical_path(graph, alone)
    bound = sum(alone.values()) / cores
    ratio = wall / max(path, bound)
    print(f"The real stack, {len(alone)} packages, kronos build --jobs {args.jobs} on {os.cpu_count()} cores;"
          f" load average {os.getloadavg()[0]:.1f} at the end")
    for (target, recipe), t in sorted(alone.items()):
        print(f"  alone  {target + '/' + recipe:32} {fmt_s(t):>8}")
    print(f"  cold wall time                          {fmt_s(wall):>8}")
    print(f"  critical path ({' -> '.join(chain)}) {fmt_s(path)}")
    print(f"  machine bound (sum {fmt_s(sum(alone.values()))} / {cores} cores)     {fmt_s(bound):>8}")
    print(f"  wall / max(critical path, machine bound) = {ratio:.2f}"
          f"  goal <= {GOAL_RATIO}: {'MET' if ratio <= GOAL_RATIO else 'MISSED'}")
    print(f"  no-op run {noop:.2f}s  goal < {GOAL_NOOP:.0f}s: {'MET' if noop < GOAL_NOOP else 'MISSED'}")
    if xen is not None:
        bench_xen.report(xen)
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
