"""The graph from metadata: a fixture stack given as control stanzas (one source stanza and its
binary stanzas per recipe), matched by kronos.graph.relations and ordered by kronos.graph.graph."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.graph.graph import AFTER, BUILD, RUN, CycleError, Graph, SourceMeta, derive
from kronos.graph.metadata import MetadataReader, _built_from, _literal
from kronos.graph.relations import Binary, parse, reduce, satisfies
from kronos.recipe import load_recipes

ARCH = "amd64"


def meta(name: str, control: str, profiles: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> SourceMeta:
    """A recipe from its debian/control-like stanzas: the first is the source, with Version."""
    paragraphs = list(Deb822.iter_paragraphs(textwrap.dedent(control).splitlines()))
    source, binaries = paragraphs[0], paragraphs[1:]
    version = source["Version"]
    fields = {f: source[f] for f in ("Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep") if f in source}
    return SourceMeta(name, source["Source"], version, fields, tuple(
        Binary(b["Package"], b.get("Version", version), b.get("Architecture", "any"), b.get("Provides", ""),
               b.get("Depends", ""), b.get("Pre-Depends", "")) for b in binaries), profiles, after)


def graph(*metas: SourceMeta) -> Graph:
    return derive("bookworm", ARCH, {m.recipe: m for m in metas})


def edges(g: Graph) -> set[tuple[str, str, str]]:
    return {(e.frm, e.to, e.kind) for e in g.edges}


A = meta("a", """
    Source: a
    Version: 1.0-1

    Package: liba-dev
    Depends: liba1 (= ${binary:Version})

    Package: liba1
    """)
B = meta("b", """
    Source: b
    Version: 2.0-1
    Build-Depends: debhelper-compat (= 13), liba-dev (>= 1.0)

    Package: libb-dev

    Package: b-tool
    Architecture: all
    Depends: liba1, perl
    """)
C = meta("c", """
    Source: c
    Version: 3.0-1
    Build-Depends: debhelper-compat (= 13), libb-dev

    Package: c
    """)


def test_chain_a_b_c() -> None:
    g = graph(C, B, A)
    assert g.order() == ["a", "b", "c"]
    assert edges(g) == {("b", "a", BUILD), ("c", "b", BUILD)}
    lines = {e.line() for e in g.edges}
    assert "b -> a  (Build-Depends: liba-dev (>= 1.0) via binary liba-dev)" in lines
    assert "c -> b  (Build-Depends: libb-dev via binary libb-dev)" in lines
    assert g.build_closure("c") == ["a", "b"]
    assert g.wanted(["b"]) == ["a", "b"]


def test_substvars_are_not_relations() -> None:
    assert _literal("liba1 (>= 1), ${misc:Depends}, ${shlibs:Depends}, perl") == "liba1 (>= 1), perl"


def test_empty_relation_entries_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    assert [[r["name"] for r in g] for g in parse("debhelper-compat (= 13),\n dh-ocaml,\n")] == [
        ["debhelper-compat"], ["dh-ocaml"]]
    assert "cannot parse" not in capsys.readouterr().err


def test_a_matched_siblings_run_time_depends_are_edges() -> None:
    """planex's rule: b-tool (from b) needs liba1 (from a) at run time, so building d needs both."""
    d = meta("d", """
        Source: d
        Version: 1
        Build-Depends-Indep: b-tool

        Package: d
        Architecture: all
        """)
    g = graph(A, B, d)
    assert ("d", "b", BUILD) in edges(g) and ("d", "a", BUILD) in edges(g)
    why = next(e.why for e in g.edges if e.frm == "d" and e.to == "a")
    assert why == "Depends of b-tool: liba1 via binary liba1, needed to install b-tool"
    assert g.order() == ["a", "b", "d"]


def test_own_run_time_depends_order_but_are_not_installed() -> None:
    """dh-ocaml's case: its package Depends on quickjs; it is built after quickjs, without it."""
    quickjs = meta("quickjs", """
        Source: quickjs
        Version: 2025.04.26-1
        Build-Depends: debhelper-compat (= 13)

        Package: quickjs
        """)
    dh_ocaml = meta("dh-ocaml", """
        Source: dh-ocaml
        Version: 3.8
        Build-Depends: debhelper-compat (= 14)

        Package: dh-ocaml
        Architecture: all
        Depends: quickjs, libjson-perl
        """)
    g = graph(dh_ocaml, quickjs)
    assert g.order() == ["quickjs", "dh-ocaml"]
    assert [e.line() for e in g.edges] == ["dh-ocaml -> quickjs  (Depends of dh-ocaml: quickjs via binary quickjs)"]
    assert g.edges[0].kind == RUN
    assert g.build_closure("dh-ocaml") == []


