"""`kronos plan` on small hand-made indices (tests/unit/plan_fixture: a bookworm-like target and a
sid-like --from suite), solved by the real libsolv worker under Debian's /usr/bin/python3."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from kronos.cache import sha256_file
from kronos.config import load_settings
from kronos.errors import ConfigError
from kronos.plan import closure, output, rules, solver
from kronos.plan.indices import Index, PlanIndices, Suite

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("plan_fixture")


def suite(name: str) -> Suite:
    def index(kind: str) -> tuple[Index, ...]:
        path = FIXTURE / f"{name}.{kind}"
        return (Index(kind, sha256_file(path), path),) if path.exists() else ()

    return Suite(name, f"file://{FIXTURE}/mirror", index("Packages"), index("Sources"))


@pytest.fixture
def idx(tmp_path: Path) -> PlanIndices:
    target = load_settings(ROOT, env={}).target("bookworm")
    return PlanIndices(tmp_path, target, "amd64", [suite("bookworm")], [suite("sid")], rules.load_rules(ROOT).model)


def plan(idx: PlanIndices, *names: str, profiles: tuple[str, ...] | None = None) -> closure.Closure:
    return closure.compute(idx, rules.load_rules(ROOT), names, profiles)


def by_source(c: closure.Closure) -> dict[str, closure.Member]:
    return {m.source: m for m in c.members.values()}


def order(c: closure.Closure) -> list[str]:
    return [c.members[k].source for step in output.steps(c) for k in step]


def test_closure_members_chain_rewrites_and_rebuild(idx: PlanIndices) -> None:
    c = plan(idx, "ocaml-dune (>= 3.20)", "libfoo-ocaml-dev")
    members = by_source(c)
    # the alternative libbaz | libbar takes libbar (libbaz has no candidate); glibc is not dragged in:
    # the model drops ocaml-base-5.4.1 and the version of libc6 (>= 2.38), a library bookworm has
    assert set(members) == {"ocaml-dune", "ocaml-foo", "ocaml-bar", "dh-ocaml", "helper", "ounit", "ocaml-qux"}
    assert all(w.ok for w in c.wants)
    dune, foo, ounit = members["ocaml-dune"], members["ocaml-foo"], members["ounit"]
    assert (dune.version, dune.suite, dune.kind) == ("3.20.2-1", "sid", "backport")
    assert dune.rewrites == ("debhelper-compat (= 14) -> debhelper-compat (= 13)",)
    assert foo.rewrites == () and foo.chain == ("ocaml-foo", "libfoo-ocaml-dev")
    assert members["ocaml-bar"].chain == ("ocaml-bar", "libfoo-ocaml-dev")  # libfoo-ocaml-dev needs it to install
    assert members["dh-ocaml"].chain == ("dh-ocaml", "ocaml-foo", "libfoo-ocaml-dev")
    # bookworm's ounit was built with dune 2.9; ocaml-foo installs its -dev and the closure brings dune 3
    assert (ounit.kind, ounit.suite, ounit.version) == ("rebuild", "bookworm", "2.2.6-1+deb12u0+kronos1")
    assert ounit.chain == ("ounit", "ocaml-foo", "libfoo-ocaml-dev") and ounit.rule
    # the rule applies again to the rebuild: ounit's build installs bookworm's libqux-ocaml-dev
    qux = members["ocaml-qux"]
    assert (qux.kind, qux.chain) == ("rebuild", ("ocaml-qux", "ounit", "ocaml-foo", "libfoo-ocaml-dev"))
    # the mirror serves dh-ocaml's files, not ocaml-dune's (checked without downloading; cached)
    assert (members["dh-ocaml"].reachable, dune.reachable) == (True, False)
    assert dune.unreachable == "ocaml-dune_3.20.2-1.dsc: no such file"
    assert len(list((idx.cache_root / "plan" / "reach").glob("*.json"))) == len(members)
    got = order(c)
    assert got.index("ocaml-dune") < got.index("ocaml-qux") < got.index("ounit") < got.index("ocaml-foo")
    assert got.index("dh-ocaml") < got.index("ocaml-foo") and got.index("helper") < got.index("ocaml-foo")
    text = "\n".join(output.lines(c))
    assert ("dh-ocaml <-[Build-Depends: dh-ocaml (>= 3)] ocaml-foo <-[wanted] libfoo-ocaml-dev  [backport, reachable]"
            in text)
    doc = json.loads(output.dumps(c))
    assert {m["source"]: m["kind"] for m in doc["members"]}["ounit"] == "rebuild"
    # a wanted binary's Depends pull in another member's binary (the relation as modelled: the ABI
    # name libbar-ocaml-dev-x1y2z is libbar-ocaml-dev)
    assert members["ocaml-bar"].links == (closure.Link("Depends", "libbar-ocaml-dev", "libfoo-ocaml-dev",
                                                       "libbar-ocaml-dev 0.5-1"),)
    # a rebuild links to the member whose build installed its binary, then follows that member's links
    assert [(link.field, link.relation) for link in qux.links] == [
        ("Build-Depends", "libqux-ocaml-dev"), ("Build-Depends", "libounit-ocaml-dev"), ("wanted", "libfoo-ocaml-dev")]
    bar = next(m for m in doc["members"] if m["source"] == "ocaml-bar")
    assert bar["links"] == [{"from": "ocaml-bar", "to": "libfoo-ocaml-dev", "field": "Depends",
                             "relation": "libbar-ocaml-dev", "binary": "libfoo-ocaml-dev",
                             "installed": "libbar-ocaml-dev 0.5-1", "via": [], "decided": True}]


def test_versioned_provides(idx: PlanIndices) -> None:
    c = plan(idx, "vthing (>= 1.5)", "vthing (>= 3)")
    assert set(by_source(c)) == {"ocaml-v"}
    ok, too_new = c.wants
    assert ok.ok and not too_new.ok
    assert too_new.missing == ("vthing >= 3",)


def test_unsatisfiable_name_says_what_has_no_candidate(idx: PlanIndices) -> None:
    c = plan(idx, "libnothere-ocaml-dev")
    assert c.members == {}
    assert c.wants[0].missing == ("libnothere-ocaml-dev",)
    assert "cannot satisfy libnothere-ocaml-dev: no candidate anywhere for libnothere-ocaml-dev" in output.lines(c)


def test_profiles_and_arch_restrictions(idx: PlanIndices) -> None:
    # [i386] never applies on amd64; <!nocheck> applies once nocheck is off, and nothing provides it
    c = plan(idx, "ocaml-foo", profiles=("nodoc",))
    foo = by_source(c)["ocaml-foo"]
    assert foo.kind == "requested"
    assert any("libtest-only-dev" in p for p in foo.build_problems)
    assert not any("libi386-only-dev" in p for p in foo.build_problems)
    assert not by_source(plan(idx, "ocaml-foo")).get("ocaml-foo", foo).build_problems


def test_cycle_is_one_step_with_its_edges(idx: PlanIndices) -> None:
    c = plan(idx, "libcyc-a-dev")
    assert set(by_source(c)) == {"cyc-a", "cyc-b"}
    assert output.steps(c) == [["sid/cyc-a", "sid/cyc-b"]]
    text = output.lines(c)
    assert "  cycle: cyc-a cyc-b" in text
    assert "    cyc-a needs libcyc-b-dev 1 from cyc-b" in text
    assert "    cyc-b needs libcyc-a-dev 1 from cyc-a (the build profile stage1 drops it)" in text
    # a profile that drops the cyclic dependency (cyc-b's <!stage1>) breaks the cycle
    c = closure.compute(idx, rules.load_rules(ROOT), ["libcyc-a-dev"], ("nocheck", "stage1"))
    assert len(output.steps(c)) == 2


def test_missing_solver_module_is_one_line(idx: PlanIndices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "python3"
    fake.symlink_to(shutil.which("python3") or "/usr/bin/python3")  # a python3 without Debian's solv module
    monkeypatch.setattr(solver, "PYTHON", fake)
    with pytest.raises(solver.SolverError, match="cannot import solv: install Debian's python3 and python3-solv"):
        plan(idx, "dh-ocaml")
    monkeypatch.setattr(solver, "PYTHON", tmp_path / "nothere")
    with pytest.raises(solver.SolverError, match="not found: install"):
        plan(idx, "dh-ocaml")


def test_rules_are_validated(tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text('[[plan.transitions]]\nname = "x"\ntool = "t"\nbuilt_with = "3"\n'
                                        'brings = ">= 3"\nconsumers = "-dev$"\n')
    with pytest.raises(ConfigError, match=r"plan.transitions\[0\].built_with: '3' is not an operator"):
        rules.load_rules(tmp_path)
    (tmp_path / "plan.toml").write_text('[[plan.rewrites]]\nrelation = "a (= 1"\nreplace = "a"\n')
    with pytest.raises(ConfigError, match="is not a relation"):
        rules.load_rules(tmp_path)


def test_dose_builddebcheck_agrees_and_the_set_is_minimal(idx: PlanIndices, tmp_path: Path) -> None:
    from kronos.plan import check

    plan_rules = rules.load_rules(ROOT)
    c = closure.compute(idx, plan_rules, ["ocaml-dune (>= 3.20)", "libfoo-ocaml-dev"])
    profiles = plan_rules.profiles
    assert check.broken(check.write_inputs(c, idx, plan_rules, tmp_path / "all"), "amd64", profiles) == 0
    fixed = {"sid/ocaml-dune", "sid/ocaml-foo"}
    for key, m in c.members.items():
        if m.kind != "rebuild" and key not in fixed:
            files = check.write_inputs(c, idx, plan_rules, tmp_path / key.replace("/", "-"), drop=key)
            assert check.broken(files, "amd64", profiles) > 0, key


def test_earlier_suite_wins_unless_only_the_later_is_reachable(tmp_path: Path) -> None:
    target = load_settings(ROOT, env={}).target("bookworm")
    idx = PlanIndices(tmp_path, target, "amd64", [suite("bookworm")], [suite("trixie"), suite("sid")],
                      rules.load_rules(ROOT).model)
    unchecked = closure.compute(idx, rules.load_rules(ROOT), ["libfoo-ocaml-dev"], check_reach=False)
    assert by_source(unchecked)["dh-ocaml"].suite == "trixie"
    # trixie's dh-ocaml 3.1 satisfies dh-ocaml (>= 3) but its files are not served; sid's 3.8 are
    c = plan(idx, "libfoo-ocaml-dev")
    dh = by_source(c)["dh-ocaml"]
    assert (dh.suite, dh.version, dh.reachable) == ("sid", "3.8", True)


def test_plan_argv_gives_invoke_one_flag_per_name() -> None:
    from kronos.cli import plan_argv

    argv = ["kronos", "plan", "--target", "bookworm", "--from", "trixie,sid", "ocaml-dune (>= 3.17)", "--json",
            "libpsq-ocaml-dev", "--profiles=nocheck"]
    assert plan_argv(argv) == ["kronos", "plan", "--target", "bookworm", "--from-suite", "trixie,sid",
                               "--name", "ocaml-dune (>= 3.17)", "--json", "--name", "libpsq-ocaml-dev",
                               "--profiles=nocheck"]
    assert plan_argv(["kronos", "build", "--target", "sid"]) == ["kronos", "build", "--target", "sid"]


def test_write_recipes_for_reachable_members_with_the_known_patches(idx: PlanIndices, tmp_path: Path) -> None:
    from kronos.plan.recipes import write_recipes

    settings = load_settings(ROOT, env={})
    c = plan(idx, "ocaml-dune (>= 3.20)", "libfoo-ocaml-dev")
    # the fixture mirror serves dh-ocaml only; ounit (a rebuild of bookworm's) is made reachable here
    key = next(k for k, m in c.members.items() if m.source == "ounit")
    c.members[key] = dataclasses.replace(c.members[key], reachable=True)
    written = write_recipes(settings, None, c, rules.load_rules(ROOT), None, tmp_path / "w")  # type: ignore[arg-type]
    assert sorted(written) == ["dh-ocaml", "ounit"]
    dh = (tmp_path / "w" / "recipes" / "dh-ocaml" / "recipe.toml").read_text()
    assert 'suite = "sid"\npackage = "dh-ocaml"\nversion = "3.8"' in dh
    assert 'profiles = ["nocheck", "nodoc"]' in dh
    assert "# Pulled in by: dh-ocaml <- ocaml-foo <- libfoo-ocaml-dev" in dh
    # the project's own patches for a source and target are copied with their series
    ounit = tmp_path / "w" / "patches" / "ounit" / "bookworm"
    assert (ounit / "series").read_bytes() == (ROOT / "patches" / "ounit" / "bookworm" / "series").read_bytes()
    assert (ounit / "dune3-absolute-libdir.patch").read_bytes() == (
        ROOT / "patches" / "ounit" / "bookworm" / "dune3-absolute-libdir.patch").read_bytes()
    assert 'version = "2.2.6-1"' in (tmp_path / "w" / "recipes" / "ounit" / "recipe.toml").read_text()


def test_essential_packages_stay_installed(idx: PlanIndices) -> None:
    # sid's libbreaker-dev 1.0 Breaks bookworm's Essential base-files; 0.9 does not
    assert idx.essential == ["base-files"]
    c = plan(idx, "uses-breaker")
    assert [e.why for e in c.edges] == ["libbreaker-dev 0.9"]


def test_a_solv_cache_libsolv_cannot_read_is_parsed_again(idx: PlanIndices) -> None:
    first = by_source(plan(idx, "vthing (>= 1.5)"))
    caches = sorted((idx.cache_root / "plan").glob("*.solv"))
    assert len(caches) == 2  # the target's and sid's parsed Packages
    for path in caches:
        path.write_bytes(b"not a solv file")
    assert by_source(plan(idx, "vthing (>= 1.5)")).keys() == first.keys() == {"ocaml-v"}


@pytest.mark.parametrize(("target", "froms", "names", "message"), [
    ("", ["sid"], ["x"], "plan: name the target to backport to with --target T"),
    ("bookworm", [], ["x"], r"plan: name the suites to backport from with --from SUITE\[,SUITE...\]"),
    ("bookworm", ["sid"], [], "plan: name at least one source or binary package"),
    ("nosuch", ["sid"], ["x"], "unknown target 'nosuch'"),
])
def test_plan_user_errors_are_one_line(target: str, froms: list[str], names: list[str], message: str) -> None:
    from kronos.plan.command import plan as run_plan

    with pytest.raises(ConfigError, match=message):
        run_plan(load_settings(ROOT, env={}), target, froms, names)


def test_per_source_profiles_and_understated_dependencies(idx: PlanIndices) -> None:
    base = rules.load_rules(ROOT)
    # ocaml-foo built without nocheck (plan.toml's [plan.sources.ocaml-foo]) needs libtest-only-dev
    per_source = dataclasses.replace(base, source_profiles={"ocaml-foo": ("nodoc",)})
    foo = by_source(closure.compute(idx, per_source, ["ocaml-foo"]))["ocaml-foo"]
    assert any("libtest-only-dev" in p for p in foo.build_problems)
    # a build dependency the Build-Depends under-state pulls its source in, and the member says so
    added = dataclasses.replace(base, understated=(rules.Understated("ocaml-foo", "vthing (>= 2)"),))
    c = closure.compute(idx, added, ["ocaml-foo"])
    assert by_source(c)["ocaml-foo"].rewrites == ("+ vthing (>= 2)",)
    assert by_source(c)["ocaml-v"].chain == ("ocaml-v", "ocaml-foo")


def test_links_say_which_relation_forced_each_member(idx: PlanIndices) -> None:
    """libtop-dev's source builds with libmid-dev (whose Depends need liblow-dev (>= 2)) and bookworm's
    libwrap-dev (whose Pre-Depends need libinner-dev (>= 3), newer than bookworm's): all three come
    from sid, each for a different relation, although top's build installs all three."""
    c = plan(idx, "libtop-dev")
    members = by_source(c)
    assert set(members) == {"top", "mid", "low", "inner"}
    assert members["top"].links == (closure.Link("wanted", "libtop-dev", "", "libtop-dev 1.0"),)
    assert members["mid"].links[0] == closure.Link("Build-Depends", "libmid-dev", "", "libmid-dev 1.0")
    # from the solver's decisions, not top's install set: mid's binary required liblow-dev
    assert members["low"].chain == ("low", "mid", "top", "libtop-dev")
    assert members["low"].links[0] == closure.Link("Depends", "liblow-dev (>= 2)", "libmid-dev", "liblow-dev 2.0")
    # through a target package: top's Build-Depends name bookworm's libwrap-dev, whose Pre-Depends need inner
    inner = members["inner"]
    assert inner.chain == ("inner", "top", "libtop-dev")
    assert inner.links[0] == closure.Link("Build-Depends", "libwrap-dev", "", "libinner-dev 3.0",
                                          ("libwrap-dev Pre-Depends: libinner-dev (>= 3)",))
    text = output.lines(c)
    assert any("  inner <-[Build-Depends: libwrap-dev; libwrap-dev Pre-Depends: libinner-dev (>= 3)] top "
               "<-[wanted] libtop-dev  [" in line for line in text), text
    assert any("  low <-[libmid-dev Depends: liblow-dev (>= 2)] mid <-[Build-Depends: libmid-dev] top "
               "<-[wanted] libtop-dev  [" in line for line in text), text
    # the build order still follows what top's build installs, whatever required it
    assert {(c.members[e.frm].source, c.members[e.to].source) for e in c.edges} == {
        ("top", "mid"), ("top", "low"), ("top", "inner")}
    low_edge = next(e for e in c.edges if e.to == "sid/low")
    assert low_edge.link is not None and low_edge.link.text() == (
        "Build-Depends: libmid-dev; libmid-dev Depends: liblow-dev (>= 2)")
