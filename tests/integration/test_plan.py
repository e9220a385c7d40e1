"""`kronos plan` on the real indices (through the configured mirror and the signed chain), its
result checked independently with dose-builddebcheck on the same indices and model."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.plan import check, closure, output, recipes, rules, truth
from kronos.plan.indices import load_indices

from .checkout import ROOT
from .conftest import kronos

pytestmark = pytest.mark.integration

NAMES = ("ocaml-dune (>= 3.20)", "libpsq-ocaml-dev", "libtar-ocaml-dev", "libmirage-crypto-ocaml-dev (>= 0.11)")
OWN = {"ocaml-dune", "ocaml-psq", "ocaml-tar", "ocaml-mirage-crypto"}  # the wanted binaries' sources


def test_bookworm_from_sid_agrees_with_dose_and_is_minimal(tmp_path: Path) -> None:
    settings = load_settings(ROOT)
    plan_rules = rules.load_rules(ROOT)
    cache = Cache(settings.cache_dir)
    target = settings.target("bookworm")
    idx = load_indices(settings, Archives(settings, cache), target, ["sid"], plan_rules.model)
    c = closure.compute(idx, plan_rules, NAMES)
    members = {m.source: m for m in c.members.values()}
    assert all(w.ok for w in c.wants), [w.problems for w in c.wants]
    assert {"dh-ocaml", *OWN} <= set(members)
    assert not [m for m in c.members.values() if m.build_problems]
    assert members["ocaml-dune"].rewrites == ("debhelper-compat (= 14) -> debhelper-compat (= 13)",)
    assert members["ocaml-tar"].chain == ("ocaml-tar", "libtar-ocaml-dev")
    assert "glibc" not in members and "ocaml" not in members  # the model: rebuilt on bookworm
    # the mirror serves dh-ocaml's files but not ocaml-psq's (BUILD-HOST.md)
    assert (members["dh-ocaml"].reachable, members["ocaml-psq"].reachable) == (True, False)
    # its .dsc answers 404 too, but a .dsc could be made from the signed index: the tarball is what is missing
    assert members["ocaml-psq"].unreachable.startswith("ocaml-psq_0.2.1.orig.tar"), members["ocaml-psq"].unreachable
    assert "HTTP 404" in members["ocaml-psq"].unreachable
    profiles = plan_rules.profiles
    assert check.broken(check.write_inputs(c, idx, plan_rules, tmp_path / "all"), settings.architecture,
                        profiles) == 0
    for key, m in c.members.items():
        if m.kind == closure.REBUILD or m.source in OWN:
            continue
        files = check.write_inputs(c, idx, plan_rules, tmp_path / m.source, drop=key)
        assert check.broken(files, settings.architecture, profiles) > 0, f"{m.source} is not needed"


def test_plan_command_prints_json_and_one_line_errors(tmp_path: Path) -> None:
    env = dict(os.environ, KRONOS_ROOT=str(ROOT), KRONOS_OUTPUT_DIR=str(tmp_path / "out"))
    got = kronos("plan", "--target", "bookworm", "--from", "sid", "--json", "ocaml-dune (>= 3.20)",
                 "libnothere-ocaml-dev", env=env)
    assert got.returncode == 1
    doc = json.loads(got.stdout[got.stdout.index("{\n"):])
    assert [w["ok"] for w in doc["wanted"]] == [True, False]
    assert doc["wanted"][1]["missing"] == ["libnothere-ocaml-dev"]
    assert {"dh-ocaml", "ocaml-dune"} <= {m["source"] for m in doc["members"]}
    bad = kronos("plan", "--target", "nosuch", "--from", "sid", "x", env=env)
    assert bad.returncode == 2 and bad.stdout.strip().splitlines()[-1].startswith("kronos: error: unknown target")


def test_bookworm_from_trixie_then_sid_rediscovers_the_stack_chain(tmp_path: Path) -> None:
    """The chain the payload builds (XAPI-STACK.md), found from the indices and plan.toml's dune rule;
    the recipes --write-recipes writes for it are the payload's (which the session builds)."""
    settings = load_settings(ROOT)
    plan_rules = rules.load_rules(ROOT)
    archives = Archives(settings, Cache(settings.cache_dir))
    idx = load_indices(settings, archives, settings.target("bookworm"), ["trixie", "sid"], plan_rules.model)
    c = closure.compute(idx, plan_rules, ["ocaml-dune (>= 3.17)", "libsexplib0-ocaml-dev (>= 0.17)",
                                          "libqcheck-ocaml-dev (>= 0.91)"])
    assert all(w.ok for w in c.wants)
    got = {m.source: (m.suite, m.kind) for m in c.members.values()}
    assert got == {
        "quickjs": ("trixie", "backport"), "dh-ocaml": ("sid", "backport"),  # trixie's dh-ocaml 2.4 is not served
        "ocaml-dune": ("trixie", "backport"), "ocaml-sexplib0": ("trixie", "backport"),
        "ocaml-qcheck": ("sid", "backport"), "ounit": ("bookworm", "rebuild"),
        "ocaml-re": ("bookworm", "rebuild"), "ocaml-alcotest": ("bookworm", "rebuild"),
    }
    assert all(m.reachable for m in c.members.values())
    order = [c.members[k].source for step in output.steps(c) for k in step]
    # dh-ocaml needs quickjs at run time only: both come before the dune build that installs them
    assert max(order.index("quickjs"), order.index("dh-ocaml")) < order.index("ocaml-dune") < order.index("ounit")
    assert order.index("ocaml-re") < order.index("ocaml-alcotest") < order.index("ocaml-qcheck")
    members = {m.source: m for m in c.members.values()}
    assert members["ocaml-alcotest"].chain == ("ocaml-alcotest", "ocaml-qcheck", "libqcheck-ocaml-dev (>= 0.91)")
    # from the solver's decisions: qcheck's Build-Depends name alcotest's -dev, which installed bookworm's
    alcotest = members["ocaml-alcotest"].links[0]
    assert (alcotest.field, alcotest.relation, alcotest.via) == ("Build-Depends", "libalcotest-ocaml-dev", ())
    assert alcotest.installed.startswith("libalcotest-ocaml-dev 1.6.0-1") and alcotest.decided
    assert members["ounit"].version == "2.2.6-1+deb12u0+kronos1"
    written = recipes.write_recipes(settings, archives, c, plan_rules, None, tmp_path / "w")
    assert sorted(written) == sorted(got)
    for name in written:
        mine = tomllib.loads((tmp_path / "w" / "recipes" / name / "recipe.toml").read_text())
        theirs = tomllib.loads((ROOT / "recipes" / name / "recipe.toml").read_text())
        if name == "quickjs":  # the same version; the payload takes it from sid, plan prefers trixie
            assert (mine["source"].pop("suite"), theirs["source"].pop("suite")) == ("trixie", "sid")
        assert mine == theirs, name
        ours = tmp_path / "w" / "patches" / name / "bookworm"
        kept = ROOT / "patches" / name / "bookworm"
        assert sorted(p.name for p in ours.glob("*")) == sorted(p.name for p in kept.glob("*")), name
        for patch in kept.glob("*"):
            assert (ours / patch.name).read_bytes() == patch.read_bytes()


