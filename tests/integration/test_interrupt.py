"""Interrupting a real `kronos build` of a fixture stack (tests/integration/test_jobs.py's packages)
while its build containers run: SIGINT and SIGTERM stop it within 15 s with 130 and 143, leave no
container (by the run's labels) and no scratch directory, and leave out/ and the ledger of the
interrupted recipes as they were; after a SIGKILL, the next run removes the leftovers and names them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos import owner
from kronos.engine import get_engine

from .fixture_stack import KRONOS, TARGET, new_project, project_env
from .test_jobs import local_package, rows

pytestmark = pytest.mark.integration

STOP_WITHIN = 15.0  # seconds, from the signal to kronos's exit


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """jobs-a and jobs-b independent, jobs-c after jobs-a; built once quickly, so that out/ and the
    ledger hold a build of each that an interrupted rebuild must not touch."""
    root = new_project(tmp_path)
    local_package(root, "jobs-a")
    local_package(root, "jobs-b")
    local_package(root, "jobs-c", sibling="kfx-a")
    first = subprocess.run([str(KRONOS), "build", "--target", TARGET, "--jobs", "2"], cwd=root, env=_env(root),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900, check=False)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    yield root
    engine = get_engine()
    for found in engine.containers():  # nothing of this test's runs is left even when it failed
        if found.labels.get(f"{owner.PREFIX}.recipe", "").startswith("jobs-"):
            engine.remove_container(found.id)


def _env(root: Path) -> dict[str, str]:
    # a cache of its own: its scratch directories are this test's alone to count
    return project_env(root, KRONOS_CACHE_DIR=str(root / "cache"))


def _slow_change(root: Path) -> None:
    """A changed input for jobs-a and jobs-b whose builds then take minutes (until stopped)."""
    for recipe in ("jobs-a", "jobs-b"):
        d = root / "recipes" / recipe
        (d / "src" / "hello.txt").write_text(f"hello again from {recipe}\n")
        rules = d / "debian" / "rules"
        rules.write_text(rules.read_text().replace("binary binary-arch binary-indep:\n",
                                                   "binary binary-arch binary-indep:\n\tsleep 600\n"))


def _state(root: Path) -> dict[str, bytes]:
    """out/ and the ledgers, file by file (the logs of the interrupted builds aside)."""
    out = root / "out"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != "logs" and not p.name.endswith(".lock")}


def _containers(pid: int) -> list[str]:
    return [c.id for c in get_engine().containers() if c.labels.get(owner.PID) == str(pid)]


def _building(proc: subprocess.Popen[str], want: int) -> None:
    """Wait until `want` build-phase containers of proc run."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = [c for c in get_engine().containers() if c.labels.get(owner.PID) == str(proc.pid)
                 and c.labels.get(f"{owner.PREFIX}.phase") == "build"]
        if len(found) >= want:
            time.sleep(2)  # inside the build's sleep
            return
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.5)
    raise AssertionError("the builds never started")


def _scratch(root: Path) -> list[str]:
    cache = root / "cache"
    return sorted(p.name for p in cache.iterdir() if p.is_dir() and p.name.startswith(("jobs-", "build-", "image-")))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_stops_the_run_and_leaves_outputs_as_they_were(project: Path, sig: signal.Signals) -> None:
    before = _state(project)
    _slow_change(project)
    proc = subprocess.Popen([str(KRONOS), "build", "--target", TARGET, "--jobs", "2"], cwd=project,
                            env=_env(project), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _building(proc, 2)
    sent = time.monotonic()
    proc.send_signal(sig)
    output = proc.communicate(timeout=60)[0]
    took = time.monotonic() - sent
    print(f"{sig.name}: exit {proc.returncode} after {took:.1f} s")
    assert took < STOP_WITHIN, output[-3000:]
    assert proc.returncode == 128 + sig, output[-3000:]
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"kronos: error: interrupted by {sig.name}: nothing more was started"), last
    table = rows(output)
    assert table["jobs-a"][0] == "failed" and table["jobs-b"][0] == "failed", output[-3000:]
    assert f"stopped by {sig.name}" in output
    assert table["jobs-c"] == [f"not started: {sig.name}"], output[-3000:]
    assert _containers(proc.pid) == []
    assert _scratch(project) == []
    assert _state(project) == before
    assert not list((project / "out" / TARGET).glob(".*.new"))


def test_a_run_after_a_sigkilled_one_removes_its_leftovers(project: Path) -> None:
    _slow_change(project)
    proc = subprocess.Popen([str(KRONOS), "build", "--target", TARGET, "--jobs", "2"], cwd=project,
                            env=_env(project), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    _building(proc, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = _containers(proc.pid)
    assert left, "a SIGKILLed kronos left no container to clean up"
    # the next run (the slow builds undone: it builds quickly again) removes them first, each named
    for recipe in ("jobs-a", "jobs-b"):
        rules = project / "recipes" / recipe / "debian" / "rules"
        rules.write_text(rules.read_text().replace("\tsleep 600\n", ""))
    again = subprocess.run([str(KRONOS), "build", "--target", TARGET, "--jobs", "2"], cwd=project,
                           env=_env(project), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
                           check=False)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    for cid in left:
        assert f"removed container {cid}, left by a kronos that is gone: " in again.stderr, again.stderr[-3000:]
    assert f"of kronos pid {proc.pid}" in again.stderr
    assert _containers(proc.pid) == []
    record = json.loads((project / "out" / TARGET / "jobs-a" / "build.json").read_text())
    assert record["version"] == "1.0-1~bpo12+2"
