"""Where the time of `kronos smoke` goes: each stage from QEMU's start to the last check, and its share.

Run as root from the repository root, after `make run` (or with KRONOS_REPO_PATH naming a published tree):

    .venv/bin/python -m bench.smoke [--rounds 1] [--target noble]

Each round runs `kronos smoke --target <--target: bookworm>` (the dom0 image is made once and then reused: the first
round's preparation shows its cost) and prints, from the run's times.json, serial.log and junit.xml, how long
each stage took and its share of QEMU's start to the last check: Xen to its banner, to dom0's kernel, dom0's
kernel to its initramfs (/init), the initramfs to systemd, systemd to sshd answering, then each check (the
guest's own kernel and initramfs boot inside "guest boots"). Goal: the last check within 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.common import ROOT, BenchError, fmt_s, kronos_executable, log, run_main, tail, timed

GOAL = 90.0
# dom0's kernel stamps its lines with seconds since it started: where its initramfs and systemd begin
_STAMP = r"^\[\s*(\d+\.\d+)\] "
_DOM0_MARKS = {"init": re.compile(_STAMP + r"Run /init as init process", re.M),
               "systemd": re.compile(_STAMP + r"systemd\[1\]: systemd \d+", re.M)}


def dom0_marks(serial: str) -> dict[str, float]:
    """Seconds after dom0's kernel started at which it ran its initramfs and systemd (the ones found)."""
    out = {}
    for name, pattern in _DOM0_MARKS.items():
        m = pattern.search(serial)
        if m:
            out[name] = float(m.group(1))
    return out


def stages(times: dict[str, dict[str, float]], serial: str, cases: list[tuple[str, float]]) -> dict[str, float]:
    """Each stage's seconds, in order, from QEMU's start to the last check (they add up to it)."""
    boot = times["since_qemu_start"]
    row = {"xen to its banner": boot["xen-banner"], "xen to dom0's kernel": boot["dom0-kernel"] - boot["xen-banner"]}
    marks = dom0_marks(serial)
    at = 0.0
    if "init" in marks and "systemd" in marks:
        row["dom0 kernel to its initramfs"] = marks["init"]
        row["dom0 initramfs to systemd"] = marks["systemd"] - marks["init"]
        at = marks["systemd"]
    row["dom0 systemd to ssh" if at else "dom0 kernel to ssh"] = boot["dom0-ssh"] - boot["dom0-kernel"] - at
    start = boot["dom0-ssh"]
    for name, seconds in cases:
        row[name.removeprefix("test_")] = seconds
        start += seconds
    row["harness (start, stop, collect)"] = max(0.0, boot.get("checks-done", start) - start)
    return {k: round(v, 1) for k, v in row.items()}


def one_round(work: Path, n: int, target: str = "bookworm") -> tuple[dict[str, float], dict[str, float]]:
    """(the preparation and wall time, the stages from QEMU's start)."""
    out = work / f"round-{n}"
    logf = work / f"round-{n}.log"
    env = dict(os.environ, KRONOS_OUTPUT_DIR=str(out))
    wall, code = timed([kronos_executable(), "smoke", "--target", target], logf, env=env)
    if code != 0:
        raise BenchError(f"kronos smoke failed (exit {code}); see {logf}:\n{tail(logf.read_text(), 5)}")
    run_dir = (out / "smoke" / target / "latest").resolve()
    times = json.loads((run_dir / "times.json").read_text())
    cases = [(str(c.get("name")), float(c.get("time", 0))) for c in ET.parse(run_dir / "junit.xml").iter("testcase")]
    serial = (run_dir / "serial.log").read_text(errors="replace")
    outside = {"wall": wall} | {f"prepare {k}": v for k, v in times["prepare"].items() if k != "checks"}
    return outside, stages(times, serial, cases)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.smoke", description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/kronos-bench-smoke"))
    parser.add_argument("--target", default="bookworm", help="the target to smoke (bookworm, noble)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rounds = []
    for n in range(1, args.rounds + 1):
        log(f"round {n}/{args.rounds}: kronos smoke --target {args.target} (from {ROOT})")
        rounds.append(one_round(args.work, n, args.target))
    heads = " ".join(f"{'round ' + str(i + 1):>16}" for i in range(len(rounds)))
    print(f"{'stage':40} {heads}")
    for name in rounds[-1][0]:
        print(f"{name:40} " + " ".join(f"{fmt_s(o[name]) if name in o else '-':>16}" for o, _ in rounds))
    for name in rounds[-1][1]:
        cells = []
        for _, row in rounds:
            total = sum(row.values())
            cells.append(f"{fmt_s(row[name])} {100 * row[name] / total:4.1f}%" if name in row else "-")
        print(f"{name:40} " + " ".join(f"{c:>16}" for c in cells))
    last = statistics.median(sum(row.values()) for _, row in rounds)
    print(f"QEMU start -> last check: {fmt_s(last)} (median; goal under {fmt_s(GOAL)})")
    return 0 if last < GOAL else 1


if __name__ == "__main__":
    run_main("bench.smoke", main)
