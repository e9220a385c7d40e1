"""The build graph on Dask: a real `kronos scheduler` and two `kronos worker`s on loopback, each with a
dockerd of its own (so each engine starts without the base image, which is shipped to it by content).

- The fixture stack (A <- B <- C, and D) builds across both workers with the keys, versions and .debs
  a local build of the same recipes gives; each worker built something; the siblings' .debs reached
  the worker that installed them.
- A worker killed (SIGKILL) mid-build: the run completes on the other worker and says so; the killed
  worker, started again, removes the container it left behind.
- The scheduler stopped mid-run: one line, exit 2, and nothing of the unfinished build in out/ or the
  ledger."""

from __future__ import annotations

import hashlib
import io
import json
import re
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import tls_certs
from .cluster import Cluster, cluster
from .fixture_stack import KRONOS, TARGET, kronos, new_project, project_env
from .test_jobs import local_package, rows

pytestmark = pytest.mark.integration

STACK = ("jobs-a", "jobs-b", "jobs-c", "jobs-d")


def stack(root: Path) -> None:
    local_package(root, "jobs-a")
    local_package(root, "jobs-b", sibling="kfx-a")
    local_package(root, "jobs-c", sibling="kfx-b")
    local_package(root, "jobs-d")


def slow(root: Path, recipe: str, seconds: int) -> None:
    """recipe's build sleeps `seconds` before it makes its package."""
    local_package(root, recipe)
    rules = root / "recipes" / recipe / "debian" / "rules"
    rules.write_text(rules.read_text().replace("binary binary-arch binary-indep:\n",
                                               f"binary binary-arch binary-indep:\n\tsleep {seconds}\n"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = new_project(tmp_path_factory.mktemp("dask"))
    stack(root)
    slow(root, "jobs-slow", 20)
    slow(root, "jobs-stuck", 600)
    local_package(root, "jobs-fail", fail=True)
    yield root


@pytest.fixture(scope="module")
def dask(project: Path) -> Iterator[Cluster]:
    with cluster(project, KRONOS, project_env(project), project.parent / "logs") as c:
        yield c


def record(root: Path, recipe: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "out" / TARGET / recipe / "build.json").read_text())
    return data


def debs(out: Path, recipe: str) -> dict[str, dict[str, str]]:
    """recipe's .debs in out: each one's control fields and files (path -> sha256 of the content; the
    fixture packages are not built reproducibly, so their timestamps differ between two builds)."""
    found = {}
    for deb in (out / TARGET / recipe).glob("*.deb"):
        listing = {"control": subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                                             check=True).stdout}
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            for m in t.getmembers():
                f = t.extractfile(m) if m.isfile() else None
                listing[m.name] = f"{m.mode:o} {hashlib.sha256(f.read()).hexdigest() if f else m.type!r}"
        found[deb.name] = listing
    return found


