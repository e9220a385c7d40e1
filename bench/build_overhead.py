"""Warm-rebuild overhead of kronos against sbuild --chroot-mode=unshare, on the same .dsc.

Run as root from the repository root:

    .venv/bin/python -m bench.build_overhead [--recipe dh-ocaml] [--runs 3] [--target bookworm]

1. kronos: one unmeasured `kronos build --target T --only R --rebuild` (so the base image and
   the build-deps layer exist), then the measured runs (build_kronos).
2. sbuild: the .dsc kronos just produced (out/T/R/*.dsc and its files, copied to a scratch
   directory) built with `sbuild --chroot-mode=unshare` as an unprivileged user, with the
   same profiles and DEB_BUILD_OPTIONS; one unmeasured run, then the measured runs (build_sbuild).
   Measured runs alternate kronos/sbuild so both see the same machine load.
3. A table of the medians, the ratio kronos/sbuild and the goal (ratio <= 0.6) (build_report).

Setup, done once and skipped when already there (build_setup): the user `kbench` with /etc/subuid
and /etc/subgid ranges, the packages sbuild, mmdebstrap and uidmap, and the chroot tarball
~kbench/.cache/sbuild/<suite>-<arch>.tar (mmdebstrap --variant=buildd of the target's suite
and pockets, from the mirror of the machine's apt sources, with fakeroot as in kronos's
base image). Stdlib only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.build_kronos import KronosRun, kronos_build_settings, kronos_config, run_kronos
from bench.build_report import GOAL, report
from bench.build_sbuild import Dsc, SbuildRun, run_sbuild
from bench.build_setup import ensure_chroot, ensure_packages, ensure_user, host_architecture
from bench.common import ROOT, BenchError, fmt_s, kronos_executable, log, run_main

PROG = "build_overhead"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.build_overhead", description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="dh-ocaml", help="recipe to rebuild (default: dh-ocaml)")
    ap.add_argument("--runs", type=int, default=3, help="measured runs of each (default: 3)")
    ap.add_argument("--target", default="bookworm", help="kronos target (default: bookworm)")
    ap.add_argument("--workdir", type=Path, help="where logs and sbuild runs go (default: a new /tmp dir)")
    ap.add_argument("--check", action="store_true", help=f"exit 2 when the goal (ratio <= {GOAL}) is not met")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        raise BenchError("run as root (it creates the sbuild user and its subuid range; kronos needs Docker)")
    t_start = time.monotonic()

    exe = kronos_executable()
    cfg = kronos_config()
    work: Path = args.workdir or Path(tempfile.mkdtemp(prefix="kronos-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)

    # setup for sbuild first: it can take minutes and needs no kronos output
    ensure_packages()
    pw = ensure_user()
    arch = host_architecture()
    tarball = ensure_chroot(pw, cfg, args.target, arch)
    chroot = str(tarball)  # a path: sbuild takes that tarball, no name lookup
    suite = str(cfg["targets"][args.target].get("suite", args.target))

    log(f"kronos warm-up: kronos build --target {args.target} --only {args.recipe} --rebuild")
    warm = run_kronos(exe, args.target, args.recipe, work / "kronos-warmup.log")
    log(f"kronos warm-up took {fmt_s(warm.wall)}")
    out_dir = warm.out_dir or ROOT / cfg.get("kronos", {}).get("output_dir", "out") / args.target / args.recipe
    dscs = sorted(out_dir.glob("*.dsc"))
    if len(dscs) != 1:
        raise BenchError(f"expected one .dsc in {out_dir}, found {len(dscs)}")
    dsc = Dsc.read(dscs[0])
    digest = dsc.digest()
    src = work / "src"
    if src.exists():
        shutil.rmtree(src)
    dsc = Dsc.read(dsc.copy_to(src))  # our copy: kronos may rewrite out/ meanwhile
    profiles, build_options = kronos_build_settings(out_dir, args.recipe)
    log(f"same .dsc for sbuild: {dsc.path.name}; profiles={','.join(profiles) or 'none'}"
        f" DEB_BUILD_OPTIONS={build_options!r}")

    log("sbuild warm-up")
    s_warm = run_sbuild(pw, dsc, work, "sbuild-warmup", suite, chroot, profiles, build_options)
    log(f"sbuild warm-up took {fmt_s(s_warm.wall)}")

    k_runs: list[KronosRun] = []
    s_runs: list[SbuildRun] = []
    for i in range(1, args.runs + 1):
        k = run_kronos(exe, args.target, args.recipe, work / f"kronos-{i}.log")
        k_runs.append(k)
        now = Dsc.read(sorted(out_dir.glob("*.dsc"))[0]).digest() if list(out_dir.glob("*.dsc")) else None
        same = "same .dsc" if now == digest else "WARNING: kronos made a different .dsc this time"
        log(f"kronos run {i}/{args.runs}: {fmt_s(k.wall)}"
            f"{'' if k.deps_cached else ' (build-deps layer was NOT cached)'}; {same}")
        s = run_sbuild(pw, dsc, work, f"sbuild-{i}", suite, chroot, profiles, build_options)
        s_runs.append(s)
        log(f"sbuild run {i}/{args.runs}: {fmt_s(s.wall)}")

    ok = report(args.recipe, args.target, dsc.path.name, k_runs, s_runs, time.monotonic() - t_start, work)
    return 0 if ok or not args.check else 2


if __name__ == "__main__":
    run_main(PROG, main)
