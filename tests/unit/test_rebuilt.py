"""The model of a `--from` binary rebuilt on the target (kronos.plan.rebuilt): generated relations
follow the target, hand-written ones stay, what cannot be decided is said; and, through the real
libsolv worker on a copy of tests/unit/plan_fixture, what that does to a closure."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from kronos.cache import sha256_file
from kronos.config import load_settings
from kronos.plan import closure, rules
from kronos.plan.indices import Index, PlanIndices, Suite
from kronos.plan.rebuilt import Rebuild, read_suite
from kronos.plan.rebuilt import Suite as Side
from kronos.plan.recipes import recipe_toml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("plan_fixture")
MODEL = rules.load_rules(ROOT).model

TRIXIE = Side({"libc6": "glibc", "libssl3t64": "openssl", "libgsl28": "gsl", "libgslcblas0": "gsl",
               "libvips42t64": "vips", "libfoo2": "foo", "libbar3": "bar", "libbar-extra3": "bar",
               "libminizip1t64": "zlib", "libz1": "zlib"},
              frozenset(), {"libfoo-ocaml-dev-ab12c": "libfoo-ocaml-dev"},
              {"libdoxia-core-java": "java", "javacc": "java", "python3-requests": "python"})
BOOKWORM = Side({"libc6": "glibc", "libssl3": "openssl", "libgsl27": "gsl", "libgslcblas0": "gsl",
                 "libvips42": "vips", "libbaz1": "bar", "libqux1": "bar", "libminizip1": "minizip", "libz1": "zlib"},
                frozenset({"libc6", "libssl3", "python3", "python3.11", "libpython3.11", "perl-base",
                           "perlapi-5.36.0", "r-base-core", "r-api-4.0", "nginx-abi-1.22.1-7"}))


def rebuilt(text: str, source: str = "foo", target: Side = BOOKWORM, section: str = "utils") -> tuple[
        str, tuple[str, ...]]:
    got = Rebuild(MODEL, TRIXIE, target).relations(text, source, section)
    return got.text, got.assumptions


def test_shared_libraries_follow_the_target() -> None:
    # the same SONAME under the t64 name rule; the same library at the target's SONAME; the source's own
    # library (rebuilt with it) keeps its exact version
    text = ("libc6 (>= 2.38), libssl3t64 (>= 3.0.0), libgsl28 (>= 2.8), libgslcblas0 (>= 2.4), "
            "libvips42t64 (>> 8.0.2-1~), libfoo2 (= 1.0-1)")
    assert rebuilt(text) == ("libc6, libssl3, libgsl27, libgslcblas0, libvips42, libfoo2 (= 1.0-1)", ())
    # the same SONAME built by another source on the target: trixie's zlib builds libminizip1t64, bookworm's
    # minizip builds libminizip1
    assert rebuilt("libminizip1t64 (>= 1.1)") == ("libminizip1", ())


def test_java_relations_are_the_builds() -> None:
    """maven-debian-helper writes the versions the build saw: a java binary's versioned relations on
    java packages lose them; others (and a binary of another section) keep theirs."""
    text = "libdoxia-core-java (>= 2.0.0), javacc (>= 7.0.12), python3-requests (>= 2.30)"
    assert rebuilt(text, section="java") == ("libdoxia-core-java, javacc, python3-requests (>= 2.30)", ())
    assert rebuilt(text) == (text, ())


def test_generated_relations_follow_the_target() -> None:
    text = ("python3 (>= 3.13~), python3 (<< 3.14), python3.13, libpython3.13 (>= 3.13.0), perlapi-5.40.0, "
            "r-base-core (>= 4.5.0-3), r-api-4.0, nginx-abi-1.26.3-1, python3-requests (>= 2.30)")
    assert rebuilt(text) == ("python3, python3, python3.11, libpython3.11, perlapi-5.36.0, r-base-core, r-api-4.0, "
                             "nginx-abi-1.22.1-7, python3-requests (>= 2.30)", ())


def test_what_the_indices_cannot_decide_stays_and_is_said() -> None:
    # bar builds two libraries on each side and none has libbar3's name; two python3.X on the target
    two = dataclasses.replace(BOOKWORM, names=BOOKWORM.names | {"python3.12"})
    text, assumed = rebuilt("libbar3 (>= 3.1), python3.13", target=two)
    assert text == "libbar3 (>= 3.1), python3.13"
    assert assumed == ("libbar3 (>= 3.1) kept: bar has no library package like it on the target",
                       "python3.13 kept: the target has no single name like it")


def test_ocaml_abi_names_and_the_compiler() -> None:
    text = "ocaml-base-5.4.1, libfoo-ocaml-dev-ab12c | libbar (>= 1), libzstd1 (>= 1.5), libother-ocaml-dev-zz9zz"
    # the package behind an ABI name stays a dependency, unversioned; the compiler's and unknown ones go
    assert rebuilt(text) == ("libfoo-ocaml-dev | libbar (>= 1), libzstd1 (>= 1.5)", ())


def test_read_suite_leaves_the_compilers_provides_out(tmp_path: Path) -> None:
    packages = tmp_path / "Packages"
    packages.write_text(
        "Package: libfoo-ocaml-dev\nSource: ocaml-foo (1.0-1)\nVersion: 1.0-1+b1\nArchitecture: amd64\n"
        "Section: ocaml\nProvides: libfoo-ocaml-dev-ab12c\n\n"
        "Package: libstdlib-ocaml-dev\nSource: ocaml\nVersion: 5.4.1-1\nArchitecture: amd64\n"
        "Provides: libstdlib-ocaml-dev-1ltp0\n\n"
        "Package: libssl3t64\nSource: openssl\nVersion: 3.5.1-1\nArchitecture: amd64\nSection: libs\n\n")
    side = read_suite([packages], MODEL)
    assert side.provided == {"libfoo-ocaml-dev-ab12c": "libfoo-ocaml-dev"}
    assert side.libraries == {"libssl3t64": "openssl"}
    assert "libstdlib-ocaml-dev-1ltp0" in side.names and "libssl3t64" in side.names


T64 = """
Package: t64user
Version: 2.0-1
Architecture: amd64
Section: utils
Depends: libzl1t64 (>= 1.5), python3 (>= 3.13~), python3 (<< 3.14), libc6 (>= 2.38)
Recommends: recommended-only

