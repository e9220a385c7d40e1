"""The real stack on the local executor and on Dask workers, in one run; the wall time modelled for more workers.

Run as root from the repository root (makes the base images first if they are missing):

    .venv/bin/python -m bench.distributed [--jobs 2] [--workers 2] [--work /var/tmp/kronos-bench-distributed]

1. Local, cold: no outputs and no build-deps layers; `kronos build --jobs N`; its wall time.
2. Dask, cold: a `kronos scheduler` and W `kronos worker`s on this machine (one build slot each), each with
   a dockerd of its own that starts empty (the base images are shipped to it by content, its build-deps
   layers are made in it); `kronos build --jobs N --executor dask`; its wall time. Then again with the
   workers' base images kept (their build-deps layers and the outputs removed): the state the local run
   starts from, and a worker's state after its first run. Overhead ratios: each Dask wall / the local
   one (goal <= 1.05 for the second). Every run must give every package the same key and version.
3. Alone: each package rebuilt by itself on the local executor (its build-deps layer removed first).
4. From the alone times and the graph: the critical path, the machine bound (sum / min(N, cores)) and the
   stack ratio cold local wall / max(critical path, machine bound) (bench/stack.py's measure, goal
   1.10 with the CPU shares); and the wall time a critical-path-first schedule gives with 1, 2, 4 and 8
   workers of this machine's size (one build at a time each), against the critical path.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT, BenchError, fmt_s, kronos_executable, log, run_main, timed
from bench.stack import Graph, critical_path, read_graph, remove_deps_layers
from tests.integration.cluster import cluster

PROG = "distributed"
GOAL_OVERHEAD = 1.05
GOAL_STACK = 1.10
MODELLED = (1, 2, 4, 8)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="kronos build --jobs for both runs (default 2)")
    p.add_argument("--workers", type=int, default=2, help="kronos workers on this machine (default 2)")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("KRONOS_BENCH_WORK",
                                                                     "/var/tmp/kronos-bench-distributed")),
                   help="outputs and logs (default /var/tmp/kronos-bench-distributed; env KRONOS_BENCH_WORK)")
    p.add_argument("--no-alone", action="store_true", help="skip phase 3 (no model, no stack ratio)")
    p.add_argument("--images-kept-only", action="store_true",
                   help="phase 2 with the workers' images loaded beforehand (docker save | load, not timed):"
                        " no run with empty workers")
    args = p.parse_args()
    if args.jobs < 1 or args.workers < 1:
        p.error("--jobs and --workers must be at least 1")
    return args


def records(out: Path) -> dict[tuple[str, str], dict[str, object]]:
    found = {}
    for path in out.glob("*/*/build.json"):
        found[(path.parent.parent.name, path.parent.name)] = json.loads(path.read_text())
    return found


def simulate(graph: Graph, seconds: dict[tuple[str, str], float], workers: int) -> float:
    """The wall time of the whole graph on `workers` single-slot workers, critical path first."""
    jobs = {(t, r) for t, (order, _) in graph.items() for r in order}
    after = {j: {(j[0], to) for frm, to in graph[j[0]][1] if frm == j[1]} for j in jobs}
    dependents: dict[tuple[str, str], list[tuple[str, str]]] = {j: [] for j in jobs}
    for j, deps in after.items():
        for d in deps:
            dependents[d].append(j)
    height: dict[tuple[str, str], float] = {}

    def h(j: tuple[str, str]) -> float:
        if j not in height:
            height[j] = seconds[j] + max((h(d) for d in dependents[j]), default=0.0)
        return height[j]

    waiting = {j: set(d) for j, d in after.items()}
    running: list[tuple[float, tuple[str, str]]] = []
    now, free = 0.0, workers
    done: set[tuple[str, str]] = set()
    while len(done) < len(jobs):
        ready = sorted((j for j, w in waiting.items() if not w), key=lambda j: -h(j))
        for j in ready[:free]:
            del waiting[j]
            heapq.heappush(running, (now + seconds[j], j))
            free -= 1
        now, j = heapq.heappop(running)
        free += 1
        done.add(j)
        for d in dependents[j]:
            waiting[d].discard(j)
    return now


def main() -> int:
    args = parse_args()
    kronos = kronos_executable()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    env = {**os.environ, "KRONOS_ROOT": str(ROOT)}
    env.pop("KRONOS_TARGETS", None)
    graph = read_graph(kronos, env)
    log("base images (made once, not timed)")
    _, rc = timed([kronos, "images"], work / "logs" / "images.log", env=env, cwd=ROOT)
    if rc != 0:
        raise BenchError(f"kronos images failed (exit {rc}); log: {work / 'logs' / 'images.log'}")

    log(f"local, cold: kronos build --jobs {args.jobs}")
    remove_deps_layers()
    local_env = {**env, "KRONOS_OUTPUT_DIR": str(work / "out-local")}
    local, rc = timed([kronos, "build", "--jobs", str(args.jobs)], work / "logs" / "local.log", env=local_env, cwd=ROOT)
    if rc != 0:
        raise BenchError(f"the local build failed (exit {rc}); log: {work / 'logs' / 'local.log'}")

    names = tuple(f"w{n + 1}" for n in range(args.workers))
    log(f"dask, cold: {len(names)} workers, each with an empty dockerd; kronos build --jobs {args.jobs}"
        " --executor dask")
    walls: dict[str, float] = {}
    runs = ("dask-warm",) if args.images_kept_only else ("dask", "dask-warm")
    with cluster(ROOT, Path(kronos), env, work / "logs", names) as c:
        if args.images_kept_only:
            log("loading the base images into the workers' engines (not timed)")
            for ref in [r for r in subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                                                  check=True, capture_output=True, text=True).stdout.split()
                        if r.startswith("kronos/base-")]:
                for engine in c.engines.values():
                    subprocess.run(f"docker save {ref} | docker -H {engine.host} load", shell=True, check=True,
                                   stdout=subprocess.DEVNULL)
        for run in runs:
            if run == "dask-warm":
                log("dask again: the workers keep their base images; their build-deps layers go")
                for engine in c.engines.values():
                    layers = [r for r in engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
                              if r.startswith("kronos/deps-")]
                    if layers:
                        engine.docker("rmi", "-f", *layers)
            run_env = {**env, "KRONOS_OUTPUT_DIR": str(work / f"out-{run}")}
            walls[run], rc = timed([kronos, "build", "--jobs", str(args.jobs), "--executor", "dask", "--scheduler",
                                    c.address], work / "logs" / f"{run}.log", env=run_env, cwd=ROOT)
            if rc != 0:
                raise BenchError(f"the Dask build failed (exit {rc}); log: {work / 'logs' / f'{run}.log'}")
    here = records(work / "out-local")
    for run in walls:
        there = records(work / f"out-{run}")
        differ = [f"{t}/{r}" for (t, r), rec in here.items()
                  if (rec.get("key"), rec.get("version")) != (there.get((t, r), {}).get("key"),
                                                              there.get((t, r), {}).get("version"))]
        if differ or set(here) != set(there):
            raise BenchError(f"keys or versions differ between the local and the {run} build: {', '.join(differ)}")
    warm = records(work / "out-dask-warm")
    there = records(work / "out-dask") if "dask" in walls else {}
    by = {}
    for job, rec in warm.items():
        who = rec.get("built-by")
        by[job] = str(who.get("name")) if isinstance(who, dict) else "?"

    print(f"The real stack, {len(here)} packages, --jobs {args.jobs}, on {os.cpu_count()} cores")
    for job in sorted(here):
        print(f"  {job[0] + '/' + job[1]:32} local {fmt_s(float(str(here[job]['seconds']))):>8}"
              + (f"   dask, empty workers {fmt_s(float(str(there[job]['seconds']))):>8}" if there else "")
              + f"   dask, images kept {fmt_s(float(str(warm[job]['seconds']))):>8} on {by[job]}")
    print(f"  cold wall (no outputs, no build-deps layers): local {fmt_s(local)}")
    for run, what in (("dask", "workers with empty engines (images shipped)"),
                      ("dask-warm", "workers that kept their images")):
        if run not in walls:
            continue
        ratio = walls[run] / local
        print(f"  dask, {len(names)} {what}: {fmt_s(walls[run])}; overhead ratio {ratio:.3f}"
              f"  goal <= {GOAL_OVERHEAD}: {'MET' if ratio <= GOAL_OVERHEAD else 'MISSED'}")
    print("  (the same keys and versions in every run)")
    if args.no_alone:
        return 0

    alone: dict[tuple[str, str], float] = {}
    for target, (order, _) in graph.items():
        for recipe in order:
            log(f"alone: {target}/{recipe}")
            remove_deps_layers()
            logf = work / "logs" / f"alone-{target}-{recipe}.log"
            t, rc = timed([kronos, "build", "--target", target, "--only", recipe, "--rebuild"], logf,
                          env=local_env, cwd=ROOT)
            if rc != 0:
                raise BenchError(f"{target}/{recipe} alone failed (exit {rc}); log: {logf}")
            alone[(target, recipe)] = t
    cores = min(args.jobs, os.cpu_count() or 1)
    path, chain = critical_path(graph, alone)
    bound = sum(alone.values()) / cores
    stack = local / max(path, bound)
    print(f"  alone: {', '.join(f'{t}/{r} {fmt_s(s)}' for (t, r), s in sorted(alone.items()))}")
    print(f"  critical path ({' -> '.join(chain)}) {fmt_s(path)}; machine bound (sum"
          f" {fmt_s(sum(alone.values()))} / {cores}) {fmt_s(bound)}")
    print(f"  stack ratio: local cold wall / max(critical path, machine bound) = {stack:.2f}"
          f"  goal <= {GOAL_STACK}: {'MET' if stack <= GOAL_STACK else 'MISSED'}")
    print("  modelled (alone times, critical path first, one build at a time per worker):")
    for n in MODELLED:
        wall = simulate(graph, alone, n)
        print(f"    {n} worker{'s' * (n > 1)}: {fmt_s(wall):>8}  = {wall / path:.2f} x the critical path")
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
