"""`kronos build --jobs 2` on a fixture stack of small local packages, run as the real program:
A <- B <- C where B's build fails on purpose, plus an independent D and an independent E that fails
too. A and D build (at once), B and E fail each with a line that names its log, C is skipped
because of B, and the run exits non-zero with one error line that sums it up after the table.
(A run with a single failure ends in that failure's own line: tests/integration/test_bad_input.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.engine import get_engine

from .fixture_stack import TARGET, fixture_recipe, kronos, new_project

pytestmark = pytest.mark.integration

FAILED_IMAGE = f"kronos/failed-{TARGET}-jobs-b"


def local_package(root: Path, recipe: str, sibling: str = "", fail: bool = False, package: str = "") -> None:
    package = package or f"kfx-{recipe.removeprefix('jobs-')}"
    fixture_recipe(
        root, recipe, package, tree={"hello.txt": f"hello from {package}\n"}, changelog="The --jobs fixture.",
        steps=[*["echo 'jobs fixture: failing on purpose' >&2; exit 1"] * fail,
               "mkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/$(P)", "cp hello.txt debian/tmp/usr/share/$(P)/"],
        build_depends=["dpkg-dev", *[sibling] * bool(sibling)], depends=[sibling or "${misc:Depends}"],
        description=f"kronos --jobs fixture {package}\n"
                    " A package of the fixture stack of tests/integration/test_jobs.py.")


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