def on_dask(c: Cluster, *args: str, out: str = "out", timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return kronos(c.root, "build", "--target", TARGET, "--executor", "dask", "--scheduler", c.address, *args,
                  timeout=timeout, KRONOS_OUTPUT_DIR=str(c.root / out))


def test_the_stack_builds_across_two_workers_as_it_builds_here(dask: Cluster, tmp_path: Path) -> None:
    only = [a for r in STACK for a in ("--only", r)]
    proc = on_dask(dask, *only)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    table = rows(proc.stdout)
    assert {r: table[r][0] for r in STACK} == dict.fromkeys(STACK, "built"), proc.stdout
    built_by = {r: record(dask.root, r)["built-by"] for r in STACK}
    names = {r: str(b["name"]) for r, b in built_by.items()}  # type: ignore[index]
    assert set(names.values()) == {"w1", "w2"}, built_by  # each worker built something
    for r in STACK:
        assert built_by[r]["engine"] == dask.engines[names[r]].host, built_by  # type: ignore[index]
        assert re.search(rf"^{TARGET}/{r} started on worker {names[r]}$", proc.stderr, re.M), proc.stderr
    # a worker reads a file from the store once: its later builds held the container scripts already
    for name in ("w1", "w2"):
        mine = sorted((proc.stderr.index(f"{TARGET}/{r} started on worker"), r) for r in STACK if names[r] == name)
        for _, r in mine[1:]:
            assert {"build.sh", "install-build-deps.sh", "base image"} <= set(built_by[r].get("held", [])), built_by
    # the table names each package's worker
    assert all(names[r] in table[r] for r in STACK), proc.stdout
    # the base image was shipped to both engines by content, under the coordinator's tag and content
    image = str(record(dask.root, "jobs-a")["image"])
    for engine in dask.engines.values():
        assert image in engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").split(), engine.name
    # each sibling reached the worker that installed it: its deps phase unpacked the sibling's own version
    for recipe, sibling in (("jobs-b", "jobs-a"), ("jobs-c", "jobs-b")):
        log = (dask.root / "out" / TARGET / recipe / f"{recipe}_{record(dask.root, recipe)['version']}.build")
        version = record(dask.root, sibling)["version"]
        package = f"kfx-{sibling.removeprefix('jobs-')}"
        assert re.search(rf"Unpacking {package} \({re.escape(str(version))}\)", log.read_text()), log.read_text()
        print(f"{sibling} built on {names[sibling]}, {recipe} on {names[recipe]}")

    # the same recipes built here (the local runner, this machine's engine): the same keys, versions, .debs
    local = kronos(dask.root, "build", "--target", TARGET, *only, "--jobs", "2",
                   KRONOS_OUTPUT_DIR=str(dask.root / "out-local"))
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    for r in STACK:
        there = json.loads((dask.root / "out-local" / TARGET / r / "build.json").read_text())
        here = record(dask.root, r)
        assert (there["key"], there["version"], there["inputs"]) == (here["key"], here["version"], here["inputs"]), r
        assert debs(dask.root / "out-local", r) == debs(dask.root / "out", r) != {}, r
        assert there["built-by"]["name"].startswith("local (")

    # a second run over Dask: everything is up to date, nothing is sent to a worker
    again = on_dask(dask, *only)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {r: rows(again.stdout)[r][0] for r in STACK} == dict.fromkeys(STACK, "up to date"), again.stdout
    assert "started on worker" not in again.stderr

    # a package that fails on a worker: its log comes back into out/logs, the line names it and the worker
    failed = on_dask(dask, "--only", "jobs-fail")
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    [line] = [ln for ln in failed.stdout.splitlines() if ln.startswith(f"{TARGET}/jobs-fail: ")]
    version = rows(failed.stdout)["jobs-fail"][1]
    log = dask.root / "out" / "logs" / TARGET / f"jobs-fail_{version}.build"
    assert f"failed to build on {TARGET} (exit 2); log: {log};" in line, line
    assert re.search(r" \(on worker w[12]\)$", line), line
    assert "jobs fixture: failing on purpose" in log.read_text()


def _job_containers(c: Cluster, recipe: str) -> dict[str, list[str]]:
    """The containers of recipe's builds on each worker's engine."""
    return {name: d.docker("ps", "-aq", "--filter", f"label=org.kronos.recipe={recipe}").split()
            for name, d in c.engines.items()}


def _wait_building(c: Cluster, recipe: str, proc: subprocess.Popen[str], timeout: float = 300) -> str:
    """The worker whose engine runs recipe's build container (phase build), once it does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, d in c.engines.items():
            if d.docker("ps", "-q", "--filter", f"label=org.kronos.recipe={recipe}",
                        "--filter", "label=org.kronos.phase=build").split():
                return name
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    raise AssertionError(f"{recipe} did not start building within {timeout} s")


def test_a_worker_killed_mid_build_does_not_fail_the_run(dask: Cluster) -> None:
    proc = subprocess.Popen([str(KRONOS), "build", "--target", TARGET, "--only", "jobs-slow", "--executor", "dask",
                             "--scheduler", dask.address], cwd=dask.root,
                            env=project_env(dask.root, KRONOS_OUTPUT_DIR=str(dask.root / "out-kill")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        victim = _wait_building(dask, "jobs-slow", proc)
        survivor = ({"w1", "w2"} - {victim}).pop()
        dask.kill(dask.workers[victim])  # SIGKILL: no teardown, its container goes on running
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert rows(out)["jobs-slow"][0] == "built", out
    built = json.loads((dask.root / "out-kill" / TARGET / "jobs-slow" / "build.json").read_text())
    assert built["built-by"]["name"] == survivor, built["built-by"]
    # the report says what happened
    assert f"{TARGET}/jobs-slow: built on {survivor} after worker {victim} was lost mid-build" in out, out
    # the killed worker's container outlived it; started again, the worker removes it
    assert _job_containers(dask, "jobs-slow")[victim], "the killed worker's build container is already gone"
    dask.start_worker(victim)
    deadline = time.monotonic() + 60
    while _job_containers(dask, "jobs-slow")[victim] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _job_containers(dask, "jobs-slow")[victim]
    assert "left by a kronos that is gone" in (dask.logs / f"worker-{victim}.log").read_text()


def test_ctrl_c_on_the_coordinator_stops_the_remote_build(dask: Cluster) -> None:
    proc = subprocess.Popen([str(KRONOS), "build", "--target", TARGET, "--only", "jobs-stuck", "--executor", "dask",
                             "--scheduler", dask.address], cwd=dask.root,
                            env=project_env(dask.root, KRONOS_OUTPUT_DIR=str(dask.root / "out-int")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        worker = _wait_building(dask, "jobs-stuck", proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert err.strip().splitlines()[-1].startswith("kronos: error: interrupted by SIGINT"), err
    # the worker removed the build's container as the scheduler took the job away
    deadline = time.monotonic() + 30
    while _job_containers(dask, "jobs-stuck")[worker] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _job_containers(dask, "jobs-stuck")[worker]
    assert not (dask.root / "out-int" / TARGET / "jobs-stuck").exists()


def test_over_mutual_tls_the_record_names_the_workers_certificate(project: Path) -> None:
    certs = tls_certs.make(project.parent / "tls", ["scheduler", "t1", "client"])
    with cluster(project, KRONOS, project_env(project), project.parent / "logs-tls", ("t1",), tls=certs) as c:
        assert c.address.startswith("tls://127.0.0.1:")
        ca, cert, key = certs["client"]
        proc = on_dask(c, "--only", "jobs-d", "--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key),
                       out="out-tls")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        # a client without a certificate is not let in
        plain = on_dask(c, "--only", "jobs-d", out="out-tls-plain", timeout=120)
    built = json.loads((project / "out-tls" / TARGET / "jobs-d" / "build.json").read_text())
    assert built["built-by"]["name"] == "t1"
    assert built["built-by"]["identity"] == "CN=t1,O=Kronos test", built["built-by"]
    assert plain.returncode != 0 and "Traceback" not in plain.stderr, plain.stderr[-2000:]
    assert not (project / "out-tls-plain" / TARGET / "jobs-d").exists()


def _state(root: Path) -> dict[str, bytes]:
    """out/ and the ledgers, file by file (the log of the stopped build and the lock files aside, as
    tests/integration/test_interrupt.py)."""
    out = root / "out-stop"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != "logs" and not p.name.endswith(".lock")}


def test_the_scheduler_gone_mid_run_is_one_line_and_exit_2(dask: Cluster) -> None:
    first = on_dask(dask, "--only", "jobs-a", out="out-stop")  # something in out/ that must stay as it was
    assert first.returncode == 0, first.stderr[-3000:]
    before = _state(dask.root)
    proc = subprocess.Popen([str(KRONOS), "build", "--target", TARGET, "--only", "jobs-stuck", "--executor",
                             "dask", "--scheduler", dask.address], cwd=dask.root,
                            env=project_env(dask.root, KRONOS_OUTPUT_DIR=str(dask.root / "out-stop")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        worker = _wait_building(dask, "jobs-stuck", proc)
        assert dask.scheduler is not None
        dask.kill(dask.scheduler, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out[-3000:] + err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("kronos: error:")]
    assert errors == [err.strip().splitlines()[-1]] and len(errors) == 1, err
    assert f"the Dask scheduler at {dask.address} went away mid-run" in errors[0], err
    assert "Traceback" not in err
    assert _state(dask.root) == before  # nothing half-written: no output, no ledger entry, no staging
    assert not (dask.root / "out-stop" / TARGET / "jobs-stuck").exists()
    # the worker lost its scheduler: it stops, and its build container goes with it
    deadline = time.monotonic() + 120
    while _job_containers(dask, "jobs-stuck")[worker] and time.monotonic() < deadline:
        time.sleep(1)
    assert not _job_containers(dask, "jobs-stuck")[worker], (dask.logs / f"worker-{worker}.log").read_text()[-3000:]
