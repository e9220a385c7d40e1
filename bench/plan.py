"""`kronos plan`'s closures against dose, on the real indices, in the same run.

Run from the repository root (the indices are fetched through the signed chain into the cache):

    .venv/bin/python -m bench.plan [--target bookworm] [--from trixie] [--seed 2026] [--sample 30] [--needing 5]

1. The payload query: the stack's chain (bookworm from trixie then sid, as tests/integration/test_plan.py
   asks it), timed: loading the indices (modelled; warm: from the cache) and solving.
2. A seeded sample of --from sources newer than the target's (kronos.plan.truth): `unchanged` ones
   that dose-builddebcheck, run on their real Sources stanzas against the target's real Packages,
   says build as they are and whose real debian/control's hand-written Depends the target satisfies
   (dose-distcheck) — each closure must be that source alone; `needing` ones dose says lack a build
   dependency the --from suite has — each closure must build it. Each closure is timed and checked.
3. One dose-builddebcheck pass of every source of the --from suite against the target's Packages.
4. The ratios: the payload closure / the dose pass, each sampled closure / the dose pass (goal < 1).
Exit 1 when a sampled closure disagrees.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, BenchError, fmt_s, log, run_main
from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.plan import closure, rules, truth
from kronos.plan.indices import load_indices
from kronos.run import run

PROG = "plan"
PAYLOAD = ["ocaml-dune (>= 3.17)", "libsexplib0-ocaml-dev (>= 0.17)", "libqcheck-ocaml-dev (>= 0.91)"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.plan", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="bookworm")
    p.add_argument("--from", dest="frm", default="trixie", help="the suite sampled (default trixie)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--sample", type=int, default=30, help="sources that build unchanged (default 30)")
    p.add_argument("--needing", type=int, default=5, help="sources that need a newer build dependency")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    settings = load_settings(ROOT)
    plan_rules = rules.load_rules(ROOT)
    archives = Archives(settings, Cache(settings.cache_dir))
    target = settings.target(args.target)
    start = time.perf_counter()
    idx = load_indices(settings, archives, target, ["trixie", "sid"], plan_rules.model)
    idx.repos()
    loaded = time.perf_counter()
    payload = closure.compute(idx, plan_rules, PAYLOAD)
    solved = time.perf_counter()
    idx = load_indices(settings, archives, target, [args.frm], plan_rules.model)
    idx.repos()
    with tempfile.TemporaryDirectory(prefix="kronos-bench-plan-") as tmp:
        sample_start = time.perf_counter()
        found = truth.sample(idx, args.seed, args.sample, args.needing, Path(tmp), plan_rules.profiles)
        sampled = time.perf_counter() - sample_start
    rows = []
    for s in [*found.unchanged, *found.needing]:
        t0 = time.perf_counter()
        c = closure.compute(idx, plan_rules, [s.wanted], check_reach=False)
        took = time.perf_counter() - t0
        rows.append((s, len(c.members), took, truth.disagreement(c, s), c.assumptions))
        log(f"{s.source}: {len(c.members)} member(s) in {fmt_s(took)}")
    packages = [str(p) for p in truth.target_packages(idx)]
    sources = [str(i.path) for i in idx.froms[0].sources]
    dose_start = time.perf_counter()
    proc = run(["dose-builddebcheck", f"--deb-native-arch={settings.architecture}", "--deb-profiles=nocheck,nodoc",
                "--quiet", "--summary", *packages, *sources], check=False)
    dose = time.perf_counter() - dose_start
    if proc.returncode not in (0, 1):
        raise BenchError(f"dose-builddebcheck failed (exit {proc.returncode})")

    print(f"payload query on {args.target} from trixie,sid: {len(payload.members)} members "
          f"({', '.join(sorted(m.source for m in payload.members.values()))})")
    print(f"  kronos plan: {fmt_s(solved - start)} (loading indices {fmt_s(loaded - start)}, "
          f"solving {fmt_s(solved - loaded)})")
    print(f"sample of {args.frm} (seed {args.seed}), drawn in {fmt_s(sampled)}; passed over: "
          + ", ".join(f"{why}: {n}" for why, n in sorted(found.skipped.items())))
    for s, size, took, wrong, assumed in rows:
        kind = f"needs {', '.join(s.needs)}" if s.needs else "builds unchanged"
        print(f"  {s.source} {s.version} [{kind}] want {s.wanted}: {size} member(s), {fmt_s(took)}"
              + (f"  DISAGREES: {wrong}" if wrong else "  agrees")
              + (f"  ({len(assumed)} assumption(s))" if assumed else ""))
    times = [r[2] for r in rows]
    print(f"one dose-builddebcheck pass ({args.frm} Sources against {args.target}'s Packages): {fmt_s(dose)}")
    print(f"ratio payload closure / dose pass: {(solved - start) / dose:.2f} (goal < 1)")
    if times:
        print(f"ratio sampled closure / dose pass: median {statistics.median(times) / dose:.3f}, "
              f"max {max(times) / dose:.3f} (goal < 1)")
    bad = [r for r in rows if r[3]]
    print(f"{len(rows) - len(bad)} of {len(rows)} sampled closures agree with dose")
    return 1 if bad else 0


if __name__ == "__main__":
    run_main(PROG, main)