Package: libzl1t64
Source: zl
Version: 1.5-1
Architecture: amd64
Section: libs
Depends: libc6 (>= 2.38)

Package: recommended-only
Version: 1.0-1
Architecture: all
Section: misc

Package: python3
Source: python3-defaults
Version: 3.13.5-1
Architecture: amd64
Section: python
"""
T64_SOURCES = """
Package: t64user
Binary: t64user
Version: 2.0-1
Architecture: any
Build-Depends: debhelper-compat (= 13), libzl-dev
Directory: pool/main/t/t64user
Checksums-Sha256:
 0000000000000000000000000000000000000000000000000000000000000000 1000 t64user_2.0-1.dsc

Package: zl
Binary: libzl1t64, libzl-dev
Version: 1.5-1
Architecture: any
Build-Depends: debhelper-compat (= 13)
Directory: pool/main/z/zl
Checksums-Sha256:
 0000000000000000000000000000000000000000000000000000000000000000 1000 zl_1.5-1.dsc

Package: recommended-only
Binary: recommended-only
Version: 1.0-1
Architecture: all
Directory: pool/main/r/recommended-only
Checksums-Sha256:
 0000000000000000000000000000000000000000000000000000000000000000 1000 recommended-only_1.0-1.dsc
"""
BOOKWORM_ZL = """
Package: libzl1
Source: zl
Version: 1.2-1
Architecture: amd64
Section: libs

Package: libzl-dev
Source: zl
Version: 1.2-1
Architecture: amd64
Section: libdevel
Depends: libzl1 (= 1.2-1)

