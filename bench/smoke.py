"""Where the time of `kronos smoke` goes: each stage from QEMU's start to the last check.

Run as root from the repository root, after `make run` (or with KRONOS_REPO_PATH naming a published tree):

    .venv/bin/python -m bench.smoke [--rounds 1]

Each round runs `kronos smoke --target bookworm` (the dom0 image is made once and then reused: the first
round's preparation shows its cost) and prints, from the run's times.json and junit.xml: the preparation
stages, the boot stages and each check, in seconds since QEMU started. Goal: the last check within 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.common import ROOT, BenchError, fmt_s, kronos_executable, log, run_main, tail, timed

GOAL = 90.0


def one_round(work: Path, n: int) -> dict[str, float]:
    out = work / f"round-{n}"
    logf = work / f"round-{n}.log"
    env = dict(os.environ, KRONOS_OUTPUT_DIR=str(out))
    wall, code = timed([kronos_executable(), "smoke", "--target", "bookworm"], logf, env=env)
    if code != 0:
        raise BenchError(f"kronos smoke failed (exit {code}); see {logf}:\n{tail(logf.read_text(), 5)}")
    run_dir = (out / "smoke" / "bookworm" / "latest").resolve()
    times = json.loads((run_dir / "times.json").read_text())
    row: dict[str, float] = {"wall": wall}
    row |= {f"prepare {k}": v for k, v in times["prepare"].items() if k != "checks"}
    boot = times["since_qemu_start"]
    row |= {k: v for k, v in boot.items() if k != "checks-done"}
    at = boot["dom0-ssh"]
    for case in ET.parse(run_dir / "junit.xml").iter("testcase"):
        at += float(case.get("time", 0))
        row[str(case.get("name")).removeprefix("test_")] = round(at, 1)
    row["last check"] = boot.get("checks-done", at)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.smoke", description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/kronos-bench-smoke"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(1, args.rounds + 1):
        log(f"round {n}/{args.rounds}: kronos smoke (from {ROOT})")
        rows.append(one_round(args.work, n))
    print(f"{'stage':48} " + " ".join(f"{'round ' + str(i + 1):>9}" for i in range(len(rows))))
    for name in rows[-1]:
        print(f"{name:48} " + " ".join(f"{fmt_s(r[name]) if name in r else '-':>9}" for r in rows))
    last = statistics.median(r["last check"] for r in rows)
    print(f"QEMU start -> last check: {fmt_s(last)} (median; goal under {fmt_s(GOAL)})")
    return 0 if last < GOAL else 1


if __name__ == "__main__":
    run_main("bench.smoke", main)
