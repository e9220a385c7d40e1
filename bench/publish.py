"""Benchmark: publishing and signing an apt repository of N (2,000) .debs with kronos, reprepro and aptly.

    .venv/bin/python -m bench.publish [--work DIR] [--count 2000] [--runs 3] [--tools kronos,reprepro,aptly]
                                      [--no-profile] [--json FILE]      # from the repository root

1. Makes --count .debs with dpkg-deb (seeded: varied names, versions, architectures, payloads of a few
   bytes to ~200 KB of random data), cached in --work/debs so reruns reuse them (publish_debs).
2. Full publish + sign of the whole set into a fresh repository, timed wall clock per tool (publish_tools):
     kronos    `kronos publish --target sid` (CLI subprocess) over an output dir of recipe dirs
     reprepro  `includedeb` of all (exports: Packages . .gz .xz, SignWith); no by-hash, no SHA512
     aptly     `repo create` + `repo add` + `publish repo -acquire-by-hash -skip-contents -gpg-key`
               (gz + bz2, SHA512, by-hash; no xz)
3. Add one package to that repository and republish, timed per tool.
4. Medians of --runs runs (fresh repositories each), a table and the ratios kronos/other.
5. Where kronos's time goes: publish in-process with exclusive-time stamps on its steps, plus a cProfile
   top list, for the full publish and for add-one; start-up (python, imports) (publish_profile); what-if
   measurements of the alternatives on the same data (publish_whatif).

One ephemeral GnuPG home (short path under /tmp, ed25519 key without passphrase) signs for all three.
Nothing is written outside --work and that GnuPG home (removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from bench.common import kronos_executable, log, run_main
from bench.publish_debs import SUITE, prepare
from bench.publish_profile import importtime, print_profile, run_profile, startup
from bench.publish_tools import TOOLS, Runner, dists_dir, ensure_tools, signing_key, verify
from bench.publish_whatif import whatif

PROG = "publish"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.publish", description=(__doc__ or "").split("\n\n")[0])
    default_work = Path(os.environ.get("KRONOS_BENCH_WORK", "/var/tmp/kronos-bench-publish"))
    ap.add_argument("--work", type=Path, default=default_work,
                    help="work dir: cached .debs, repositories, logs (default: %(default)s; env KRONOS_BENCH_WORK)")
    ap.add_argument("--count", type=int, default=2000, help=".debs in the set (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool (medians); default %(default)s")
    ap.add_argument("--seed", type=int, default=20240601, help="seed of the generated .debs")
    ap.add_argument("--tools", default="kronos,reprepro,aptly", help="comma-separated (default: %(default)s)")
    ap.add_argument("--no-profile", action="store_true", help="skip step 5 (kronos's split, what-if)")
    ap.add_argument("--profile-runs", type=int, default=3, help="runs of the split (medians); default %(default)s")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    for opt in ("count", "runs", "profile_runs"):
        if getattr(args, opt) < 1:
            ap.error(f"--{opt.replace('_', '-')} must be at least 1")
    return args


def print_table(times: dict[str, dict[str, list[float]]], med: dict[str, dict[str, float]]) -> None:
    """Medians and every run per tool; the ratios kronos/other against the two goals."""
    tools = list(times)
    print(f"{'tool':10} {'full publish':>13} {'add-one':>9}   runs (full / add-one)")
    for t in tools:
        runs = " ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(times[t]["full"], times[t]["add"], strict=True))
        print(f"{t:10} {med[t]['full']:13.2f} {med[t]['add']:9.2f}   {runs}")
    if "kronos" not in tools:
        return
    print()
    goals = {"full": True, "add": True}
    for other in (t for t in tools if t != "kronos"):
        rf = med["kronos"]["full"] / med[other]["full"]
        ra = med["kronos"]["add"] / med[other]["add"]
        goals["full"] &= rf < 1
        goals["add"] &= ra < 1
        print(f"kronos/{other:9} full {rf:5.2f}x   add-one {ra:5.2f}x   (< 1: kronos faster)")
    if len(tools) > 1:
        print(f"goal 'full publish faster than both': {'MET' if goals['full'] else 'MISSED'}")
        print(f"goal 'adding one faster than both':   {'MET' if goals['add'] else 'MISSED'}")


def main() -> int:
    args = parse_args()
    tools = [t for t in args.tools.split(",") if t]
    kronos = kronos_executable()
    ensure_tools(tools)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    s = prepare(work, args.count, args.seed)
    total_bytes = sum(f.stat().st_size for f in s.files)
    log(f"{s.count} .debs ({total_bytes / 1e6:.1f} MB, {s.sources} sources); add-one: {s.extra.name}")
    load0 = os.getloadavg()

    with signing_key() as key:
        r = Runner(work, key, kronos)
        times: dict[str, dict[str, list[float]]] = {t: {"full": [], "add": []} for t in tools}
        for i in range(1, args.runs + 1):
            for tool in tools:
                full, add = TOOLS[tool](r, i, s)
                times[tool]["full"].append(full)
                times[tool]["add"].append(add)
                log(f"run {i} {tool:9} full {full:7.2f} s   add-one {add:6.2f} s")
                if i < args.runs:
                    shutil.rmtree(work / "runs" / f"{tool}-{i}", ignore_errors=True)
        med = {t: {k: statistics.median(v) for k, v in times[t].items()} for t in tools}

        load1 = os.getloadavg()
        print(f"\nPublish + sign {s.count} .debs ({total_bytes / 1e6:.1f} MB, {s.sources} sources), then add one"
              f" and republish; medians of {args.runs} (wall clock, s); {os.cpu_count()} CPUs, load average"
              f" {load0[0]:.1f} before, {load1[0]:.1f} after\n")
        print_table(times, med)

        result: dict[str, object] = {"count": s.count, "bytes": total_bytes, "sources": s.sources,
                                     "runs": times, "medians": med, "loadavg": [load0, load1]}
        if "kronos" in tools and not args.no_profile:
            log("profiling kronos in-process (exclusive-time split, then cProfile) ...")
            st = startup(kronos)
            imps = importtime()
            prof = run_profile(r, s, args.profile_runs)
            packages = dists_dir(work, "kronos", args.runs) / SUITE / "main" / "binary-amd64" / "Packages"
            wi = whatif(work, s.files, s.extra, packages)
            result.update(startup=st, importtime=imps, split=prof["split"], cprofile=prof["cprofile"], whatif=wi)
            print_profile(prof, st, imps, s.count, args.profile_runs)
            print("\nwhat-if, measured on this run's data (best of 2, s):")
            for label, t, note in wi:
                print(f"  {label:86} {t:7.3f} {note}" if t or note else f"  {label}")
            print(f"\n(pstats: {work}/profile-{{full,add}}.pstats[.txt]; logs: {work}/logs)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        for tool in tools:  # the last InRelease of each tool
            verify(r, tool, dists_dir(work, tool, args.runs))
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
