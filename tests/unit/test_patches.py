from __future__ import annotations

from pathlib import Path

import pytest

from kronos.errors import PatchError
from kronos.packaging import patches

GOOD = """--- a/file.txt
+++ b/file.txt
@@ -1,2 +1,2 @@
 one
-two
+TWO
"""
BAD = """--- a/file.txt
+++ b/file.txt
@@ -1,2 +1,2 @@
 one
-zwei
+ZWEI
"""


def layer(root: Path, name: str, files: dict[str, str], series: str) -> None:
    d = root / "pkg" / name
    d.mkdir(parents=True)
    for fname, text in files.items():
        (d / fname).write_text(text)
    (d / "series").write_text(series)


def test_layers_in_order() -> None:
    assert patches.layers("debian", "bookworm") == ("common", "debian", "bookworm")
    assert patches.layers("ubuntu", "noble") == ("common", "ubuntu", "noble")


def test_series_selection_per_target(tmp_path: Path) -> None:
    layer(tmp_path, "common", {"c.patch": GOOD}, "c.patch\n")
    layer(tmp_path, "debian", {"d.patch": GOOD}, "# comment\nd.patch -p1\n")
    layer(tmp_path, "ubuntu", {"u.patch": GOOD}, "u.patch\n")
    layer(tmp_path, "bookworm", {"b.patch": GOOD}, "b.patch -p0\n")
    got = [(p.layer, p.path.name, p.strip) for p in patches.series(tmp_path, "pkg", "debian", "bookworm")]
    assert got == [("common", "c.patch", 1), ("debian", "d.patch", 1), ("bookworm", "b.patch", 0)]
    got = [p.path.name for p in patches.series(tmp_path, "pkg", "ubuntu", "noble")]
    assert got == ["c.patch", "u.patch"]
    assert patches.series(tmp_path, "other", "debian", "sid") == []


def test_missing_patch_in_series(tmp_path: Path) -> None:
    layer(tmp_path, "common", {}, "gone.patch\n")
    with pytest.raises(PatchError, match=r"common/series:1: patch gone.patch does not exist \(pkg, sid\)"):
        patches.series(tmp_path, "pkg", "debian", "sid")


def test_apply_and_failing_hunk_leaves_tree_alone(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "file.txt").write_text("one\ntwo\n")
    layer(tmp_path, "common", {"good.patch": GOOD}, "good.patch\n")
    patches.apply(tree, patches.series(tmp_path, "pkg", "debian", "sid"), "pkg", "sid")
    assert (tree / "file.txt").read_text() == "one\nTWO\n"
    (tree / "file.txt").write_text("one\ntwo\n")
    bad = tmp_path / "bad.patch"
    bad.write_text(BAD)
    with pytest.raises(PatchError) as e:
        patches.apply(tree, [patches.Patch("sid", bad, 1)], "pkg", "sid")
    msg = str(e.value)
    assert "recipe pkg, target sid" in msg and str(bad) in msg and "Hunk #1 FAILED" in msg
    assert (tree / "file.txt").read_text() == "one\ntwo\n"
    assert sorted(p.name for p in tree.iterdir()) == ["file.txt"]


def test_touched_names_the_files_a_patch_changes_after_strip(tmp_path: Path) -> None:
    body = ("Description: add a package\nAuthor: Kronos\n---\n"
            "--- a/debian/control\n+++ b/debian/control\n@@ -1 +1 @@\n-x\n+y\n"
            "--- /dev/null\n+++ b/debian/libfoo.install\t2026-01-01 00:00:00\n@@ -0,0 +1 @@\n+usr/lib\n"
            "--- a/debian/rules.orig\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n")
    (tmp_path / "one.patch").write_text(body)
    assert patches.touched(patches.Patch("common", tmp_path / "one.patch", 1)) == {
        "debian/control", "debian/libfoo.install"}
    (tmp_path / "zero.patch").write_text("--- debian/control\n+++ debian/control\n@@ -1 +1 @@\n-x\n+y\n")
    assert patches.touched(patches.Patch("common", tmp_path / "zero.patch", 0)) == {"debian/control"}
