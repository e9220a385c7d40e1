"""build_overhead's report: medians, the ratio kronos/sbuild against the goal, and both sides' phases."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bench.build_kronos import KronosRun
from bench.build_sbuild import SbuildRun
from bench.common import fmt_s

GOAL = 0.6  # kronos/sbuild, ratio of the medians


class Phased(Protocol):
    @property
    def phases(self) -> dict[str, float]: ...


def median_of(runs: Sequence[Phased], key: str) -> float | None:
    """The median of a phase, when every run has it."""
    vals = [r.phases[key] for r in runs if key in r.phases]
    return statistics.median(vals) if len(vals) == len(runs) and vals else None


def report(recipe: str, target: str, dsc_name: str, k_runs: list[KronosRun], s_runs: list[SbuildRun],
           total: float, work: Path) -> bool:
    """Print the report; whether the goal is met."""
    km = statistics.median(r.wall for r in k_runs)
    sm = statistics.median(r.wall for r in s_runs)
    kmin = min(r.wall for r in k_runs)
    smin = min(r.wall for r in s_runs)
    ratio = km / sm
    ok = ratio <= GOAL
    w = 34
    print()
    print(f"warm rebuild of {recipe} for {target} ({dsc_name}), {len(k_runs)} measured runs each")
    print(f"{'':{w}} {'median':>8} {'min':>8}   runs")
    print(f"{'kronos build --rebuild':{w}} {fmt_s(km):>8} {fmt_s(kmin):>8}   "
          + " ".join(fmt_s(r.wall) for r in k_runs))
    print(f"{'sbuild --chroot-mode=unshare':{w}} {fmt_s(sm):>8} {fmt_s(smin):>8}   "
          + " ".join(fmt_s(r.wall) for r in s_runs))
    print(f"{'ratio kronos/sbuild':{w}} {ratio:>8.2f} {kmin / smin:>8.2f}")
    print(f"goal: ratio <= {GOAL}: {'met' if ok else 'NOT met'} (ratio of the medians)")
    print(f"load average 1/5/15 min at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
          f" on {os.cpu_count()} CPUs (other work on the machine makes the figures noisy)")
    print()
    print("kronos phases (medians; from its 'done ... (Ns)' lines):")
    rows: list[tuple[str, float | None]] = []
    tgt = median_of(k_runs, "target")
    rec = median_of(k_runs, "recipe")
    bld = median_of(k_runs, "build")
    if tgt is not None:
        rows.append(("process start/exit, outside 'Target'", statistics.median(
            r.wall - r.phases["target"] for r in k_runs)))
    if tgt is not None and rec is not None:
        rows.append(("target: image check, indices, other recipes", statistics.median(
            r.phases["target"] - r.phases["recipe"] for r in k_runs)))
    if rec is not None and bld is not None:
        rows.append((f"{recipe}: source package, deps layer lookup, copy-out", statistics.median(
            r.phases["recipe"] - r.phases["build"] - r.phases.get("deps", 0.0) for r in k_runs)))
    deps = [r.phases.get("deps") for r in k_runs]
    if any(d is not None for d in deps):
        rows.append(("installing build deps (layer not cached!)", statistics.median(d or 0.0 for d in deps)))
    if bld is not None:
        rows.append(("build container (no network)", bld))
    lw = max([w + 20, *(len(label) for label, _ in rows)])
    for label, val in rows:
        print(f"  {label:{lw}} {fmt_s(val) if val is not None else '?':>8}")
    cached = sum(r.deps_cached for r in k_runs)
    print(f"  build-deps layer up to date in {cached}/{len(k_runs)} measured runs")
    extra = sorted({b for r in k_runs for b in r.built if b != recipe})
    if extra:
        print(f"  WARNING: measured runs also rebuilt {', '.join(extra)} (inputs changed meanwhile?)")

    print()
    print("sbuild phases (medians; from the .build summary, whole seconds):")
    inst, sbld, pkg = (median_of(s_runs, k) for k in ("install", "build", "package"))
    if pkg is not None:
        print(f"  {'chroot unpack/teardown, outside Package-Time':{lw}} {fmt_s(sm - pkg):>8}")
        print(f"  {'Package-Time (update, deps, build, ...)':{lw}} {fmt_s(pkg):>8}")
    if inst is not None:
        print(f"  {'  Install-Time (build deps)':{lw}} {fmt_s(inst):>8}")
    if sbld is not None:
        print(f"  {'  Build-Time (dpkg-buildpackage)':{lw}} {fmt_s(sbld):>8}")
    titles = list(dict.fromkeys(t for r in s_runs for t in r.sections))
    if titles:
        print("sbuild log sections (medians; timed by when each header appears in the log):")
        for t in titles:
            vals = [r.sections.get(t, 0.0) for r in s_runs]
            print(f"  {t:{lw}} {fmt_s(statistics.median(vals)):>8}")
    print()
    print(f"logs: {work}")
    print(f"whole script: {fmt_s(total)}")
    return ok
