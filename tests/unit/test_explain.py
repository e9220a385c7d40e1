"""kronos why: each reason compare() gives for a recorded input that changed, by name."""

from __future__ import annotations

import pytest

from kronos.explain import Verdict, compare

OLD: dict[str, object] = {
    "format": 2,
    "target": "t1",
    "recipe/source": "r1",
    "build/profiles": "nocheck",
    "build/options": "nocheck",
    "build/env": "e1",
    "source/demo_1.0.orig.tar.gz": "s1",
    "patch/debian/0001-compat.patch": "p1",
    "patch-series": "ps1",
    "templates/debian/control.j2": "c1",
    "maintainer": "A <a@x>",
    "dpkg-dev": "1.21.22",
    "image": "sha256:aaa",
    "sibling/quickjs": {"key": "k" * 64, "version": "1.0-1~bpo12+1"},
    "script/build.sh": "b1",
    "source/git-tree": "t" * 40,
    "source/git-submodule/third_party/lib": "c" * 40,
}


def test_nothing_changed_is_up_to_date() -> None:
    assert compare(OLD, dict(OLD)) == []


def test_never_built() -> None:
    assert compare(None, OLD) == ["not built yet"]


@pytest.mark.parametrize(("name", "value", "says"), [
    ("patch/debian/0001-compat.patch", "p2", "patch debian/0001-compat.patch changed"),
    ("templates/debian/control.j2", "c2", "template debian/control.j2 changed"),
    ("source/demo_1.0.orig.tar.gz", "s2", "source file demo_1.0.orig.tar.gz changed"),
    ("maintainer", "B <b@x>", "maintainer changed: 'A <a@x>' -> 'B <b@x>'"),
    ("image", "sha256:bbb", "image changed"),
    ("script/build.sh", "b2", "container script build.sh changed"),
    ("build/profiles", "nocheck nodoc", "build profiles changed: 'nocheck' -> 'nocheck nodoc'"),
    ("build/options", "", "build options changed: 'nocheck' -> ''"),
    ("build/env", "e2", "build env changed"),
    ("recipe/source", "r2", "recipe field source changed"),
    ("target", "t2", "target configuration changed"),
    ("dpkg-dev", "1.21.23", "host dpkg-dev changed: '1.21.22' -> '1.21.23'"),
    ("patch-series", "ps2", "patch series (order or -pN) changed"),
    ("source/git-tree", "u" * 40, f"git tree changed: {'t' * 40!r} -> {'u' * 40!r}"),
    ("source/git-submodule/third_party/lib", "d" * 40, "git submodule third_party/lib changed"),
    ("sibling/quickjs", {"key": "m" * 64, "version": "1.0-1~bpo12+2"},
     "sibling quickjs changed (key kkkkkkkkkkkk -> mmmmmmmmmmmm, now version 1.0-1~bpo12+2)"),
    ("sibling/quickjs", {"key": None, "version": None}, "sibling quickjs is not built"),
])
def test_one_changed_input_is_named(name: str, value: object, says: str) -> None:
    new = {**OLD, name: value}
    assert compare(OLD, new) == [says]


def test_added_and_removed_inputs() -> None:
    new = {k: v for k, v in OLD.items() if k not in ("sibling/quickjs", "templates/debian/control.j2")}
    new["patch/debian/0002-more.patch"] = "p3"
    new["patch-series"] = "ps2"  # a new patch changes the series too: the patch line says it
    new["sibling/dh-ocaml"] = {"key": "d" * 64, "version": "3.8~bpo12+1"}
    assert compare(OLD, new) == [
        "patch debian/0002-more.patch added",
        "sibling dh-ocaml added (key dddddddddddd, version 3.8~bpo12+1)",
        "sibling quickjs no longer built against",
        "template debian/control.j2 removed",
    ]


def test_verdict_lines() -> None:
    assert Verdict("b", "bookworm", "1.0-1~bpo12+1", ()).lines() == ["bookworm: b 1.0-1~bpo12+1 is up to date"]
    assert Verdict("b", "bookworm", "1.0-1~bpo12+2", ("image changed",)).lines() == [
        "bookworm: b would rebuild as 1.0-1~bpo12+2:", "  image changed"]
