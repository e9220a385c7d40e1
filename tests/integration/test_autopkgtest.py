"""The autopkgtest gate on fixture packages built for real, run by the target's own autopkgtest:
- `hello` (the archive has its own, 2.10 on bookworm; ours is 2.99, a shell script): a test that passes
  with both, one that fails only with ours (our regression), one that fails with the archive's build
  too (shown as such), and one that skips itself (skippable, exit 77);
- `kat-fail`, which the archive does not have: its one test fails (no baseline);
- `kat-none`: no debian/tests, so no run at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .fixture_stack import TARGET, built_project, fixture_recipe, kronos, the_verdict

pytestmark = pytest.mark.integration

STEPS = ["mkdir -p debian/tmp/DEBIAN $(D) debian/tmp/usr/bin",
         "install -m 0755 hello debian/tmp/usr/bin/$(P)-cmd",
         "gzip -9nc debian/changelog > $(D)/changelog.Debian.gz"]
HELLO_TESTS = """\
Test-Command: hello >/dev/null
Features: test-name=runs
Depends: @

Test-Command: hello | grep -qx 'Hello, world!'
Features: test-name=greets-the-world
Depends: @

Test-Command: hello | grep -q Bonjour
Features: test-name=speaks-french
Depends: @

Test-Command: echo not here; exit 77
Features: test-name=skips-itself
Restrictions: skippable
"""


def hello(root: Path) -> None:
    """Source hello, binary hello, version 2.99 (above the archive's), /usr/bin/hello a script."""
    fixture_recipe(
        root, "hello", "hello", tree={"hello": "#!/bin/sh\necho 'kronos says hello'\n"},
        changelog="A fixture named as the archive's hello.",
        steps=[*STEPS, "mv debian/tmp/usr/bin/$(P)-cmd debian/tmp/usr/bin/hello"],
        debian={"tests/control": HELLO_TESTS}, description="kronos autopkgtest fixture hello\n Not GNU hello.")
    toml = root / "recipes" / "hello" / "recipe.toml"
    toml.write_text(toml.read_text().replace('version = "1.0"', 'version = "2.99"'))


def failing(root: Path, recipe: str, tests: str) -> None:
    fixture_recipe(root, recipe, recipe, tree={"hello": "#!/bin/sh\necho hi\n"}, changelog="An autopkgtest fixture.",
                   steps=STEPS, debian={"tests/control": tests} if tests else {},
                   description=f"kronos autopkgtest fixture {recipe}\n A package of test_autopkgtest.py.")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fails = "Test-Command: echo always failing >&2; exit 1\nFeatures: test-name=fails\n"
    return built_project(tmp_path_factory.mktemp("apt"), hello, lambda root: failing(root, "kat-fail", fails),
                         lambda root: failing(root, "kat-none", ""))


def verdict(root: Path, recipe: str) -> tuple[Path, dict[str, Any]]:
    return the_verdict(root, recipe, "autopkgtest")


def test_results_per_test_against_the_archive_baseline(project: Path) -> None:
    r = kronos(project, "qa", "--target", TARGET, "--gate", "autopkgtest", "--jobs", "2", timeout=1800)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]  # blocking, and two packages fail
    assert "Traceback" not in r.stderr
    where, v = verdict(project, "hello")
    tests = {t["test"]: (t["result"], t["archive"]) for t in v["details"]["tests"]}
    # the archive's column: each test's result against the archive's own hello (run since some failed)
    assert tests == {"runs": ("PASS", "PASS"), "greets-the-world": ("FAIL", "PASS"),
                     "speaks-french": ("FAIL", "FAIL"), "skips-itself": ("SKIP", "SKIP")}, v["details"]
    assert v["outcome"] == "fail" and v["blocking"] is True
    assert v["details"]["exit"] == 6 and v["details"]["exit_means"] == "tests failed and tests skipped"
    assert v["details"]["baseline"].startswith("the archive's hello 2.10-")
    assert v["summary"].startswith("greets-the-world failed (speaks-french fail with the archive's hello 2.10-")
    assert (where / "ours" / "summary").is_file() and (where / "archive" / "summary").is_file()
    assert list((where / "ours" / "run").glob("*greets-the-world*"))  # autopkgtest's own logs, kept

    _, failed = verdict(project, "kat-fail")
    assert failed["outcome"] == "fail" and failed["details"]["exit"] == 4
    assert failed["details"]["baseline"] == f"none: the archive has no kat-fail for {TARGET}"
    assert [(t["test"], t["result"], t["archive"]) for t in failed["details"]["tests"]] == [("fails", "FAIL", None)]

    _, none = verdict(project, "kat-none")
    assert none["outcome"] == "pass" and none["summary"].startswith("no debian/tests")
    assert none["inputs"] == {"tests": None}  # not run: no container, no layer

    for line in ("hello", "kat-fail"):
        assert any(ln.startswith(f"{TARGET}/{line} autopkgtest: fail:") for ln in r.stdout.splitlines()), r.stdout
    again = kronos(project, "qa", "--target", TARGET, "--gate", "autopkgtest", timeout=600)
    assert again.returncode == 1 and again.stdout.count("(stored)") == 3, again.stdout[-2000:]
