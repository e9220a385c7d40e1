from __future__ import annotations

from pathlib import Path

import pytest
from debian.debian_support import Version

from kronos.config import load_settings
from kronos.errors import BuildError
from kronos.ledger import Entry, Ledger
from kronos.packaging import versions
from kronos.recipe import BuildOptions, DebianSource, Recipe, load_recipes
from kronos.source_package import Inputs, choose_version

ROOT = Path(__file__).resolve().parents[2]


def targets(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(tmp_path, env={}).targets


def test_conventions(tmp_path: Path) -> None:
    t = targets(tmp_path)
    assert versions.authored("26.21.1", t["sid"], 1) == "26.21.1-1"
    assert versions.authored("26.21.1", t["sid"], 2) == "26.21.1-2"
    assert versions.authored("26.21.1", t["bookworm"], 1) == "26.21.1-1~bpo12+1"
    assert versions.authored("26.21.1", t["trixie"], 1) == "26.21.1-1~bpo13+1"
    assert versions.authored("26.21.1", t["noble"], 1) == "26.21.1-1~ubuntu24.04.1"
    assert versions.authored("26.21.1", t["resolute"], 3) == "26.21.1-1~ubuntu26.04.3"
    assert versions.rebuilt("3.8", t["bookworm"], 1) == "3.8~bpo12+1"
    assert versions.rebuilt("2025.04.26-1", t["bookworm"], 2) == "2025.04.26-1~bpo12+2"


def test_backports_sort_below_the_source_and_rise_with_n(tmp_path: Path) -> None:
    t = targets(tmp_path)["bookworm"]
    assert Version(versions.rebuilt("3.8", t, 1)) < Version("3.8")
    assert Version(versions.rebuilt("3.8", t, 1)) > Version("3.7")
    assert versions.is_newer(versions.rebuilt("3.8", t, 2), versions.rebuilt("3.8", t, 1))
    assert versions.is_newer(versions.rebuilt("3.8", t, 10), versions.rebuilt("3.8", t, 9))
    noble = targets(tmp_path)["noble"]
    assert versions.is_newer(versions.authored("1.0", noble, 2), versions.authored("1.0", noble, 1))


# Own rebuilds: (target, archive version, what the rebuild must sort below: the archive's next stable,
# security or point updates of that version, in each form the archive uses).
OWN = [
    ("bookworm", "1.10.4-2", "1.10.4-2+deb12u0+kronos", ["1.10.4-2+deb12u1", "1.10.4-3~deb12u1"]),
    ("bookworm", "2.36-9+deb12u4", "2.36-9+deb12u4+kronos", ["2.36-9+deb12u5", "2.36-9+deb12u10"]),
    ("bookworm", "115.9.1esr-1~deb12u1", "115.9.1esr-1~deb12u1+deb12u0+kronos",
     ["115.9.1esr-1~deb12u2", "115.9.1esr-1+deb12u1", "115.10.0esr-1~deb12u1"]),
    ("bookworm", "3.8", "3.8+deb12u0+kronos", ["3.8+deb12u1"]),  # a native package
    ("trixie", "2.0-1", "2.0-1+deb13u0+kronos", ["2.0-1+deb13u1"]),
    ("trixie", "2.0-1+deb13u1", "2.0-1+deb13u1+kronos", ["2.0-1+deb13u2"]),
    ("noble", "1.2-3ubuntu2", "1.2-3ubuntu2+kronos",
     ["1.2-3ubuntu2.1", "1.2-3ubuntu2.24.04.1", "1.2-3ubuntu3"]),
    ("noble", "1.2-3", "1.2-3ubuntu0+kronos", ["1.2-3ubuntu0.1", "1.2-3ubuntu0.24.04.1", "1.2-3ubuntu1"]),
    ("noble", "1.2-3build1", "1.2-3build1ubuntu0+kronos",
     ["1.2-3ubuntu0.1", "1.2-3ubuntu0.24.04.1", "1.2-3build2"]),
    ("noble", "1.2-3ubuntu0.24.04.1", "1.2-3ubuntu0.24.04.1+kronos",
     ["1.2-3ubuntu0.24.04.2", "1.2-3ubuntu0.24.04.1.1"]),
    ("noble", "1.2-0ubuntu1.1", "1.2-0ubuntu1.1+kronos", ["1.2-0ubuntu1.2", "1.2-0ubuntu1.1.1"]),
    ("resolute", "1.2-3", "1.2-3ubuntu0+kronos", ["1.2-3ubuntu0.1", "1.2-3ubuntu0.26.04.1"]),
    ("sid", "2025.04.26-1", "2025.04.26-1+kronos", ["2025.04.26-2"]),
]


@pytest.mark.parametrize(("target", "original", "prefix", "updates"), OWN)
def test_own_rebuild_sorts_above_the_archive_and_below_its_next_update(
    tmp_path: Path, target: str, original: str, prefix: str, updates: list[str]
) -> None:
    t = targets(tmp_path)[target]
    rebuilds = [versions.own_rebuild(original, t, n) for n in (1, 2, 9, 10, 99)]
    assert rebuilds[0] == f"{prefix}1"
    assert Version(original) < Version(rebuilds[0])
    assert [Version(v) for v in rebuilds] == sorted(Version(v) for v in rebuilds)  # successive N sort upward
    assert len(set(rebuilds)) == len(rebuilds)
    for update in updates:
        # the archive's update is what apt installs: it beats every rebuild of the version it updates
        assert Version(rebuilds[-1]) < Version(update), (rebuilds[-1], update)


def test_ocaml_re_from_bookworm_rebuilt_for_bookworm(tmp_path: Path) -> None:
    """The issue's case: bookworm's ocaml-re (1.10.4-1 in bookworm's Sources) rebuilt for bookworm
    sorted below the archive's build."""
    t = targets(tmp_path)["bookworm"]
    old = versions.rebuilt("1.10.4-1", t, 1)  # the backport rule it used to get
    assert Version(old) < Version("1.10.4-1")
    new = versions.own_rebuild("1.10.4-1", t, 1)
    assert new == "1.10.4-1+deb12u0+kronos1"
    assert Version("1.10.4-1") < Version(new) < Version("1.10.4-1+deb12u1")
    assert Version("1.10.4-1+kronos12.1") > Version("1.10.4-1+deb12u1")  # why not a plain +kronos


def test_own_suites(tmp_path: Path) -> None:
    t = targets(tmp_path)
    bw = t["bookworm"]
    for suite in ("bookworm", "bookworm-updates", "bookworm-security", "bookworm-proposed-updates"):
        assert versions.from_own_suite("debian", suite, bw), suite
    for archive, suite in (("debian", "bookworm-backports"), ("debian", "sid"), ("debian", "trixie"),
                           ("ubuntu", "bookworm")):
        assert not versions.from_own_suite(archive, suite, bw), (archive, suite)
    for suite in ("noble", "noble-updates", "noble-security"):
        assert versions.from_own_suite("ubuntu", suite, t["noble"])
    assert not versions.from_own_suite("ubuntu", "resolute", t["noble"])
    assert versions.from_own_suite("debian", "sid", t["sid"])
    assert not versions.from_own_suite("debian", "experimental", t["sid"])


def test_backports_from_newer_suites_keep_bpo(tmp_path: Path) -> None:
    t = targets(tmp_path)
    assert versions.rebuilt("2025.04.26-1", t["bookworm"], 1) == "2025.04.26-1~bpo12+1"
    assert versions.rebuilt("2025.04.26-1", t["trixie"], 1) == "2025.04.26-1~bpo13+1"
    assert versions.rebuilt("2025.04.26-1", t["noble"], 1) == "2025.04.26-1~ubuntu24.04.1"
    assert versions.rebuilt("2025.04.26-1", t["sid"], 1) == "2025.04.26-1+kronos1"
    # a sid rebuild of a sid source keeps its version
    assert versions.own_rebuild("2025.04.26-1", t["sid"], 1) == "2025.04.26-1+kronos1"


def test_ledger_never_reuses_a_version(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    ledger = Ledger(path)
    assert ledger.next_n("1.0") == 1
    ledger.record(Entry("k1", "1.0-1", "1.0", 1, 100))
    ledger = Ledger(path)  # reloaded from disk
    assert ledger.find("k1") is not None and ledger.find("k2") is None
    assert ledger.next_n("1.0") == 2 and ledger.next_n("2.0") == 1
    ledger.record(Entry("k2", "1.0-2", "1.0", 2, 200))
    assert ledger.latest() == Entry("k2", "1.0-2", "1.0", 2, 200)
    with pytest.raises(BuildError, match=rf"^{path}: version 1.0-2 already names another build; nothing"):
        ledger.record(Entry("k3", "1.0-2", "1.0", 2, 300))


@pytest.mark.parametrize(
    ("suite", "target", "version"),
    [
        ("bookworm", "bookworm", "1.10.4-2+deb12u0+kronos1"),
        ("bookworm-security", "bookworm", "1.10.4-2+deb12u0+kronos1"),
        ("sid", "bookworm", "1.10.4-2~bpo12+1"),
        ("sid", "sid", "1.10.4-2+kronos1"),
        ("noble-updates", "noble", "1.10.4-2ubuntu0+kronos1"),
    ],
)
def test_choose_version_decides_by_the_source_suite(tmp_path: Path, suite: str, target: str, version: str) -> None:
    t = targets(tmp_path)[target]
    source = DebianSource(t.archive if suite != "sid" else "debian", suite, "ocaml-re", None, ("main",))
    recipe = Recipe("ocaml-re", tmp_path, (target,), (), source, None, BuildOptions())
    inputs = Inputs(recipe, t, "1.10.4-2", "ocaml-re", {}, [], {})
    ledger = Ledger(tmp_path / "ledger.json")
    entry, known = choose_version(inputs, "k1", ledger)
    assert (entry.version, entry.n, known) == (version, 1, False)
    ledger.record(entry)
    second, _ = choose_version(inputs, "k2", ledger)
    assert Version(second.version) > Version(entry.version) and second.n == 2


def test_the_real_recipes_keep_their_versions() -> None:
    """Sources from other suites are backports on bookworm (~bpo12, below what they backport);
    bookworm's own sources (xen, the dune-built libraries) are own rebuilds (+deb12u0+kronosN)."""
    s = load_settings(ROOT, env={})
    debian_sources = {r.name: r.source for r in load_recipes(s).values() if isinstance(r.source, DebianSource)}
    suites = {name: source.suite for name, source in debian_sources.items()}
    assert suites == {"quickjs": "sid", "dh-ocaml": "sid", "ocaml-qcheck": "sid", "ocaml-dune": "trixie",
                      "ocaml-sexplib0": "trixie", "ounit": "bookworm", "ocaml-re": "bookworm",
                      "ocaml-alcotest": "bookworm", "xen": "bookworm"}
    bookworm = s.target("bookworm")
    for name, source in debian_sources.items():
        own = versions.from_own_suite(source.archive, source.suite, bookworm)
        assert own == (source.suite == "bookworm"), name
        assert versions.from_own_suite(source.archive, source.suite, s.target(source.suite)), name
        for target in {"trixie", "bookworm", "sid", "noble", "resolute"} - {source.suite}:
            assert not versions.from_own_suite(source.archive, source.suite, s.target(target)), (name, target)
    assert versions.own_rebuild("4.17.5+72-g01140da4e8-1", bookworm, 1) == "4.17.5+72-g01140da4e8-1+deb12u0+kronos1"
    assert versions.rebuilt("0.91-2", bookworm, 1) == "0.91-2~bpo12+1"
