"""kronos upload end to end: a real build and publish, then signed source-only uploads, checked with
gpgv, dscverify and lintian in a clean container; sent with dput-ng's local method (no server here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.deb822 import BuildInfo, Changes

from kronos import images
from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.engine import get_engine
from kronos.upload import UploadError, verify
from kronos.upload.check import lintian

from .conftest import ROOT, kronos

pytestmark = pytest.mark.integration

MAINTAINER = "Kronos Test Uploader <uploads@kronos.invalid>"  # lintian: bogus-mail-host for @localhost
SID = "python-xenapi_26.21.1-1"
NOBLE = "python-xenapi_26.21.1-1~ubuntu24.04.1"


@dataclass
class Project:
    out: Path
    gnupghome: Path
    repo_config: Path  # a copy of repo/repository.toml
    env: dict[str, str]

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return kronos(*args, env=dict(self.env, **extra))

    def artefacts(self, target: str, name: str) -> Path:
        return self.out / "uploads" / target / name


def _must(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    tmp = tmp_path_factory.mktemp("upload")
    repo_config = tmp / "repository.toml"
    shutil.copyfile(ROOT / "repo" / "repository.toml", repo_config)
    gnupghome = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))  # short: gpg-agent's socket path
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRONOS_", "DEBEMAIL", "DEBFULLNAME")) or k == "KRONOS_DEBUG"}
    env.update(KRONOS_ROOT=str(ROOT), KRONOS_OUTPUT_DIR=str(tmp / "out"), KRONOS_REPO_PATH=str(tmp / "public"),
               KRONOS_GNUPGHOME=str(gnupghome), KRONOS_REPO_CONFIG=str(repo_config),
               KRONOS_MAINTAINER_NAME="Kronos Test Uploader", KRONOS_MAINTAINER_EMAIL="uploads@kronos.invalid")
    p = Project(tmp / "out", gnupghome, repo_config, env)
    try:
        _must(p.run("build", "--target", "sid", "--only", "python3-xenapi"), "kronos build --target sid")
        _must(p.run("publish", "--target", "sid"), "kronos publish --target sid")
        yield p
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(gnupghome)), check=False)
        shutil.rmtree(gnupghome, ignore_errors=True)


@pytest.fixture(scope="module")
def dry_run(project: Project) -> Path:
    """The first dry run; its .changes."""
    proc = project.run("upload", "--target", "sid", "--dry-run")
    _must(proc, "kronos upload --target sid --dry-run")
    changes = Path(proc.stdout.strip().splitlines()[-1])
    assert changes == project.artefacts("sid", SID) / f"{SID}_source.changes"
    return changes


def _changes(path: Path) -> Changes:
    with path.open() as f:
        return Changes(f)


def _ok(argv: list[str]) -> str:
    with tempfile.TemporaryDirectory(prefix="kv") as home:
        proc = subprocess.run(argv, env=dict(os.environ, GNUPGHOME=home, HOME=home), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def test_dry_run_makes_a_signed_source_only_upload(project: Project, dry_run: Path) -> None:
    ch = _changes(dry_run)
    assert ch["Architecture"] == "source" and ch["Distribution"] == "unstable" and ch["Version"] == "26.21.1-1"
    assert ch["Changed-By"] == MAINTAINER
    names = {e["name"] for e in ch["Files"]}
    assert names == {f"{SID}.dsc", f"{SID}.debian.tar.xz", "python-xenapi_26.21.1.orig.tar.gz",
                     f"{SID}_source.buildinfo"}  # -sa: the .orig is included; no .deb
    d = dry_run.parent
    keyring = d / "uploader-keyring.pgp"
    for f in (dry_run, d / f"{SID}.dsc", d / f"{SID}_source.buildinfo"):
        assert f.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
        _ok(["gpgv", "--keyring", str(keyring), str(f)])
    _ok(["dscverify", "--no-conf", "--no-default-keyrings", "--keyring", str(keyring), str(dry_run)])
    # like debsign: the .buildinfo names the signed .dsc
    with (d / f"{SID}_source.buildinfo").open() as fh:
        info = BuildInfo(fh)
    assert info["Architecture"] == "source"
    assert info["Checksums-Sha256"][0]["size"] == str((d / f"{SID}.dsc").stat().st_size)
    # the uploader key is the maintainer's development key, made in the repository's GnuPG home
    uids = _ok(["gpg", "--with-colons", "--show-keys", str(keyring)])
    assert f"::{MAINTAINER}::" in uids
    assert "lintian --fail-on error" in (d / "lintian.log").read_text()
    assert not list(d.glob("*.json"))  # no profile configured: none written
    assert not (project.out / "ledger" / "uploads" / "sid.json").exists()  # a dry run records nothing


def test_a_second_dry_run_works_too(project: Project, dry_run: Path) -> None:
    proc = project.run("upload", "--target", "sid", "--dry-run")
    _must(proc, "the second dry run")
    assert Path(proc.stdout.strip().splitlines()[-1]) == dry_run
    assert not list(dry_run.parent.parent.glob(".*"))  # no staging directories left


def test_a_real_upload_needs_a_configured_host(project: Project, dry_run: Path) -> None:
    proc = project.run("upload", "--target", "sid")
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1].startswith(
        "kronos: error: no upload host configured for sid in repo/repository.toml [upload.profiles.sid]")


def test_backport_targets_are_not_upload_targets(project: Project) -> None:
    proc = project.run("upload", "--target", "bookworm", "--dry-run")
    assert proc.returncode == 1
    assert ("kronos: error: 'bookworm' is not an upload target (allowed: sid, noble, resolute;"
            in proc.stdout.strip().splitlines()[-1])


def test_only_what_the_repository_serves_is_uploaded(project: Project, tmp_path: Path) -> None:
    proc = project.run("upload", "--target", "sid", "--dry-run", KRONOS_REPO_PATH=str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "kronos: error: publish first: python-xenapi 26.21.1-1 (sid)" in proc.stdout


def test_the_key_must_match_changed_by(project: Project) -> None:
    listing = _ok(["gpg", "--homedir", str(project.gnupghome), "--with-colons", "--list-secret-keys",
                   "development archive key"])
    archive_key = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))
    subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(project.gnupghome)), check=False)
    proc = project.run("upload", "--target", "sid", "--dry-run", KRONOS_UPLOAD_KEY=archive_key)
    assert proc.returncode == 1
    line = proc.stdout.strip().splitlines()[-1]
    assert f"uploader key {archive_key} has no UID matching Changed-By '{MAINTAINER}'" in line


def test_tampering_is_detected(dry_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "upload"
    shutil.copytree(dry_run.parent, copy)
    changes = copy / dry_run.name
    keyring = copy / "uploader-keyring.pgp"
    verify(changes, keyring, "unstable")
    with pytest.raises(UploadError, match="Distribution is 'unstable', the target wants 'noble'"):
        verify(changes, keyring, "noble")
    orig = copy / "python-xenapi_26.21.1.orig.tar.gz"
    good = orig.read_bytes()
    orig.write_bytes(good + b"\0")
    with pytest.raises(UploadError, match="dscverify rejects"):
        verify(changes, keyring, "unstable")
    orig.write_bytes(good)
    text = changes.read_text()
    changes.write_text(text.replace("Urgency: medium", "Urgency: high"))
    with pytest.raises(UploadError, match=f"signature check failed for {changes}"):
        verify(changes, keyring, "unstable")


def test_lintian_errors_fail_the_check(project: Project, dry_run: Path, tmp_path: Path) -> None:
    """The upload's .changes with a bogus Changed-By address (lintian does not check signatures)."""
    copy = tmp_path / "upload"
    shutil.copytree(dry_run.parent, copy)
    changes = copy / dry_run.name
    ch = _changes(changes)
    ch["Changed-By"] = "Kronos Builder <kronos@localhost>"
    changes.write_text(ch.dump())
    settings = load_settings(ROOT, env=project.env)
    engine = get_engine()
    image = images.ensure(settings, engine, Archives(settings, Cache(settings.cache_dir)), settings.target("sid"))
    result = lintian(engine, image, changes, tmp_path / "lintian.log")
    assert not result.ok and result.log == tmp_path / "lintian.log"
    assert "bogus-mail-host Changed-By kronos@localhost" in result.summary


