"""xen through kronos against a plain `dpkg-buildpackage -b`, same image, same build deps, same run.

Run as root from the repository root:

    .venv/bin/python -m bench.xen [--rounds 1] [--work /var/tmp/kronos-bench-xen]

1. Warm-up (unmeasured): `kronos build --target bookworm --only xen` makes the base image, the
   build-deps layer and the source package (with --rebuild when xen is up to date: only a build
   names its layer); the layer's name comes from kronos's output.
2. Each round, in turn:
   - kronos: `kronos build --target bookworm --only xen --rebuild` (source package made again on the
     host, the layer reused, the build in a fresh container without network, outputs collected and
     recorded): its wall time;
   - plain: `docker run --network none -u builder` of that same layer with the same source package,
     `dpkg-source -x` then `dpkg-buildpackage -us -uc -b` with the same DEB_BUILD_OPTIONS and
     profiles: its wall time.
3. The ratio of the medians, kronos / plain. Goal: <= 1.10.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, BenchError, fmt_s, kronos_executable, log, run_main, tail, timed

PROG = "xen"
GOAL = 1.10
TARGET = "bookworm"
RECIPE = "xen"
PROFILES = "nocheck,nodoc"  # recipes/xen/recipe.toml


@dataclass(frozen=True)
class Figures:
    kronos: list[float]
    plain: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.kronos) / statistics.median(self.plain)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.xen", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=1, help="measured rounds of each (default 1)")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("KRONOS_BENCH_WORK", "/var/tmp/kronos-bench-xen")),
                   help="outputs and logs (default /var/tmp/kronos-bench-xen; env KRONOS_BENCH_WORK)")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def plain_script(options: str) -> str:
    return ("set -eu\nmkdir /tmp/b && cd /tmp/b\ndpkg-source --no-check -x /src/*.dsc pkg >/dev/null\ncd pkg\n"
            f"DEB_BUILD_OPTIONS='{options}' dpkg-buildpackage -us -uc -b -P{PROFILES}\n")


def compare(kronos: str, env: dict[str, str], work: Path, rounds: int) -> Figures:
    """The warm-up, then `rounds` of kronos and plain builds of xen; logs under work/logs."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log("xen warm-up: kronos build --only xen (image, build-deps layer, source package)")
    warm = logs / "xen-warmup.log"
    _, rc = timed([kronos, "build", "--target", TARGET, "--only", RECIPE], warm, env=env, cwd=ROOT)
    text = warm.read_text(errors="replace")
    layers = re.findall(rf"kronos/deps-{TARGET}:[0-9a-f]{{16}}", text)
    if rc == 0 and not layers:  # up to date: only a build names its layer
        _, rc = timed([kronos, "build", "--target", TARGET, "--only", RECIPE, "--rebuild"], warm, env=env, cwd=ROOT)
        text = warm.read_text(errors="replace")
        layers = re.findall(rf"kronos/deps-{TARGET}:[0-9a-f]{{16}}", text)
    if rc != 0 or not layers:
        raise BenchError(f"the xen warm-up build failed (exit {rc}); log: {warm}\n{tail(text, 5)}")
    layer = layers[-1]
    out = Path(env["KRONOS_OUTPUT_DIR"]) / TARGET / RECIPE
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    for f in out.iterdir():
        if f.name.endswith((".dsc", ".tar.xz", ".tar.gz", ".tar.bz2", ".debian.tar.xz", ".diff.gz")):
            shutil.copyfile(f, src / f.name)
    options = f"parallel={os.cpu_count() or 1} nocheck nodoc"
    figures = Figures([], [])
    for n in range(1, rounds + 1):
        log(f"xen round {n}: kronos build --rebuild")
        t, rc = timed([kronos, "build", "--target", TARGET, "--only", RECIPE, "--rebuild"],
                      logs / f"xen-kronos-{n}.log", env=env, cwd=ROOT)
        if rc != 0:
            raise BenchError(f"kronos build of xen failed (exit {rc}); log: {logs / f'xen-kronos-{n}.log'}")
        figures.kronos.append(t)
        log(f"xen round {n}: plain dpkg-buildpackage -b in {layer}")
        t, rc = timed(["docker", "run", "--rm", "--network", "none", "-u", "builder", "-v", f"{src}:/src:ro",
                       layer, "sh", "-c", plain_script(options)], logs / f"xen-plain-{n}.log")
        if rc != 0:
            raise BenchError(f"the plain build of xen failed (exit {rc}); log: {logs / f'xen-plain-{n}.log'}")
        figures.plain.append(t)
    return figures


def report(f: Figures) -> None:
    print(f"xen {TARGET}: kronos build --rebuild against plain dpkg-buildpackage -b (same layer, same run)")
    print(f"  kronos  {' '.join(fmt_s(t) for t in f.kronos)}  median {fmt_s(statistics.median(f.kronos))}")
    print(f"  plain   {' '.join(fmt_s(t) for t in f.plain)}  median {fmt_s(statistics.median(f.plain))}")
    print(f"  kronos / plain = {f.ratio:.3f}  goal <= {GOAL}: {'MET' if f.ratio <= GOAL else 'MISSED'}")


def main() -> int:
    args = parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "KRONOS_OUTPUT_DIR": str(work / "out"), "KRONOS_ROOT": str(ROOT)}
    env.pop("KRONOS_TARGETS", None)
    report(compare(kronos_executable(), env, work, args.rounds))
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