def test_provides() -> None:
    """A versioned Provides satisfies a versioned relation; an unversioned one only unversioned ones."""
    abi = meta("ocaml", """
        Source: ocaml
        Version: 4.14.1-1

        Package: ocaml-nox
        Provides: ocaml-abi-4.14.1 (= 4.14.1), ocaml-any
        """)
    user = meta("user", """
        Source: user
        Version: 1
        Build-Depends: ocaml-abi-4.14.1 (>= 4.14)
        """)
    strict = meta("strict", """
        Source: strict
        Version: 1
        Build-Depends: ocaml-any (>= 1)
        """)
    loose = meta("loose", """
        Source: loose
        Version: 1
        Build-Depends: ocaml-any
        """)
    g = graph(abi, user, strict, loose)
    assert edges(g) == {("user", "ocaml", BUILD), ("loose", "ocaml", BUILD)}
    why = {e.frm: e.why for e in g.edges}
    assert why["user"] == ("Build-Depends: ocaml-abi-4.14.1 (>= 4.14) via binary ocaml-nox"
                           " (Provides: ocaml-abi-4.14.1 (= 4.14.1))")
    assert why["loose"] == "Build-Depends: ocaml-any via binary ocaml-nox (Provides: ocaml-any)"


def test_versioned_constraint_one_sibling_fails_another_meets() -> None:
    old = meta("a-dune2", """
        Source: ocaml-dune
        Version: 2.9.3-1

        Package: ocaml-dune
        """)
    new = meta("b-dune3", """
        Source: ocaml-dune
        Version: 3.17.2-1~bpo12+1

        Package: ocaml-dune
        """)
    user = meta("user", """
        Source: user
        Version: 1
        Build-Depends: ocaml-dune (>= 3.17~)
        """)
    g = graph(old, new, user)
    assert edges(g) == {("user", "b-dune3", BUILD)}
    assert g.edges[0].why == "Build-Depends: ocaml-dune (>= 3.17~) via binary ocaml-dune"
    # and with only the old one, no edge at all (the archive must satisfy it, or the build fails there)
    assert graph(old, user).edges == []


def test_version_relations_use_debian_ordering() -> None:
    b = Binary("p", "3.17.2-1~bpo12+1", "any")
    assert satisfies(b, parse("p (>= 3.17.2~)")[0][0])
    assert not satisfies(b, parse("p (>= 3.17.2-1)")[0][0])
    assert satisfies(b, parse("p (<< 3.17.2-1)")[0][0])
    assert not satisfies(b, parse("p (>> 3.17.2-1~bpo12+1)")[0][0])
    assert satisfies(b, parse("p (= 3.17.2-1~bpo12+1)")[0][0])


def test_arch_restricted_dependency() -> None:
    lib = meta("lib", """
        Source: lib
        Version: 1

        Package: libx-dev

        Package: liby-dev

        Package: libz-i386
        Architecture: i386
        """)
    user = meta("user", """
        Source: user
        Version: 1
        Build-Depends: libx-dev [i386 arm64], liby-dev [!i386], libz-i386
        """)
    g = graph(lib, user)
    assert [e.why for e in g.edges] == ["Build-Depends: liby-dev via binary liby-dev"]
    names = [g[0]["name"] for g in reduce(parse("a [amd64], b [!amd64], c [linux-any], d [any-amd64],"
                                                " e [!i386 !arm64], f [i386]"), ARCH, ())]
    assert names == ["a", "c", "d", "e"]


def test_profile_restricted_dependency() -> None:
    tests = meta("tests", """
        Source: tests
        Version: 1

        Package: libtest-dev
        """)
    control = """
        Source: user
        Version: 1
        Build-Depends: debhelper-compat (= 13), libtest-dev <!nocheck>
        """
    assert graph(tests, meta("user", control, profiles=("nocheck", "nodoc"))).edges == []
    g = graph(tests, meta("user", control, profiles=("nodoc",)))
    assert [e.line() for e in g.edges] == ["user -> tests  (Build-Depends: libtest-dev via binary libtest-dev)"]
    names = [g[0]["name"] for g in reduce(parse("a <stage1 cross>, b <!nocheck> <stage1>, c <nocheck>"),
                                          ARCH, ("stage1",))]
    assert names == ["b"]


