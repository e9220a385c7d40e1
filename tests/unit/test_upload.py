"""kronos upload without Docker: version order, the ledger, UID/Changed-By, profiles, control-file sums."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from debian.deb822 import BuildInfo, Changes

from kronos.config import Settings, load_settings
from kronos.publish.settings import RepoSettings, load_repo_settings
from kronos.recipe import load_recipes
from kronos.upload import UploadError, upload
from kronos.upload.artefacts import BUILDINFO_SUMS, CHANGES_SUMS, prepare, read_changes, refresh_checksums, source_only
from kronos.upload.check import INSTALL_LINTIAN, lintian_files, lintian_script
from kronos.upload.dput import profile
from kronos.upload.ledger import UploadLedger, require_newer
from kronos.upload.plan import Candidate, orig_in_archive, require_published, require_upload_target, uploadable
from kronos.upload.uploader import require_uid, uid_matches

ROOT = Path(__file__).resolve().parents[2]

CHANGES = """\
Format: 1.8
Source: hello
Architecture: source
Version: 1.0-1
Distribution: unstable
Maintainer: A Maintainer <a@example.org>
Changed-By: A Maintainer <a@example.org>
Changes:
 hello (1.0-1) unstable; urgency=medium
Checksums-Sha1:
 0000000000000000000000000000000000000000 1 hello_1.0-1.dsc
 1111111111111111111111111111111111111111 2 hello_1.0.orig.tar.gz
Checksums-Sha256:
 0000000000000000000000000000000000000000000000000000000000000000 1 hello_1.0-1.dsc
 1111111111111111111111111111111111111111111111111111111111111111 2 hello_1.0.orig.tar.gz
Files:
 00000000000000000000000000000000 1 devel optional hello_1.0-1.dsc
 11111111111111111111111111111111 2 devel optional hello_1.0.orig.tar.gz
"""

BUILDINFO = """\
Format: 1.0
Source: hello
Architecture: source
Version: 1.0-1
Checksums-Md5:
 00000000000000000000000000000000 1 hello_1.0-1.dsc
Checksums-Sha1:
 0000000000000000000000000000000000000000 1 hello_1.0-1.dsc
Checksums-Sha256:
 0000000000000000000000000000000000000000000000000000000000000000 1 hello_1.0-1.dsc
