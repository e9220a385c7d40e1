"""A .dsc made from the signed Sources index (kronos.sources.index_dsc): the stanza dpkg-scansources
writes for a real source package gives back the .dsc's own fields, dpkg-source unpacks it, and the
same stanza always gives the same bytes; plan's reachability agrees with what the build does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from debian.deb822 import Deb822, Dsc, Sources

from kronos.plan import reach
from kronos.plan.indices import SourceEntry
from kronos.sources.debian import made_from_stanza

CHANGELOG = "hello (1.0) unstable; urgency=low\n\n  * x\n\n -- A <a@example.invalid>  Mon, 07 Dec 2026 00:00:00 +0000\n"
CONTROL = """Source: hello
Maintainer: A <a@example.invalid>
Build-Depends: debhelper-compat (= 13)
Standards-Version: 4.6.2
Homepage: https://example.invalid/hello

Package: hello
Architecture: any
Description: x
 y
"""


def _source_package(pool: Path) -> Path:
    """A real source package (3.0 native) made by dpkg-source -b in pool; its .dsc."""
    tree = pool / "hello-1.0"
    (tree / "debian" / "source").mkdir(parents=True)
    (tree / "debian" / "changelog").write_text(CHANGELOG)
    (tree / "debian" / "control").write_text(CONTROL)
    (tree / "debian" / "source" / "format").write_text("3.0 (native)\n")
    subprocess.run(["dpkg-source", "-b", "hello-1.0"], cwd=pool, check=True, capture_output=True)
    return pool / "hello_1.0.dsc"


def _stanza(pool: Path) -> Sources:
    out = subprocess.run(["dpkg-scansources", "."], cwd=pool, check=True, capture_output=True).stdout
    return Sources(out)


def test_the_made_dsc_has_the_fields_of_the_real_one_and_unpacks(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    pool.mkdir()
    real = _source_package(pool)
    stanza = _stanza(pool)
    assert stanza["Package"] == "hello" and "Directory" in stanza
    made = made_from_stanza(stanza, real.name)
    assert made == made_from_stanza(_stanza(pool), real.name)  # the same stanza: the same bytes
    ours, theirs = Dsc(made), Dsc(real.read_bytes())
    assert list(ours)[:2] == ["Format", "Source"] and list(ours)[-1] == "Files"
    assert {k: str(v) for k, v in ours.items() if k not in ("Files", "Checksums-Sha1", "Checksums-Sha256")} == \
           {k: str(v) for k, v in theirs.items() if k not in ("Files", "Checksums-Sha1", "Checksums-Sha256")}
    for field in ("Files", "Checksums-Sha1", "Checksums-Sha256"):
        assert ours[field] == theirs[field]  # the .dsc's own line is gone: the real .dsc lists the tarball only
    real.unlink()
    (pool / "made.dsc").write_bytes(made)
    subprocess.run(["dpkg-source", "-x", "made.dsc", "out"], cwd=pool, check=True, capture_output=True)
    assert (pool / "out" / "debian" / "control").read_text() == CONTROL


def test_archive_only_fields_are_dropped_and_order_is_fixed() -> None:
    raw = Deb822({"Package": "x", "Binary": "x", "Version": "1", "Priority": "optional", "Section": "admin",
                  "Directory": "pool/main/x/x", "Format": "3.0 (quilt)",
                  "Files": "\n d41d8cd98f00b204e9800998ecf8427e 0 x_1.dsc"
                           "\n 0cc175b9c0f1b6a831c399e269772661 1 x_1.tar.xz",
                  "Checksums-Sha256": "\n " + "a" * 64 + " 0 x_1.dsc\n " + "b" * 64 + " 1 x_1.tar.xz"})
    text = made_from_stanza(Sources(raw.dump()), "x_1.dsc").decode()
    assert text == ("Format: 3.0 (quilt)\nSource: x\nBinary: x\nVersion: 1\n"
                    f"Checksums-Sha256:\n {'b' * 64} 1 x_1.tar.xz\n"
                    "Files:\n 0cc175b9c0f1b6a831c399e269772661 1 x_1.tar.xz\n")


def _entry(tmp_path: Path, names: list[str]) -> SourceEntry:
    files = "".join(f"\n {'0' * 64} 1 {n}" for n in names)
    stanza = Sources(Deb822({"Package": "x", "Version": "1", "Directory": "pool/x",
                             "Checksums-Sha256": files}).dump())
    return SourceEntry(name="x", version="1", stanza=stanza, suite="s", mirror=(tmp_path / "m").as_uri(),
                       listing="test")


@pytest.mark.parametrize(("served", "ok", "made"), [
    (["x_1.dsc", "x_1.tar.xz"], True, False),
    (["x_1.tar.xz"], True, True),  # the build makes the .dsc: reachable
    (["x_1.dsc"], False, False),  # a tarball is missing: the build cannot make it
])
def test_plan_reach_agrees_with_the_build(tmp_path: Path, served: list[str], ok: bool, made: bool) -> None:
    pool = tmp_path / "m" / "pool" / "x"
    pool.mkdir(parents=True)
    for name in served:
        (pool / name).write_bytes(b"x")
    found = reach.check(_entry(tmp_path, ["x_1.dsc", "x_1.tar.xz"]))
    assert found.ok is ok
    assert bool(found.made) is made
    if made:
        assert found.made.startswith("x_1.dsc: no such file; made from the signed Sources index")
    if not ok:
        assert found.missing.startswith("x_1.tar.xz: ")