Package: python3
Source: python3-defaults
Version: 3.11.2-1
Architecture: amd64
Section: python
"""


def _suite(directory: Path, name: str) -> Suite:
    def index(kind: str) -> tuple[Index, ...]:
        path = directory / f"{name}.{kind}"
        return (Index(kind, sha256_file(path), path),) if path.exists() else ()

    return Suite(name, f"file://{directory}/mirror", index("Packages"), index("Sources"))


@pytest.fixture
def fixture(tmp_path: Path) -> Path:
    out = tmp_path / "fixture"
    shutil.copytree(FIXTURE, out)
    with (out / "sid.Packages").open("a") as f:
        f.write(T64)
    with (out / "sid.Sources").open("a") as f:
        f.write(T64_SOURCES)
    with (out / "bookworm.Packages").open("a") as f:
        f.write(BOOKWORM_ZL)
    return out


def test_a_t64_rename_python_bounds_and_recommends_bring_no_member(fixture: Path, tmp_path: Path) -> None:
    """t64user's zl is libzl1t64 in sid and libzl1 in bookworm (one library, one SONAME); its python3
    bounds are dh_python3's; its Recommends are not installed: the closure is t64user alone, built
    against bookworm's libzl-dev."""
    target = load_settings(ROOT, env={}).target("bookworm")
    idx = PlanIndices(tmp_path / "cache", target, "amd64", [_suite(fixture, "bookworm")], [_suite(fixture, "sid")],
                      MODEL)
    c = closure.compute(idx, rules.load_rules(ROOT), ["t64user (>= 2.0)"])
    assert {m.source for m in c.members.values()} == {"t64user"}
    assert all(w.ok for w in c.wants) and c.assumptions == []


def test_a_rebuild_from_a_pocket_names_the_pocket(fixture: Path, tmp_path: Path) -> None:
    """ounit, rebuilt for the dune 3 rule, has a newer version in bookworm-updates: the written recipe
    takes it from there (the target's own suite does not have that version)."""
    (fixture / "bookworm-updates.Sources").write_text(
        (fixture / "bookworm.Sources").read_text().split("\n\n")[0].replace("2.2.6-1", "2.2.6-1+deb12u1") + "\n")
    target = load_settings(ROOT, env={}).target("bookworm")
    idx = PlanIndices(tmp_path / "cache", target, "amd64",
                      [_suite(fixture, "bookworm"), _suite(fixture, "bookworm-updates")], [_suite(fixture, "sid")],
                      MODEL)
    c = closure.compute(idx, rules.load_rules(ROOT), ["ocaml-dune (>= 3.20)", "libfoo-ocaml-dev"], check_reach=False)
    ounit = next(m for m in c.members.values() if m.source == "ounit")
    assert (ounit.kind, ounit.entry.suite, ounit.entry.version) == ("rebuild", "bookworm-updates", "2.2.6-1+deb12u1")
    text = recipe_toml(ounit, "bookworm", ("nocheck",))
    assert 'suite = "bookworm-updates"\npackage = "ounit"\nversion = "2.2.6-1+deb12u1"' in text


def test_an_assumption_reaches_the_closure(fixture: Path, tmp_path: Path) -> None:
    """odd builds two libraries on bookworm and neither is like sid's libodd7t64: the relation stays (odd
    comes in) and the closure says what it assumed."""
    with (fixture / "sid.Packages").open("a") as f:
        f.write("\nPackage: odd-user\nVersion: 1.0-1\nArchitecture: amd64\nSection: utils\n"
                "Depends: libodd7t64 (>= 7.1)\n\nPackage: libodd7t64\nSource: odd\nVersion: 7.1-1\n"
                "Architecture: amd64\nSection: libs\n")
    with (fixture / "sid.Sources").open("a") as f:
        for name, binary in (("odd-user", "odd-user"), ("odd", "libodd7t64")):
            f.write(f"\nPackage: {name}\nBinary: {binary}\nVersion: 1.0-1\nArchitecture: any\n"
                    f"Build-Depends: debhelper-compat (= 13)\nDirectory: pool/main/o/{name}\nChecksums-Sha256:\n"
                    f" {'0' * 64} 1000 {name}_1.0-1.dsc\n")
    with (fixture / "bookworm.Packages").open("a") as f:
        f.write("\nPackage: libodda1\nSource: odd\nVersion: 6-1\nArchitecture: amd64\nSection: libs\n\n"
                "Package: liboddb1\nSource: odd\nVersion: 6-1\nArchitecture: amd64\nSection: libs\n")
    target = load_settings(ROOT, env={}).target("bookworm")
    idx = PlanIndices(tmp_path / "cache", target, "amd64", [_suite(fixture, "bookworm")], [_suite(fixture, "sid")],
                      MODEL)
    c = closure.compute(idx, rules.load_rules(ROOT), ["odd-user (>= 1.0)"], check_reach=False)
    assert {m.source for m in c.members.values()} == {"odd-user", "odd"}
    assert c.assumptions == ["odd-user Depends: libodd7t64 (>= 7.1) kept: odd has no library package like it on "
                             "the target"]
