"""`kronos smoke` bad input that needs no QEMU: one line, non-zero exit, no traceback, no QEMU left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from .smoke_fixture import publish, settings, stack

ROOT = Path(__file__).resolve().parents[2]
KRONOS = Path(sys.executable).with_name("kronos")


def _kronos(project: Path, repo: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_")}
    if path is not None:
        env["PATH"] = path
    env.update(KRONOS_ROOT=str(project), KRONOS_REPO_CONFIG=str(ROOT / "repo" / "repository.toml"),
               KRONOS_REPO_PATH=str(repo), KRONOS_CACHE_DIR=str(project / ".cache"),
               KRONOS_OUTPUT_DIR=str(project / "out"))
    return subprocess.run([str(KRONOS), "smoke", *args], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_no_xen_in_the_repository(tmp_path: Path) -> None:
    packages = stack()
    del packages["xen-hypervisor-4.17-amd64"]
    repo = publish(tmp_path / "repo", packages)
    settings(tmp_path / "project")
    line = _one_line(_kronos(tmp_path / "project", repo))
    assert line.startswith(f"kronos: error: no xen in the repository {repo} (suite bookworm"), line
    times = tmp_path / "project/out/smoke/bookworm/latest/times.json"
    assert times.is_file(), "a failed run still records its stage times"


def test_no_published_repository(tmp_path: Path) -> None:
    settings(tmp_path / "project")
    line = _one_line(_kronos(tmp_path / "project", tmp_path / "nothing"))
    assert line == (f"kronos: error: no published suite bookworm in {tmp_path / 'nothing'}"
                    f" ({tmp_path / 'nothing/dists/bookworm/Release'} is missing); run kronos publish"), line


def test_port_in_use_and_a_bad_port(tmp_path: Path) -> None:
    settings(tmp_path / "project")
    repo = publish(tmp_path / "repo", stack())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = _one_line(_kronos(tmp_path / "project", repo, "--port", str(port)))
    assert line == f"kronos: error: port {port} on 127.0.0.1 is in use; choose another with --port"
    line = _one_line(_kronos(tmp_path / "project", repo, "--port", "ssh"))
    assert line == "kronos: error: --port must be a TCP port number, not 'ssh'"


def test_qemu_missing_is_said_before_anything_is_made(tmp_path: Path) -> None:
    settings(tmp_path / "project")
    repo = publish(tmp_path / "repo", stack())
    line = _one_line(_kronos(tmp_path / "project", repo, path=str(tmp_path / "empty")))
    assert line == "kronos: error: qemu-system-x86_64 not found; install qemu-system-x86 (make host does)"
    assert not (tmp_path / "project/.cache/kronos/smoke").exists()


def test_unknown_target_makes_no_run_directory(tmp_path: Path) -> None:
    settings(tmp_path / "project")
    line = _one_line(_kronos(tmp_path / "project", tmp_path / "repo", "--target", "nosuch"))
    assert line.startswith("kronos: error: unknown target 'nosuch'"), line
    assert not (tmp_path / "project/out/smoke/nosuch").exists()