def test_write_recipes_makes_the_rewrite_patch_on_the_real_source(tmp_path: Path) -> None:
    """A project without dh-ocaml's patch: the compat rewrite becomes a patch of sid's real debian/control."""
    from kronos.run import run

    (tmp_path / "kronos.toml").write_bytes((ROOT / "kronos.toml").read_bytes())
    settings = load_settings(tmp_path)
    plan_rules = rules.load_rules(ROOT)
    archives = Archives(settings, Cache(settings.cache_dir))
    idx = load_indices(settings, archives, settings.target("bookworm"), ["sid"], plan_rules.model)
    c = closure.compute(idx, plan_rules, ["dh-ocaml"])
    assert recipes.write_recipes(settings, archives, c, plan_rules, None, tmp_path / "w") == ["dh-ocaml"]
    out = tmp_path / "w" / "patches" / "dh-ocaml" / "bookworm"
    assert (out / "series").read_text() == f"{recipes.REWRITES_PATCH}\n"
    patch = (out / recipes.REWRITES_PATCH).read_text()
    assert "-Build-Depends:" in patch and "+Build-Depends: debhelper-compat (= 13)" in patch
    got = idx.from_source("sid", "dh-ocaml")
    assert got is not None
    from kronos.sources import debian

    fetched = debian.fetch(archives, settings.archives["debian"], "sid", "dh-ocaml", got.version, ("main",),
                           tmp_path / "src")
    run(["dpkg-source", "--no-check", "-x", str(fetched.dsc), str(tmp_path / "tree")], cwd=tmp_path)
    run(["patch", "-p1", "--dry-run", "-i", str(out / recipes.REWRITES_PATCH)], cwd=tmp_path / "tree")


def test_with_recipes_what_the_project_builds_is_not_a_member() -> None:
    """bookworm's recipes build dh-ocaml 3.8 and quickjs (kronos graph's metadata): only dune 3.24 and
    psq remain to backport."""
    from kronos.plan.command import plan

    c, _ = plan(load_settings(ROOT), "bookworm", ["sid"], ["ocaml-dune (>= 3.20)", "libpsq-ocaml-dev"],
                with_recipes=True)
    assert {m.source for m in c.members.values()} == {"ocaml-dune", "ocaml-psq"}
    without, _ = plan(load_settings(ROOT), "bookworm", ["sid"], ["ocaml-dune (>= 3.20)", "libpsq-ocaml-dev"])
    assert {"dh-ocaml", "quickjs"} <= {m.source for m in without.members.values()}


SEED = 2026  # bench/plan draws 30 + 5 with the same seed; this takes the first few of each


def test_sampled_trixie_sources_close_as_dose_and_a_backporter_say(tmp_path: Path) -> None:
    """Ground truth independent of kronos's model (kronos.plan.truth): dose-builddebcheck on the real
    Sources stanzas against bookworm's real Packages, and the real debian/control's hand-written
    Depends checked with dose-distcheck. A source that builds unchanged and whose hand-written Depends
    bookworm satisfies closes to itself alone (its t64 libraries and dh_python3 bounds are the
    rebuild's to regenerate); one that lacks a newer build dependency brings the source of it."""
    settings = load_settings(ROOT)
    plan_rules = rules.load_rules(ROOT)
    idx = load_indices(settings, Archives(settings, Cache(settings.cache_dir)), settings.target("bookworm"),
                       ["trixie"], plan_rules.model)
    found = truth.sample(idx, SEED, 3, 1, tmp_path, plan_rules.profiles)
    print(f"sample (seed {SEED}); passed over: {found.skipped}")
    assert len(found.unchanged) == 3 and len(found.needing) == 1
    wrong = []
    for s in [*found.unchanged, *found.needing]:
        c = closure.compute(idx, plan_rules, [s.wanted], check_reach=False)
        print(f"{s.source} {s.version}: want {s.wanted}; needs {s.needs or 'nothing newer'}; "
              f"hand-written {s.handwritten}; closure {sorted(m.source for m in c.members.values())}")
        wrong += [why] if (why := truth.disagreement(c, s)) else []
    assert not wrong, wrong
