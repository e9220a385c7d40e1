"""`kronos build --jobs 2` on a fixture stack of small local packages, run as the real program:
A <- B <- C where B's build fails on purpose, plus an independent D and an independent E that fails
too. A and D build (at once), B and E fail each with a line that names its log, C is skipped
because of B, and the run exits non-zero with one error line that sums it up after the table.
(A run with a single failure ends in that failure's own line: tests/integration/test_bad_input.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.engine import get_engine

from .checkout import ROOT

pytestmark = pytest.mark.integration

KRONOS = Path(sys.executable).with_name("kronos")
TARGET = "bookworm"
FAILED_IMAGE = f"kronos/failed-{TARGET}-jobs-b"

# no debhelper: the packages build with dpkg-dev alone (in the buildd base image), in seconds
RULES = """\
#!/usr/bin/make -f
P = {package}
build build-arch build-indep:
binary binary-arch binary-indep:
{fail}\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/$(P)
\tcp hello.txt debian/tmp/usr/share/$(P)/
\tdpkg-gencontrol -p$(P) -Pdebian/tmp
\tdpkg-deb --root-owner-group --build debian/tmp ..
clean:
\trm -rf debian/tmp debian/files
"""
CONTROL = """\
Source: {{{{ source_name }}}}
Section: misc
Priority: optional
Maintainer: {{{{ maintainer }}}}
Build-Depends: {build_depends}
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: {package}
Architecture: all
Depends: {depends}
Description: kronos --jobs fixture {package}
 A package of the fixture stack of tests/integration/test_jobs.py.
"""


def local_package(root: Path, recipe: str, sibling: str = "", fail: bool = False, package: str = "") -> None:
    package = package or f"kfx-{recipe.removeprefix('jobs-')}"
    d = root / "recipes" / recipe
    (d / "src").mkdir(parents=True)
    (d / "src" / "hello.txt").write_text(f"hello from {package}\n")
    (d / "debian").mkdir()
    (d / "debian" / "control.j2").write_text(CONTROL.format(
        package=package, build_depends=", ".join(("dpkg-dev", *[sibling] * bool(sibling))),
        depends=sibling or "${misc:Depends}"))
    (d / "debian" / "rules").write_text(RULES.format(
        package=package, fail="\techo 'jobs fixture: failing on purpose' >&2; exit 1\n" if fail else ""))
    (d / "debian" / "rules").chmod(0o755)
    (d / "recipe.toml").write_text(textwrap.dedent(f"""\
        targets = ["{TARGET}"]
        [source]
        kind = "local"
        path = "src"
        version = "1.0"
        [packaging]
        source_name = "{package}"
        changelog = "The --jobs fixture."
        """))


def new_project(parent: Path) -> Path:
    """An empty project of the fixture packages: the checkout's container scripts, a kronos.toml."""
    root = parent / "project"
    root.mkdir()
    shutil.copytree(ROOT / "containers", root / "containers")
    (root / "kronos.toml").write_text("")
    return root


def project_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a run on the project: out/ under it, nothing of the caller's run settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("KRONOS_DEBUG", "KRONOS_CONFIG", "KRONOS_TARGETS",
                                                           "KRONOS_JOBS", "DEBFULLNAME", "DEBEMAIL")}
    env.update(KRONOS_ROOT=str(root), KRONOS_OUTPUT_DIR=str(root / "out"), **extra)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    root = new_project(tmp_path)
    local_package(root, "jobs-a")
    local_package(root, "jobs-b", sibling="kfx-a", fail=True)
    local_package(root, "jobs-c", sibling="kfx-b")
    local_package(root, "jobs-d")
    local_package(root, "jobs-e", fail=True)
    yield root
    engine = get_engine()
    for image in (FAILED_IMAGE, f"kronos/failed-{TARGET}-jobs-e"):
        for ref in engine.images(f"{image}:"):
            engine.remove_image(ref)


def kronos(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KRONOS), *args], cwd=root, env=project_env(root, **env), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=900, check=False)


def rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by recipe: its cells, split on runs of two or more spaces."""
    out = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0].startswith("jobs-"):
            out[cells[0]] = cells[1:]
    return out


def test_failure_skips_only_its_dependents(project: Path) -> None:
    graph = kronos(project, "graph", "--target", TARGET)
    assert graph.returncode == 0, graph.stderr
    assert "jobs-b -> jobs-a" in graph.stdout and "jobs-c -> jobs-b" in graph.stdout

    proc = kronos(project, "build", "--target", TARGET, "--jobs", "2")
    out = project / "out"
    table = rows(proc.stdout)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert set(table) == {"jobs-a", "jobs-b", "jobs-c", "jobs-d", "jobs-e"}, proc.stdout
    assert table["jobs-a"][0] == "built" and table["jobs-d"][0] == "built"
    assert table["jobs-b"][0] == "failed" and table["jobs-e"][0] == "failed"
    assert table["jobs-c"] == [f"skipped: {TARGET}/jobs-b failed"]
    a_version = table["jobs-a"][1]
    assert table["jobs-a"][3] == str(out / TARGET / "jobs-a" / f"jobs-a_{a_version}.build")
    b_log = out / "logs" / TARGET / f"jobs-b_{table['jobs-b'][1]}.build"
    assert table["jobs-b"][3] == str(b_log) and b_log.is_file()
    assert "jobs fixture: failing on purpose" in b_log.read_text()

    # what exists on disk: A and D built, B and C not
    assert sorted(p.name for p in (out / TARGET).iterdir() if not p.name.startswith(".")) == ["jobs-a", "jobs-d"]
    assert list((out / TARGET / "jobs-a").glob("kfx-a_*.deb")) and list((out / TARGET / "jobs-d").glob("kfx-d_*.deb"))
    # each failure has its own line, naming its log; the one error line sums the run up
    for recipe in ("jobs-b", "jobs-e"):
        failure = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{TARGET}/{recipe}: ")]
        log = out / "logs" / TARGET / f"{recipe}_{table[recipe][1]}.build"
        assert len(failure) == 1 and f"failed to build on {TARGET}" in failure[0], proc.stdout
        assert f"log: {log}" in failure[0] and table[recipe][3] == str(log)
    assert "2 built, 0 up to date, 2 failed, 1 skipped" in proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("kronos: error:")]
    assert errors == ["kronos: error: 2 failed, 1 skipped; see the table above"], proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == errors[0]
    # not a terminal: progress is plain timestamped lines, one per start and end
    for event in ("started bookworm/jobs-a", "done bookworm/jobs-a", "failed bookworm/jobs-b",
                  "bookworm/jobs-c skipped: bookworm/jobs-b failed"):
        assert re.search(rf"^\d\d:\d\d:\d\d {re.escape(event)}", proc.stderr, re.M), (event, proc.stderr)
    assert "started bookworm/jobs-c" not in proc.stderr
    # A, D and E have the same build-deps key: one layer, made at most once (never by two at once)
    made = re.findall(r"‣ Installing build dependencies \((\S+)\)", proc.stderr)
    assert len(made) == len(set(made)), made
    # --jobs 2: A and D (independent) ran at the same time
    assert proc.stderr.index("started bookworm/jobs-d") < proc.stderr.index("done bookworm/jobs-a")
    assert proc.stderr.index("started bookworm/jobs-a") < proc.stderr.index("done bookworm/jobs-d")

    # a second run: A and D are up to date, B fails again, C is skipped again
    again = kronos(project, "build", "--target", TARGET, "--jobs", "2")
    table = rows(again.stdout)
    assert again.returncode == 1
    assert [table[r][0] for r in ("jobs-a", "jobs-b", "jobs-d", "jobs-e")] == ["up to date", "failed", "up to date",
                                                                              "failed"]
    assert table["jobs-c"] == [f"skipped: {TARGET}/jobs-b failed"]
