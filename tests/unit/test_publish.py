"""The publisher against the checklist, with real gpg and real .debs (no Docker)."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import Packages, Release

from kronos.publish.publisher import Publisher, Upload
from kronos.publish.settings import RepoSettings, load_repo_settings
from kronos.publish.signing import Signer, create_key
from kronos.publish.tree import PublishError

ROOT = Path(__file__).resolve().parents[2]
RFC1123 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d\d:\d\d:\d\d UTC$")


@pytest.fixture(scope="module")
def gnupg() -> Iterator[tuple[Path, str]]:
    home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))
    fpr = create_key(home, "Test Archive <test@localhost>", "")
    yield home, fpr
    subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(home)), check=False)
    shutil.rmtree(home, ignore_errors=True)


def make_deb(tmp: Path, name: str, version: str, payload: bytes = b"x", arch: str = "all") -> Path:
    tree = tmp / f"{name}-{version}-{len(payload)}"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "usr" / "share" / name).mkdir(parents=True)
    (tree / "usr" / "share" / name / "data").write_bytes(payload)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: T <t@localhost>\n"
        f"Description: test package {name}\n"
    )
    out = tmp / f"{name}_{version}_{arch}.deb"
    if out.exists():
        out.unlink()
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def publisher(tmp: Path, gnupg: tuple[Path, str], **env: str) -> tuple[RepoSettings, Publisher]:
    home, fpr = gnupg
    repo = load_repo_settings(ROOT, env={"KRONOS_REPO_PATH": str(tmp / "repo"), "KRONOS_GNUPGHOME": str(home),
                                         "KRONOS_SIGNING_KEYS": fpr, **env})
    return repo, Publisher(repo, lambda: Signer(home, (fpr,), ""), "amd64")


def release(repo: RepoSettings, suite: str) -> Release:
    return Release((repo.path / "dists" / suite / "Release").read_bytes())


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_release_indices_and_signatures(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    repo, pub = publisher(tmp_path, gnupg)
    debs = [make_deb(tmp_path, "alpha", "1.0"), make_deb(tmp_path, "beta", "2.0-1", b"y" * 5000, "amd64")]
    pub.publish({"bookworm": [Upload("alpha", (debs[0],), None), Upload("beta", (debs[1],), None)]})
    base = repo.path / "dists" / "bookworm"
    rel = release(repo, "bookworm")
    assert RFC1123.match(rel["Date"]), rel["Date"]
    assert rel["Suite"] == rel["Codename"] == "bookworm" and rel["Origin"] == "Kronos"
    assert rel["Architectures"] == "amd64" and rel["Components"] == "main" and rel["Acquire-By-Hash"] == "yes"
    assert "Valid-Until" not in rel and "MD5Sum" not in rel
    names = {e["name"] for e in rel["SHA256"]}
    assert {"main/binary-amd64/Packages", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.xz",
            "main/source/Sources", "main/source/Sources.xz"} <= names
    for algo in ("SHA256", "SHA512"):
        for e in rel[algo]:
            data = (base / e["name"]).read_bytes()
            assert len(data) == int(e["size"]) and hashlib.new(algo.lower(), data).hexdigest() == e[algo.lower()]
            byhash = base / Path(e["name"]).parent / "by-hash" / algo / e[algo.lower()]
            assert byhash.read_bytes() == data
    plain = (base / "main/binary-amd64/Packages").read_bytes()
    assert gzip.decompress((base / "main/binary-amd64/Packages.gz").read_bytes()) == plain
    assert lzma.decompress((base / "main/binary-amd64/Packages.xz").read_bytes()) == plain
    stanzas = list(Packages.iter_paragraphs(plain.decode()))
    assert [s["Package"] for s in stanzas] == ["alpha", "beta"]
    for s in stanzas:
        assert (repo.path / s["Filename"]).is_file() and not s["Filename"].startswith("/")
        assert s["SHA256"] and int(s["Size"]) == (repo.path / s["Filename"]).stat().st_size
    assert stanzas[0]["Filename"] == "pool/main/a/alpha/alpha_1.0_all.deb"
    # InRelease is the clearsigned Release; Release.gpg its detached signature; SHA512 digests
    home, fpr = gnupg
    keyring = repo.path / repo.keyring_name
    assert not keyring.read_bytes().startswith(b"-----BEGIN")
    assert (repo.path / repo.keyring_name.replace(".pgp", ".asc")).read_text().startswith("-----BEGIN PGP PUBLIC")
    verified = subprocess.run(["gpgv", "--keyring", str(keyring), "--output", "-", str(base / "InRelease")],
                              capture_output=True, check=True)
    assert verified.stdout == (base / "Release").read_bytes()
    subprocess.run(["gpgv", "--keyring", str(keyring), str(base / "Release.gpg"), str(base / "Release")],
                   capture_output=True, check=True)
    packets = subprocess.run(["gpg", "--list-packets", str(base / "Release.gpg")], capture_output=True, text=True,
                             env=dict(os.environ, GNUPGHOME=str(home))).stdout
    assert "digest algo 10," in packets and ":signature packet: algo 22," in packets  # SHA512, EdDSA
    sources = (repo.path / f"{repo.name}.sources").read_text()
    assert f"Signed-By: /usr/share/keyrings/{repo.keyring_name}" in sources and "Suites: bookworm" in sources


def test_indices_reproducible_and_date_never_backwards(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    repo, pub = publisher(tmp_path, gnupg)
    deb = make_deb(tmp_path, "alpha", "1.0")
    os.environ["KRONOS_NOW"] = "1800000000"
    try:
        pub.publish({"sid": [Upload("alpha", (deb,), None)]})
        first = release(repo, "sid")
        gz = (repo.path / "dists/sid/main/binary-amd64/Packages.gz").read_bytes()
        os.environ["KRONOS_NOW"] = "1700000000"  # the clock went back
        pub.publish({"sid": [Upload("beta", (make_deb(tmp_path, "beta", "1"),), None)]})
        second = release(repo, "sid")
    finally:
        del os.environ["KRONOS_NOW"]
    d1 = email.utils.parsedate_to_datetime(first["Date"])
    d2 = email.utils.parsedate_to_datetime(second["Date"])
    assert d2 > d1, (first["Date"], second["Date"])  # strictly: apt ignores an InRelease that is not newer
    assert (first["Origin"], first["Label"], first["Codename"]) == (second["Origin"], second["Label"],
                                                                    second["Codename"])
    # same input, same bytes: publish the first state again elsewhere
    repo2, pub2 = publisher(tmp_path / "again", gnupg)
    os.environ["KRONOS_NOW"] = "1800000500"
    try:
        pub2.publish({"sid": [Upload("alpha", (deb,), None)]})
    finally:
        del os.environ["KRONOS_NOW"]
    assert (repo2.path / "dists/sid/main/binary-amd64/Packages.gz").read_bytes() == gz


def test_valid_until_later_than_date(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text((ROOT / "repo" / "repository.toml").read_text().replace("valid_days = 0", "valid_days = 7"))
    repo, pub = publisher(tmp_path, gnupg, KRONOS_REPO_CONFIG=str(cfg))
    pub.publish({"sid": [Upload("alpha", (make_deb(tmp_path, "alpha", "1.0"),), None)]})
    rel = release(repo, "sid")
    date = email.utils.parsedate_to_datetime(rel["Date"])
    until = email.utils.parsedate_to_datetime(rel["Valid-Until"])
    assert RFC1123.match(rel["Valid-Until"]) and (until - date).days == 7


def test_pool_name_never_changes_content(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    repo, pub = publisher(tmp_path, gnupg)
    pub.publish({"sid": [Upload("alpha", (make_deb(tmp_path, "alpha", "1.0", b"one"),), None)]})
    before = snapshot(repo.path)
    other = make_deb(tmp_path / "o", "alpha", "1.0", b"another content")
    with pytest.raises(PublishError, match=r"pool file pool/main/a/alpha/alpha_1.0_all.deb already exists"):
        pub.publish({"sid": [Upload("alpha", (other,), None)]})
    assert snapshot(repo.path) == before


def test_kept_version_with_other_bytes_is_refused_by_name(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    repo, pub = publisher(tmp_path, gnupg)
    pub.publish({"sid": [Upload("alpha", (make_deb(tmp_path, "alpha", "1.0", b"one"),), None)]})
    before = snapshot(repo.path)
    other = make_deb(tmp_path / "o", "alpha", "1.0", b"another content")
    with pytest.raises(PublishError, match=r"^alpha: the repository already serves pool/main/a/alpha/alpha_1.0_all.deb"
                                           r" with other content; this build kept .*--keep-version.*nothing was"):
        pub.publish({"sid": [Upload("alpha", (other,), None, kept_version=True)]})
    assert snapshot(repo.path) == before


def test_retention_removal_and_grace(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text((ROOT / "repo" / "repository.toml").read_text().replace("keep_versions = 3", "keep_versions = 2"))
    repo, pub = publisher(tmp_path, gnupg, KRONOS_REPO_CONFIG=str(cfg))
    t0 = 1800000000
    try:
        debs = {}
        for i, v in enumerate(["1.0", "1.1", "1.2"]):
            os.environ["KRONOS_NOW"] = str(t0 + i)
            debs[v] = make_deb(tmp_path, "alpha", v)
            pub.publish({"sid": [Upload("alpha", (debs[v],), None)]})
        assert [v for _, v, _ in pub.listing()["sid"]] == ["1.1", "1.2"]
        old_pool = repo.path / "pool/main/a/alpha/alpha_1.0_all.deb"
        assert old_pool.exists()  # dropped from the index, kept for the grace period
        first_rel = release(repo, "sid")
        old_sha = next(e["sha512"] for e in first_rel["SHA512"] if e["name"] == "main/binary-amd64/Packages")
        os.environ["KRONOS_NOW"] = str(t0 + 10)
        pub.publish({}, remove={"sid": ["alpha"]})
        assert pub.listing()["sid"] == []
        byhash = repo.path / "dists/sid/main/binary-amd64/by-hash/SHA512" / old_sha
        assert byhash.exists()  # superseded, within grace
        pub.publish({"sid": [Upload("alpha", (debs["1.2"],), None)]})
        assert pub.listing()["sid"] == []  # removed versions are not added back
        os.environ["KRONOS_NOW"] = str(t0 + repo.grace_seconds + 100)
        pub.publish({"sid": [Upload("gamma", (make_deb(tmp_path, "gamma", "1"),), None)]})
        assert not byhash.exists() and not old_pool.exists()
        assert [n for n, _, _ in pub.listing()["sid"]] == ["gamma"]
    finally:
        os.environ.pop("KRONOS_NOW", None)
    with pytest.raises(PublishError, match="package 'nothing' is not in suite 'sid'"):
        pub.publish({}, remove={"sid": ["nothing"]})


def test_pool_shares_no_inode_with_build_outputs(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    """An in-place write to a build output must not change the published file."""
    repo, pub = publisher(tmp_path, gnupg)
    deb = make_deb(tmp_path, "alpha", "1.0", b"one")
    pub.publish({"sid": [Upload("alpha", (deb,), None)]})
    pool = repo.path / "pool/main/a/alpha/alpha_1.0_all.deb"
    served = pool.read_bytes()
    indexed = next(Packages.iter_paragraphs((repo.path / "dists/sid/main/binary-amd64/Packages").read_text()))
    with deb.open("r+b") as f:  # e.g. a rebuild that rewrites out/ in place
        f.seek(0)
        f.write(b"!<arch>\nrewritten in place")
    assert pool.read_bytes() == served, "an in-place write to the build output changed the published pool file"
    assert hashlib.sha256(pool.read_bytes()).hexdigest() == indexed["SHA256"]
    assert pool.stat().st_ino != deb.stat().st_ino and pool.stat().st_nlink == 1


def test_pool_files_linked_by_earlier_versions_are_unshared(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    repo, pub = publisher(tmp_path, gnupg)
    deb = make_deb(tmp_path, "alpha", "1.0", b"one")
    pub.publish({"sid": [Upload("alpha", (deb,), None)]})
    pool = repo.path / "pool/main/a/alpha/alpha_1.0_all.deb"
    pool.unlink()
    os.link(deb, pool)  # the pool as kronos made it before: a hard link into out/
    pub.publish({"sid": [Upload("beta", (make_deb(tmp_path, "beta", "1"),), None)]})
    assert pool.stat().st_nlink == 1 and pool.stat().st_ino != deb.stat().st_ino
    assert pool.read_bytes() == deb.read_bytes()


def test_generations_are_counted_and_kept_for_their_grace_when_the_clock_steps_back(
        tmp_path: Path, gnupg: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Generation names come from a counter in the state, not the clock; a superseded generation stays
    for grace_hours after it was superseded, also when the clock stepped back in between."""
    repo, pub = publisher(tmp_path, gnupg)
    gens = repo.path / ".generations"
    t0 = 1800000000
    grace = repo.grace_seconds
    live = []
    for i, t in enumerate((t0, t0 + 60, t0 - 3600)):  # the clock steps back an hour after the second
        monkeypatch.setenv("KRONOS_NOW", str(t))
        pub.publish({"sid": [Upload(f"p{i}", (make_deb(tmp_path, f"p{i}", "1"),), None)]})
        live.append(Path(os.readlink(repo.path / "dists")).parent.name)
        kept = sorted(p.name for p in gens.iterdir())
        for j, g in enumerate(live):
            assert g in kept, (f"generation {j + 1} ({g}) was removed at publish {i + 1}, within its grace"
                               f" ({grace} s) after a clock step back; left: {kept}")
    assert [int(g) for g in live] == [1, 2, 3], live
    monkeypatch.setenv("KRONOS_NOW", str(t0 - 3600 + grace))  # the first two superseded a grace ago
    pub.publish({"sid": [Upload("p3", (make_deb(tmp_path, "p3", "1"),), None)]})
    assert sorted(p.name for p in gens.iterdir()) == [live[2], Path(os.readlink(repo.path / "dists")).parent.name]