def test_alternatives_edge_to_the_first_sibling_that_satisfies_one() -> None:
    user = meta("user", """
        Source: user
        Version: 1
        Build-Depends: not-a-sibling | liba-dev | libb-dev
        """)
    g = graph(A, B, user)
    assert ("user", "a", BUILD) in edges(g) and ("user", "b", BUILD) not in edges(g)


def test_after_is_an_extra_edge() -> None:
    lone = meta("lone", """
        Source: lone
        Version: 1
        """, after=("a",))
    g = graph(A, lone)
    assert [(e.line(), e.kind) for e in g.edges] == [('lone -> a  (after = ["a"] in its recipe.toml)', AFTER)]
    assert g.build_closure("lone") == ["a"]
    assert g.order() == ["a", "lone"]


def test_a_cycle_is_one_error_naming_each_edge() -> None:
    x = meta("x", """
        Source: x
        Version: 1
        Build-Depends: y-dev (>= 1)

        Package: x-dev
        """)
    y = meta("y", """
        Source: y
        Version: 1
        Build-Depends-Arch: x-dev

        Package: y-dev
        """)
    with pytest.raises(CycleError) as e:
        graph(x, y).order()
    assert str(e.value) == ("recipes depend on each other in a cycle (bookworm): "
                            "x -> y  (Build-Depends: y-dev (>= 1) via binary y-dev); "
                            "y -> x  (Build-Depends-Arch: x-dev via binary x-dev)")


def test_binaries_built_from_the_source_version() -> None:
    assert _built_from({"Package": "quickjs", "Version": "2025.04.26-1+b2", "Source": "quickjs (2025.04.26-1)"},
                       "quickjs", "2025.04.26-1")
    assert _built_from({"Package": "dh-ocaml", "Version": "3.8"}, "dh-ocaml", "3.8")
    assert not _built_from({"Package": "dh-ocaml", "Version": "1.1.3"}, "dh-ocaml", "3.8")


def test_dot() -> None:
    text = graph(A, B).dot()
    assert '"b" -> "a" [label="Build-Depends: liba-dev (>= 1.0) via binary liba-dev", style=solid];' in text
    assert text.startswith('digraph "bookworm" {') and text.endswith("}")


def test_after_beside_a_run_edge_still_offers_the_packages() -> None:
    """`after` says the build may install the sibling; a run-time edge alone does not."""
    user = meta("user", """
        Source: user
        Version: 1

        Package: user
        Depends: liba1
        """, after=("a",))
    g = graph(A, user)
    assert sorted((e.kind, e.line()) for e in g.edges) == [
        (AFTER, 'user -> a  (after = ["a"] in its recipe.toml)'),
        (RUN, "user -> a  (Depends of user: liba1 via binary liba1)")]
    assert g.build_closure("user") == ["a"]
    assert g.order() == ["a", "user"]


def test_a_built_deb_is_what_the_graph_reads(tmp_path: Path) -> None:
    """Once built, a binary's version, Depends and Provides come from its .deb's control."""
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root, env={"KRONOS_OUTPUT_DIR": str(tmp_path / "out"),
                                        "KRONOS_CACHE_DIR": str(tmp_path / "cache")})
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(textwrap.dedent("""\
        Package: dh-ocaml
        Version: 3.8~bpo12+1
        Architecture: all
        Maintainer: Kronos <kronos@localhost>
        Depends: quickjs, perl
        Provides: dh-sequence-ocaml
        Description: test
         test
        """))
    out = tmp_path / "out" / "bookworm" / "dh-ocaml"
    out.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out / "dh-ocaml_3.8~bpo12+1_all.deb")],
                   check=True, capture_output=True)
    cache = Cache(settings.cache_dir)
    reader = MetadataReader(settings, cache, Archives(settings, cache))
    built = reader._built(settings.target("bookworm"), load_recipes(settings)["dh-ocaml"])
    assert built == {"dh-ocaml": Binary("dh-ocaml", "3.8~bpo12+1", "all", "dh-sequence-ocaml", "quickjs, perl", "",
                                        "built dh-ocaml_3.8~bpo12+1_all.deb")}
