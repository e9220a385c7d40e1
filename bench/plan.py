"""`kronos plan`'s closure against one dose-builddebcheck pass over the same files, in the same run.

Run from the repository root (the indices are fetched through the signed chain into the cache):

    .venv/bin/python -m bench.plan [--target bookworm] [--from sid] [NAME ...]

1. The closure, in-process: loading the indices (the target's Packages and Sources, the --from
   suites', modelled; warm: from the cache) and solving (the libsolv worker: growing, minimizing,
   transitions, reachability from its cache), each timed.
2. One `dose-builddebcheck` pass of every source of the first --from suite's Sources against the
   target's Packages (suite, pockets, extra suites), the anchor of issue 16.
3. The ratio closure / dose pass (goal: < 1) and where the closure's time went.
"""

from __future__ import annotations

import argparse
import time

from bench.common import ROOT, BenchError, fmt_s, log, run_main
from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.plan import closure, rules
from kronos.plan.indices import load_indices
from kronos.run import run

PROG = "plan"
NAMES = ["ocaml-dune (>= 3.20)", "libpsq-ocaml-dev", "libtar-ocaml-dev", "libmirage-crypto-ocaml-dev (>= 0.11)"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.plan", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="bookworm")
    p.add_argument("--from", dest="froms", default="sid", help="comma-separated suites (default sid)")
    p.add_argument("names", nargs="*", default=NAMES)
    return p.parse_args()


def main() -> int:
    args = parse_args()
    settings = load_settings(ROOT)
    plan_rules = rules.load_rules(ROOT)
    target = settings.target(args.target)
    froms = [s for s in args.froms.split(",") if s]
    start = time.perf_counter()
    idx = load_indices(settings, Archives(settings, Cache(settings.cache_dir)), target, froms, plan_rules.model)
    idx.repos()  # the modelled indices (made once, then cached)
    loaded = time.perf_counter()
    c = closure.compute(idx, plan_rules, args.names)
    solved = time.perf_counter()
    log(f"closure: {len(c.members)} members")
    packages = [str(i.path) for s in (*idx.own, *idx.extra) for i in s.packages]
    sources = [str(i.path) for i in idx.froms[0].sources]
    if len(sources) != 1:
        raise BenchError(f"{froms[0]} has {len(sources)} Sources indices; the pass takes one")
    dose_start = time.perf_counter()
    proc = run(["dose-builddebcheck", f"--deb-native-arch={settings.architecture}", "--deb-profiles=nocheck,nodoc",
                "--quiet", "--summary", *packages, *sources], check=False)
    dose = time.perf_counter() - dose_start
    if proc.returncode not in (0, 1):
        raise BenchError(f"dose-builddebcheck failed (exit {proc.returncode})")
    total = solved - start
    print(f"closure of {', '.join(args.names)} on {args.target} from {args.froms}: {len(c.members)} members"
          f" ({', '.join(sorted(m.source for m in c.members.values()))})")
    print(f"kronos plan: {fmt_s(total)} (loading indices {fmt_s(loaded - start)}, solving {fmt_s(solved - loaded)})")
    print(f"one dose-builddebcheck pass ({froms[0]} Sources against {args.target}'s Packages): {fmt_s(dose)}")
    print(f"ratio closure / dose pass: {total / dose:.2f} (goal < 1)")
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
