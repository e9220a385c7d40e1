"""The siblings' repository on the host: real gpg, real gpgv, python-debian to read what was written
(apt's own verification in containers is in tests/integration/test_build_deps.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from debian.deb822 import Deb822, Packages, Release

from kronos import sibling_repo


def tiny_deb(dest: Path, name: str, version: str) -> Path:
    tree = dest / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.invalid>\n"
        "Description: tiny\n a test package.\n")
    out = dest / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)], check=True,
                   capture_output=True)
    return out


def gpgv(keyring: Path, signed: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["gpgv", "--keyring", str(keyring), str(signed)], capture_output=True, check=False)


def test_repository_is_signed_indexed_and_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_NOW", "1767225600")
    debs = (tiny_deb(tmp_path / "a", "hello", "1.0-1"), tiny_deb(tmp_path / "b", "libhello", "1.0-1"))
    local = sibling_repo.make(debs, tmp_path / "local")
    repo = local / "repo"
    assert sorted(p.name for p in repo.iterdir()) == [
        "InRelease", "Packages", "Release", "hello_1.0-1_all.deb", "libhello_1.0-1_all.deb"]
    packages = list(Packages.iter_paragraphs((repo / "Packages").read_text()))
    assert [(p["Package"], p["Version"], p["Filename"]) for p in packages] == [
        ("hello", "1.0-1", "./hello_1.0-1_all.deb"), ("libhello", "1.0-1", "./libhello_1.0-1_all.deb")]
    assert packages[0]["SHA256"] == hashlib.sha256(debs[0].read_bytes()).hexdigest()
    release = Release((repo / "Release").read_text())
    assert release["Origin"] == "kronos-local-siblings" and release["Label"]
    assert release["Date"] == "Thu, 01 Jan 2026 00:00:00 UTC"
    data = (repo / "Packages").read_bytes()
    assert release["SHA256"] == [{"sha256": hashlib.sha256(data).hexdigest(), "size": str(len(data)),
                                  "name": "Packages"}]
    # InRelease: the Release, clearsigned by the key exported next to it
    keyring = local / "kronos-local.pgp"
    assert gpgv(keyring, repo / "InRelease").returncode == 0
    inrelease = (repo / "InRelease").read_text()
    assert (repo / "Release").read_text() in inrelease
    (repo / "InRelease").write_text(inrelease.replace("Packages", "Packagez"))
    assert gpgv(keyring, repo / "InRelease").returncode != 0
    # exactly one public key, no secret part
    listing = subprocess.run(["gpg", "--show-keys", "--with-colons", str(keyring)], capture_output=True,
                             text=True, check=True).stdout
    assert [ln.split(":")[0] for ln in listing.splitlines() if ln.split(":")[0] in ("pub", "sec")] == ["pub"]
    sources = Deb822((local / "kronos-local.sources").read_text())
    assert dict(sources) == {"Types": "deb", "URIs": "file:/kronos/local/repo", "Suites": "./",
                             "Signed-By": "/kronos/local/kronos-local.pgp"}
    pref = Deb822((local / "kronos-local.pref").read_text())
    assert dict(pref) == {"Package": "*", "Pin": "release o=kronos-local-siblings", "Pin-Priority": "1001"}


def test_every_run_gets_another_key(tmp_path: Path) -> None:
    deb = (tiny_deb(tmp_path / "a", "hello", "1.0-1"),)
    one = sibling_repo.make(deb, tmp_path / "one")
    two = sibling_repo.make(deb, tmp_path / "two")
    assert (one / "kronos-local.pgp").read_bytes() != (two / "kronos-local.pgp").read_bytes()
    assert gpgv(one / "kronos-local.pgp", two / "repo" / "InRelease").returncode != 0


def test_ephemeral_home_and_agent_are_gone_after_the_block() -> None:
    with sibling_repo.gpg_ephemeral_context() as home:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "t <t@example.invalid>",
                        "ed25519", "sign", "1d"], env=dict(os.environ, GNUPGHOME=str(home)), check=True,
                       capture_output=True)
        real = home.resolve()
        assert len(str(home)) < 80 and any(real.iterdir())
        agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {real}"], capture_output=True, text=True)
        assert agents.stdout.strip(), "gpg started an agent in the home"
    assert not real.exists()
    agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {real}"], capture_output=True, text=True)
    assert not agents.stdout.strip()