def test_upload_with_dput_local_records_and_refuses_a_repeat(project: Project, dry_run: Path,
                                                             tmp_path: Path) -> None:
    """dput-ng's local method copies the upload into a directory: the whole path without a server."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    config = tmp_path / "repository.toml"
    config.write_text(project.repo_config.read_text()
                      + f'\n[upload.profiles.sid]\nmethod = "local"\nincoming = "{incoming}"\n')
    proc = project.run("upload", "--target", "sid", KRONOS_REPO_CONFIG=str(config))
    _must(proc, "kronos upload --target sid (dput local)")
    changes = Path(proc.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in incoming.iterdir()) == sorted(
        [changes.name] + [e["name"] for e in _changes(changes)["Files"]])
    prof = json.loads((changes.parent / "kronos-sid.json").read_text())
    assert prof["method"] == "local" and prof["meta"] == "debian" and prof["allow_unsigned_uploads"] is False
    ledger = project.out / "ledger" / "uploads" / "sid.json"
    assert json.loads(ledger.read_text()) == {"python-xenapi": ["26.21.1-1"]}
    again = project.run("upload", "--target", "sid", "--dry-run", KRONOS_REPO_CONFIG=str(config))
    assert again.returncode == 1
    assert "kronos: error: python-xenapi 26.21.1-1 was already uploaded to sid" in again.stdout


def test_noble_dry_run(project: Project) -> None:
    _must(project.run("build", "--target", "noble", "--only", "python3-xenapi"), "kronos build --target noble")
    _must(project.run("publish", "--target", "noble"), "kronos publish --target noble")
    proc = project.run("upload", "--target", "noble", "--dry-run")
    _must(proc, "kronos upload --target noble --dry-run")
    changes = Path(proc.stdout.strip().splitlines()[-1])
    assert changes == project.artefacts("noble", NOBLE) / f"{NOBLE}_source.changes"
    ch = _changes(changes)
    assert ch["Distribution"] == "noble" and ch["Architecture"] == "source" and ch["Changed-By"] == MAINTAINER
    assert ch["Version"] == "26.21.1-1~ubuntu24.04.1"
    _ok(["dscverify", "--no-conf", "--no-default-keyrings", "--keyring",
         str(changes.parent / "uploader-keyring.pgp"), str(changes)])
