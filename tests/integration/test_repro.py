"""The reproducibility gate on two fixture packages built for real: one whose bytes do not depend on
when, where, by whom or how it is built (reproducible), and one that records the build's date
(unreproducible, with diffoscope's report naming the file). The second build really runs varied: its
log says as whom, where, with which umask, timezone and clock."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from .fixture_stack import TARGET, built_project, fixture_recipe, kronos, the_verdict

pytestmark = pytest.mark.integration

# what debhelper would do for the fixtures: modes that do not follow the umask, dates from the changelog;
# README keeps its mtime from the source (cp -p), as upstream files do: a clock tool that shifted file
# times (libfaketime with FAKE_UTIME) would make that differ
STEPS = ["mkdir -p debian/tmp/DEBIAN $(D) debian/tmp/usr/share/$(P)", "cp -p README debian/tmp/usr/share/$(P)/",
         "gzip -9nc debian/changelog > $(D)/changelog.Debian.gz"]
NORMALISE = "chmod -R u=rwX,go=rX debian/tmp"


def repro_package(root: Path, recipe: str, extra: list[str]) -> None:
    package = f"k{recipe}"
    fixture_recipe(root, recipe, package, tree={"README": f"{package}\n"}, changelog="A repro fixture.",
                   steps=[*STEPS, *extra, NORMALISE],
                   description=f"kronos repro fixture {package}\n A package of tests/integration/test_repro.py.")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # rp-dated records the build's date: the second build's clock is 398 days ahead
    dated = ["date -u +%Y-%m-%d > debian/tmp/usr/share/$(P)/BUILT"]
    return built_project(tmp_path_factory.mktemp("repro"), lambda root: repro_package(root, "rp-same", []),
                         lambda root: repro_package(root, "rp-dated", dated))


def verdict(root: Path, recipe: str) -> tuple[Path, dict[str, Any]]:
    return the_verdict(root, recipe, "repro")


def test_one_reproducible_one_not_and_diffoscope_names_the_file(project: Path) -> None:
    r = kronos(project, "qa", "--target", TARGET, "--gate", "repro", "--jobs", "2", timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]  # repro informs: it blocks nothing
    assert "Traceback" not in r.stderr
    same_dir, same = verdict(project, "rp-same")
    assert same["outcome"] == "pass" and same["summary"] == "reproducible: 1 .deb(s) identical", same
    assert same["blocking"] is False  # repro informs by default
    dated_dir, dated = verdict(project, "rp-dated")
    assert dated["outcome"] == "fail", dated
    deb = f"krp-dated_{dated['version']}_all.deb"
    assert dated["summary"] == f"unreproducible: {deb}"
    details = dated["details"]
    assert isinstance(details, dict) and details["differ"] == [deb] and details["verdict"] == "unreproducible"
    assert "file order (disorderfs needs FUSE)" in details["not_varied"]
    html = dated_dir / "diffoscope" / f"{deb}.html"
    assert html.is_file() and "usr/share/krp-dated/BUILT" in html.read_text(errors="replace")
    assert "usr/share/krp-dated/BUILT" in (dated_dir / "diffoscope" / f"{deb}.txt").read_text(errors="replace")
    # the second build ran varied: another user, path, umask, timezone, clock, parallelism
    log = (same_dir / "repro.log").read_text(errors="replace")
    assert "kronos repro: as rebuilder (uid 1001) in /srv/kronos-second-build/path-that-differs, umask 0002," \
           " TZ=Etc/GMT-14, LC_ALL=C.UTF-8" in log, log[-2000:]
    assert "parallel=" in log
    year = subprocess.run(["date", "-u", "+%Y"], capture_output=True, text=True, check=True).stdout.strip()
    built = (dated_dir / "diffoscope" / f"{deb}.txt").read_text(errors="replace")
    assert f"+{int(year) + 1}-" in built or f"+{int(year) + 2}-" in built, built[-1500:]

    again = kronos(project, "qa", "--target", TARGET, "--gate", "repro", timeout=600)
    assert again.returncode == 0 and "(stored)" in again.stdout, again.stdout[-2000:]
