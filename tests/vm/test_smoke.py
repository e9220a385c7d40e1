"""`kronos smoke` for real: QEMU (TCG) boots our Xen and a PV dom0 from our published repository.

The repository is the test session's own (`published`: every recipe built and published by the session,
as `make test` does), or KRONOS_SMOKE_REPO when set (`make vm` sets it to the checkout's repo/public,
which `make run` publishes). The dom0 image is cached in the download cache like every kronos run; each
test's run directory is its own. Every case also checks that no QEMU of its run is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm

ROOT = Path(__file__).resolve().parents[2]
KRONOS = Path(sys.executable).with_name("kronos")
CHECKS = {"test_xl_info_and_virt_caps", "test_xenstored_is_oxenstored", "test_our_packages_at_our_versions",
          "test_running_hypervisor_is_ours", "test_xenapi_imports",
          "test_guest_boots_and_prints_its_marker", "test_ocaml_bindings_list_the_domains",
          "test_pause_and_unpause", "test_save_and_restore",
          "test_live_migration_to_localhost", "test_destroy_leaves_only_domain0"}


@dataclass
class Run:
    returncode: int
    stderr: str
    out: Path  # KRONOS_OUTPUT_DIR

    @property
    def run_dir(self) -> Path:
        return (self.out / "smoke" / "bookworm" / "latest").resolve()

    @property
    def last_line(self) -> str:
        return self.stderr.strip().splitlines()[-1]


@dataclass(frozen=True)
class Repo:
    path: Path  # the published repository
    builds: Path | None  # the output directory of its builds (xen's build.json), when the session made it


@pytest.fixture(scope="session")
def repo(request: pytest.FixtureRequest) -> Repo:
    given = os.environ.get("KRONOS_SMOKE_REPO")
    if given:
        path = Path(given).resolve()
        if not (path / "dists" / "bookworm" / "Release").is_file():
            pytest.fail(f"KRONOS_SMOKE_REPO={given}: no published bookworm repository there (run `make run`)")
        return Repo(path, None)
    published = request.getfixturevalue("published")
    session = request.getfixturevalue("session")
    return Repo(published.path, session.out)


def _env(repo: Repo, out: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_")}
    env.update(KRONOS_ROOT=str(ROOT), KRONOS_REPO_PATH=str(repo.path), KRONOS_OUTPUT_DIR=str(out), **extra)
    if "KRONOS_CACHE_DIR" in os.environ:  # the test session's download cache (tests/integration/checkout.py)
        env["KRONOS_CACHE_DIR"] = os.environ["KRONOS_CACHE_DIR"]
    return env


def smoke(repo: Repo, out: Path, *args: str, **env: str) -> Run:
    proc = subprocess.run([str(KRONOS), "smoke", "--target", "bookworm", *args], env=_env(repo, out, **env),
                          capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL, check=False)
    return Run(proc.returncode, proc.stderr, out)


def qemu_of(run_dir: Path) -> list[int]:
    """Processes whose command line names the run directory (its QEMU, while it lives)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(run_dir).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_smoke_passes_with_every_artefact(repo: Repo, tmp_path: Path) -> None:
    """The session's own build outputs (xen's build.json: shadow paging on) are the run's output directory."""
    run = smoke(repo, repo.builds or tmp_path / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    d = run.run_dir
    for name in ("serial.log", "qemu.log", "xl-dmesg.txt", "xl-info.txt", "guest-console.log", "junit.xml",
                 "facts.json", "times.json", "checks.log", "context.json"):
        assert (d / name).is_file(), name
    cases = {c.get("name"): c for c in ET.parse(d / "junit.xml").iter("testcase")}
    assert set(cases) == CHECKS
    facts = json.loads((d / "facts.json").read_text())
    assert "pv" in facts["virt_caps"]
    assert facts["shadow_paging"]["source"].startswith("the .config in xen-hypervisor-4.17-amd64 ")
    if facts["shadow_paging"]["on"]:
        assert "shadow" in facts["virt_caps"]
    # the running Xen's own build_id is the build-id note of the hypervisor in our .deb
    assert facts["build_id"]["running"] == facts["build_id"]["ours"] != ""
    if "live-migration" not in facts.get("skipped", {}):
        assert cases["test_live_migration_to_localhost"].find("skipped") is None
        assert facts["migration"] == ["Migration successful."]
        before, after = facts["migration_domids"]
        assert after != before
    for name, case in cases.items():
        assert case.find("failure") is None and case.find("error") is None, name
    times = json.loads((d / "times.json").read_text())
    assert set(times["since_qemu_start"]) == {"xen-banner", "dom0-kernel", "dom0-ssh", "checks-done"}
    assert "Xen version" in (d / "serial.log").read_text(errors="replace")
    assert qemu_of(d) == []


def test_a_dom0_that_never_boots(repo: Repo, tmp_path: Path) -> None:
    run = smoke(repo, tmp_path / "out", KRONOS_SMOKE_DOM0_APPEND="root=/dev/vdz")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.last_line.startswith("kronos: error: smoke stage dom0-ssh: panic in the serial log: ALERT!  /dev/vdz"
                                    " does not exist.  Dropping to a shell!"), run.last_line
    assert run.last_line.endswith(f"(serial log: {run.run_dir / 'serial.log'})")
    assert qemu_of(run.run_dir) == []


def test_qemu_dies_with_a_killed_kronos(repo: Repo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([str(KRONOS), "smoke"], env=_env(repo, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    run_dir = out / "smoke" / "bookworm" / "latest"
    deadline = time.monotonic() + 300
    while not (run_dir / "serial.log").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    qemu = qemu_of(run_dir.resolve())
    assert qemu, "QEMU did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while qemu_of(run_dir.resolve()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert qemu_of(run_dir.resolve()) == [], "QEMU outlived the SIGKILLed kronos"