def test_client_files_follow_the_url(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    repo, pub = publisher(tmp_path, gnupg)
    pub.publish({"sid": [Upload("alpha", (make_deb(tmp_path, "alpha", "1.0"),), None)]})
    assert f"URIs: {repo.path.resolve().as_uri()}" in (repo.path / "kronos.sources").read_text()
    repo, pub = publisher(tmp_path, gnupg, KRONOS_REPO_URL="http://repo.example.invalid/kronos")
    pub.publish({})
    assert "URIs: http://repo.example.invalid/kronos\n" in (repo.path / "kronos.sources").read_text()
    assert os.readlink(repo.path / "kronos.sources") == "dists/kronos.sources"


def packages_of(repo: RepoSettings, suite: str) -> set[tuple[str, str]]:
    text = (repo.path / "dists" / suite / "main" / "binary-amd64" / "Packages").read_text()
    return {(p["Package"], p["Version"]) for p in Packages.iter_paragraphs(text)}


def suites_line(repo: RepoSettings) -> str:
    return next(ln for ln in (repo.path / "kronos.sources").read_text().splitlines() if ln.startswith("Suites:"))


def test_staging_promotion_and_rollback(tmp_path: Path, gnupg: tuple[Path, str]) -> None:
    """Staging suites are signed like the others but never in kronos.sources; a promotion serves only the
    chosen pool files (the rest keeps what it served); a rollback serves the previous state again."""
    repo, pub = publisher(tmp_path, gnupg)
    a1, b1 = make_deb(tmp_path, "alpha", "1.0"), make_deb(tmp_path, "beta", "1.0")
    pub.publish({"sid-staging": [Upload("alpha", (a1,), None), Upload("beta", (b1,), None)]})
    assert "-staging" not in suites_line(repo)
    first = pub.promote({"sid": ["pool/main/a/alpha/alpha_1.0_all.deb", "pool/main/b/beta/beta_1.0_all.deb"]}, "n1")
    assert sorted(first.added) == ["sid: alpha 1.0 all", "sid: beta 1.0 all"]
    assert packages_of(repo, "sid") == {("alpha", "1.0"), ("beta", "1.0")}
    assert suites_line(repo) == "Suites: sid"
    assert release(repo, "sid-staging")["Suite"] == "sid-staging"

    a2, b2 = make_deb(tmp_path, "alpha", "2.0"), make_deb(tmp_path, "beta", "2.0")
    pub.publish({"sid-staging": [Upload("alpha", (a2,), None), Upload("beta", (b2,), None)]})
    assert packages_of(repo, "sid") == {("alpha", "1.0"), ("beta", "1.0")}  # staging is not served
    pub.promote({"sid": ["pool/main/a/alpha/alpha_2.0_all.deb"]}, "n2")  # beta 2.0 held back
    assert packages_of(repo, "sid") == {("alpha", "1.0"), ("alpha", "2.0"), ("beta", "1.0")}
    assert pub.promote({"sid": ["pool/main/a/alpha/alpha_2.0_all.deb"]}, "n3").generation  # nothing new
    assert len(json.loads((repo.path / "dists" / ".." / "state.json").read_text())["promotions"]) == 2

    summary, undone = pub.rollback()
    assert undone["run"] == "n2" and summary.dropped == ["sid: alpha 2.0 all"]
    assert packages_of(repo, "sid") == {("alpha", "1.0"), ("beta", "1.0")}
    assert packages_of(repo, "sid-staging") >= {("alpha", "2.0"), ("beta", "2.0")}  # staging stays
    summary, undone = pub.rollback()
    assert undone["run"] == "n1" and packages_of(repo, "sid") == set()
    with pytest.raises(PublishError, match="nothing to roll back"):
        pub.rollback()
    with pytest.raises(PublishError, match="not in the staging suite sid-staging"):
        pub.promote({"sid": ["pool/main/g/gamma/gamma_1_all.deb"]}, "n4")