Build-Architecture: amd64
"""


# -- strictly increasing versions -------------------------------------------------------------------

@pytest.mark.parametrize("history, version", [
    ([], "1.0-1"),
    (["1.0-1"], "1.0-2"),
    (["1.0-1+kronos1"], "1.0-1+kronos2"),
    (["26.21.1-1~ubuntu24.04.1"], "26.21.1-1~ubuntu24.04.2"),
    (["26.21.1-1~ubuntu24.04.1"], "26.21.1-1"),  # ~ sorts before the end of the string
    (["1.0-9", "1.0-10"], "1.0-11"),  # dpkg order, not string order
    (["1:0.1-1", "2.0-1"], "1:0.2-1"),  # an epoch beats everything without one
])
def test_newer_versions_are_accepted(history: list[str], version: str) -> None:
    require_newer(history, "hello", version, "sid")


@pytest.mark.parametrize("history, version, why", [
    (["1.0-1"], "1.0-1", "was already uploaded"),
    (["1.0-2"], "1.0-1", "is older than 1.0-2"),
    (["26.21.1-1"], "26.21.1-1~ubuntu24.04.9", "is older than 26.21.1-1"),
    (["1.0-10", "1.0-9"], "1.0-9", "is older than 1.0-10"),
    (["1:0.1-1"], "9.9-1", "is older than 1:0.1-1"),
])
def test_older_or_equal_versions_are_refused(history: list[str], version: str, why: str) -> None:
    with pytest.raises(UploadError) as e:
        require_newer(history, "hello", version, "noble")
    msg = str(e.value)
    assert why in msg and f"hello {version}" in msg and "noble" in msg and "\n" not in msg


def test_ledger_records_reloads_and_refuses_a_repeat(tmp_path: Path) -> None:
    ledger = UploadLedger.for_target(tmp_path, "sid")
    assert ledger.path == tmp_path / "ledger" / "uploads" / "sid.json"
    assert not ledger.path.exists() and ledger.last("hello") is None
    ledger.record("hello", "1.0-1")
    ledger.record("hello", "1.0-2")
    ledger.record("other", "0.1-1")
    again = UploadLedger.for_target(tmp_path, "sid")
    assert json.loads(ledger.path.read_text()) == {"hello": ["1.0-1", "1.0-2"], "other": ["0.1-1"]}
    assert again.last("hello") == "1.0-2"
    with pytest.raises(UploadError, match="already uploaded to sid"):
        again.record("hello", "1.0-2")
    assert json.loads(ledger.path.read_text())["hello"] == ["1.0-1", "1.0-2"]  # nothing written
    assert [p.name for p in ledger.path.parent.iterdir() if p.name.startswith(".")] == []  # no temp files
    UploadLedger.for_target(tmp_path, "noble").require_newer("hello", "1.0-1")  # per target


def test_ledger_lock_reloads_what_another_run_wrote(tmp_path: Path) -> None:
    first = UploadLedger.for_target(tmp_path, "sid")
    second = UploadLedger.for_target(tmp_path, "sid")
    first.record("hello", "1.0-1")
    with second.locked(), pytest.raises(UploadError):
        second.require_newer("hello", "1.0-1")


# -- the key's UID and Changed-By -------------------------------------------------------------------

@pytest.mark.parametrize("uid, changed_by, ok", [
    ("Kronos Builder <kronos@localhost>", "Kronos Builder <kronos@localhost>", True),
    ("Kronos Builder <Kronos@LocalHost>", "Kronos Builder <kronos@localhost>", True),
    ("Kronos  Builder <kronos@localhost>", "Kronos Builder <kronos@localhost>", True),
    ("Someone Else <kronos@localhost>", "Kronos Builder <kronos@localhost>", False),
    ("Kronos Builder <other@localhost>", "Kronos Builder <kronos@localhost>", False),
    ("Kronos development archive key <kronos@localhost>", "Kronos Builder <kronos@localhost>", False),
    ("", "", False),
])
def test_uid_matches_changed_by(uid: str, changed_by: str, ok: bool) -> None:
    assert uid_matches(uid, changed_by) is ok


def test_signing_is_refused_without_a_matching_uid() -> None:
    require_uid(["Old <old@example.org>", "A Maintainer <a@example.org>"], "A Maintainer <a@example.org>", "ABCD")
    with pytest.raises(UploadError) as e:
        require_uid(["Old <old@example.org>"], "A Maintainer <a@example.org>", "ABCD1234")
    msg = str(e.value)
    assert "ABCD1234" in msg and "Changed-By 'A Maintainer <a@example.org>'" in msg and "Old <old@example.org>" in msg


# -- control files ----------------------------------------------------------------------------------

def test_refresh_checksums_updates_only_the_named_files(tmp_path: Path) -> None:
    dsc = tmp_path / "hello_1.0-1.dsc"
    dsc.write_bytes(b"-----BEGIN PGP SIGNED MESSAGE-----\nsigned dsc\n")
    data = dsc.read_bytes()
    changes = Changes(CHANGES)
    refresh_checksums(changes, CHANGES_SUMS, [dsc])
    parsed = Changes(changes.dump())
    files = {e["name"]: e for e in parsed["Files"]}
    assert files[dsc.name]["md5sum"] == hashlib.md5(data).hexdigest()
    assert files[dsc.name]["size"] == str(len(data))
    assert files[dsc.name]["section"] == "devel" and files[dsc.name]["priority"] == "optional"
    assert {e["name"]: e["sha1"] for e in parsed["Checksums-Sha1"]}[dsc.name] == hashlib.sha1(data).hexdigest()
    assert {e["name"]: e["sha256"] for e in parsed["Checksums-Sha256"]}[dsc.name] == hashlib.sha256(data).hexdigest()
    assert files["hello_1.0.orig.tar.gz"]["md5sum"] == "1" * 32  # untouched
    info = BuildInfo(BUILDINFO)
    refresh_checksums(info, BUILDINFO_SUMS, [dsc])
    parsed_info = BuildInfo(info.dump())
    assert parsed_info["Checksums-Md5"][0]["md5"] == hashlib.md5(data).hexdigest()
    assert parsed_info["Checksums-Sha256"][0]["size"] == str(len(data))
    assert parsed_info["Build-Architecture"] == "amd64"


def test_source_only_and_distribution_checks(tmp_path: Path) -> None:
    path = tmp_path / "hello_1.0-1_source.changes"
    source_only(Changes(CHANGES), path, "unstable")
    with pytest.raises(UploadError, match="Distribution is 'unstable', the target wants 'noble'"):
        source_only(Changes(CHANGES), path, "noble")
    binary = Changes(CHANGES)
    binary["Architecture"] = "source all"
    with pytest.raises(UploadError, match="not a source-only upload"):
        source_only(binary, path, "unstable")
    with_deb = Changes(CHANGES.replace("hello_1.0.orig.tar.gz", "hello_1.0-1_all.deb"))
    with pytest.raises(UploadError, match="hello_1.0-1_all.deb"):
        source_only(with_deb, path, "unstable")


# -- dput-ng profile --------------------------------------------------------------------------------

def test_profile_from_configuration() -> None:
    p = profile({"fqdn": "upload.invalid", "method": "ftp", "incoming": "/queue/", "passive_ftp": "true"},
                "sid", "debian", "F" * 40)
    assert p["fqdn"] == "upload.invalid" and p["method"] == "ftp" and p["incoming"] == "/queue/"
    assert p["meta"] == "debian" and p["allow_unsigned_uploads"] is False and p["passive_ftp"] is True
    assert p["gpg"] == {"allowed_keys": ["F" * 40]} and p["hash"] == "sha256"
    assert profile({"method": "local", "incoming": "/srv/in"}, "noble", "ubuntu", "F" * 40)["meta"] == "ubuntu"
    assert profile({"method": "ftp", "incoming": "/", "fqdn": "h.invalid", "meta": "boring"}, "sid", "debian",
                   "F" * 40)["meta"] == "boring"  # the configuration wins


@pytest.mark.parametrize("configured, why", [
    ({"method": "ftp", "incoming": "/queue/"}, "[upload.profiles.sid]: 'fqdn' is required"),
    ({"fqdn": "h.invalid", "incoming": "/queue/"}, "'method' is required"),
    ({"fqdn": "h.invalid", "method": "ftp"}, "'incoming' is required"),
    ({"fqdn": "h.invalid", "method": "ftp", "incoming": "/", "allow_unsigned_uploads": "true"}, "always signed"),
    ({"fqdn": "h.invalid", "method": "ftp", "incoming": "/", "passive_ftp": "yes"}, "not true or false"),
])
def test_bad_profiles_are_refused(configured: dict[str, str], why: str) -> None:
    with pytest.raises(UploadError) as e:
        profile(configured, "sid", "debian", "F" * 40)
    assert why in str(e.value)


# -- planning ---------------------------------------------------------------------------------------

def test_only_our_recipes_and_own_suite_rebuilds_are_uploaded() -> None:
    s = load_settings(ROOT, env={})
    recipes = load_recipes(s)
    sid, noble, bookworm = s.target("sid"), s.target("noble"), s.target("bookworm")
    assert uploadable(recipes["python3-xenapi"], sid) and not orig_in_archive(recipes["python3-xenapi"], sid)
    # backports of another suite's source
    assert not uploadable(recipes["dh-ocaml"], bookworm) and not uploadable(recipes["quickjs"], bookworm)
    # noble's xen is a rebuild of noble's own source: a PPA takes it, without the orig the archive has
    assert uploadable(recipes["xen"], noble) and orig_in_archive(recipes["xen"], noble)


def test_upload_targets_and_published_versions() -> None:
    require_upload_target(("sid", "noble", "resolute"), "noble")
    with pytest.raises(UploadError, match=r"'bookworm' is not an upload target \(allowed: sid, noble, resolute"):
        require_upload_target(("sid", "noble", "resolute"), "bookworm")
    c = Candidate("python3-xenapi", "python-xenapi", "26.21.1-1", Path("x.dsc"))
    served = [("python-xenapi", "26.21.1-1", "source"), ("python3-xenapi", "26.21.1-1", "all")]
    require_published([c], served, "sid")
    with pytest.raises(UploadError) as e:
        require_published([c], [("python-xenapi", "26.21.1-0", "source")], "sid")
    msg = str(e.value)
    assert msg.startswith("publish first: python-xenapi 26.21.1-1 (sid)") and "serves 26.21.1-0" in msg
    with pytest.raises(UploadError, match="does not serve it"):
        require_published([c], [("python3-xenapi", "26.21.1-1", "all")], "sid")  # a binary is not the source


def test_lintian_runs_unprivileged_and_fails_on_errors() -> None:
    script = lintian_script("hello_1.0-1_source.changes")
    assert "apt-get install -y -q --no-install-recommends lintian" in INSTALL_LINTIAN  # the cached layer
    assert "apt-get" not in script  # the check itself runs offline
    assert "runuser -u builder -- env HOME=/home/builder lintian --fail-on error hello_1.0-1_source.changes" in script


# -- refusals before anything is made (no Docker, no gpg) ----------------------------------------------

def _settings(tmp_path: Path) -> tuple[Settings, RepoSettings]:
    config = tmp_path / "repository.toml"
    config.write_text('[repository]\nname = "kronos"\n[upload]\ntargets = ["sid", "noble", "resolute"]\n')
    env = {"KRONOS_OUTPUT_DIR": str(tmp_path / "out"), "KRONOS_REPO_PATH": str(tmp_path / "repo"),
           "KRONOS_GNUPGHOME": str(tmp_path / "g"), "KRONOS_REPO_CONFIG": str(config)}
    return load_settings(ROOT, env=env), load_repo_settings(ROOT, env=env)


def test_upload_refuses_early(tmp_path: Path) -> None:
    settings, repo = _settings(tmp_path)
    with pytest.raises(UploadError, match="'bookworm' is not an upload target"):
        upload(settings, repo, "bookworm", True)
    with pytest.raises(UploadError, match=r"no upload host configured for sid in repo/repository.toml"
                                          r" \[upload.profiles.sid\]"):
        upload(settings, repo, "sid", False)
    with pytest.raises(UploadError, match="nothing to upload for noble: no build output of python3-xenapi"):
        upload(settings, repo, "noble", True)
    assert not (tmp_path / "out").exists() and not (tmp_path / "g").exists()  # nothing made


def _quilt_source(tmp: Path) -> Path:
    """A real 3.0 (quilt) source package (orig + debian tarball) made by dpkg-source -b; its .dsc."""
    tree = tmp / "hello-1.0"
    (tree / "debian" / "source").mkdir(parents=True)
    (tree / "README").write_text("hello\n")
    (tree / "debian" / "source" / "format").write_text("3.0 (quilt)\n")
    (tree / "debian" / "changelog").write_text(
        "hello (1.0-1ubuntu1+kronos1) noble; urgency=medium\n\n  * x\n\n"
        " -- Kronos Test Uploader <uploads@kronos.invalid>  Mon, 07 Dec 2026 00:00:00 +0000\n")
    (tree / "debian" / "control").write_text(
        "Source: hello\nMaintainer: Kronos Test Uploader <uploads@kronos.invalid>\nStandards-Version: 4.6.2\n\n"
        "Package: hello\nArchitecture: all\nDescription: x\n y\n")
    subprocess.run(["tar", "-czf", str(tmp / "hello_1.0.orig.tar.gz"), "-C", str(tmp), "--exclude=debian",
                    "hello-1.0"], check=True)
    subprocess.run(["dpkg-source", "-b", "hello-1.0"], cwd=tmp, check=True, capture_output=True)
    return tmp / "hello_1.0-1ubuntu1+kronos1.dsc"


@pytest.mark.parametrize("in_archive", [True, False])
def test_an_upload_of_the_targets_own_source_leaves_the_orig_out(tmp_path: Path, in_archive: bool) -> None:
    """-sd for a rebuild of the target's own source (the archive has the orig), -sa otherwise; lintian is
    handed the orig either way (its source checks unpack the .dsc)."""
    dsc = _quilt_source(tmp_path / "src")
    c = Candidate("hello", "hello", "1.0-1ubuntu1+kronos1", dsc, orig_in_archive=in_archive)
    (tmp_path / "work").mkdir()
    a = prepare(c, "Kronos Test Uploader <uploads@kronos.invalid>", tmp_path / "up", tmp_path / "work")
    listed = {e["name"] for e in read_changes(a.changes)["Files"]}
    assert ("hello_1.0.orig.tar.gz" in listed) is not in_archive
    assert {"hello_1.0-1ubuntu1+kronos1.dsc", "hello_1.0-1ubuntu1+kronos1.debian.tar.xz"} <= listed
    assert (a.directory / "hello_1.0.orig.tar.gz") in lintian_files(a.changes)
