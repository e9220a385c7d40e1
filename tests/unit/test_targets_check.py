"""`kronos targets --check`: each suite a target reads is downloaded and verified now, a line each;
a suite that is not there, or does not verify, fails the command with one line naming it. A real
signed mirror on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .release_keys import NOW, Mirror, signed_mirror

KRONOS = Path(sys.executable).with_name("kronos")
SUITE = "kronosprobe"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    with signed_mirror(tmp_path_factory.mktemp("probe"), SUITE, "Probe Signer <probe@example.invalid>") as m:
        m.sign(NOW - 3600)
        yield m


def _project(tmp_path: Path, mirror: Mirror, keyring: Path, pockets: list[str]) -> dict[str, str]:
    (tmp_path / "kronos.toml").write_text(
        f'[kronos]\ndefault_targets = ["probed"]\n'
        f'[archives.loop]\nfamily = "debian"\nmirror = "{mirror.url}"\nkeyring = "{keyring}"\nsnapshot = true\n'
        f'[targets.probed]\narchive = "loop"\nsuite = "{SUITE}"\npockets = {pockets!r}\n'
        'components = ["main"]\nversion_suffix = "+probe{n}"\nrebuild_suffix = "+probe{n}"\n'.replace("'", '"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_")}
    return dict(env, KRONOS_ROOT=str(tmp_path), KRONOS_CACHE_DIR=str(tmp_path / "cache"),
                KRONOS_DOWNLOAD_ATTEMPTS="1")


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KRONOS), "targets", "--check", *args], env=env, cwd=env["KRONOS_ROOT"],
                          text=True, capture_output=True, check=False)


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("probed ")]


def test_a_reachable_target_is_one_ok_line_per_suite(tmp_path: Path, mirror: Mirror) -> None:
    proc = _check(_project(tmp_path, mirror, mirror.keyring, []), "--target", "probed")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = _lines(proc.stdout)
    assert line.split()[:2] == ["probed", SUITE]
    assert "ok, dated" in line and mirror.url in line


def test_a_missing_pocket_fails_with_its_name(tmp_path: Path, mirror: Mirror) -> None:
    proc = _check(_project(tmp_path, mirror, mirror.keyring, ["kronosprobe-gone"]))
    assert proc.returncode == 1
    ok, gone = _lines(proc.stdout)
    assert "ok, dated" in ok
    assert gone.split()[:2] == ["probed", "kronosprobe-gone"]
    assert "FAILED: kronosprobe-gone InRelease: cannot download" in gone and "HTTP 404" in gone
    assert proc.stderr.strip().splitlines()[-1] == (
        "kronos: error: 1 suite(s) could not be reached or verified: probed kronosprobe-gone")
    assert "Traceback" not in proc.stderr


def test_a_wrong_keyring_fails_the_check(tmp_path: Path, mirror: Mirror) -> None:
    empty = tmp_path / "empty.gpg"
    empty.write_bytes(b"")
    proc = _check(_project(tmp_path, mirror, empty, []))
    assert proc.returncode == 1
    [line] = _lines(proc.stdout)
    assert "FAILED:" in line and "no good signature" in line


def test_an_unknown_target_is_refused(tmp_path: Path, mirror: Mirror) -> None:
    proc = _check(_project(tmp_path, mirror, mirror.keyring, []), "--target", "nowhere")
    assert proc.returncode == 2
    assert proc.stderr.startswith("kronos: error: unknown target 'nowhere' (configured: ")
    assert "Traceback" not in proc.stderr
