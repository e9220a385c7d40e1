"""A second kronos beside the first: two `kronos build` processes on one checkout, and a recipe whose
name Docker would not take as an image name, failing its build (tests/integration/test_jobs.py's
fixture packages: dpkg-dev alone, seconds each)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from kronos.engine import get_engine

from .fixture_stack import KRONOS, TARGET, kronos, new_project, project_env
from .test_jobs import local_package

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path)


def _slow(root: Path, recipe: str) -> None:
    """The fixture's build takes a few seconds more, so that two runs overlap in it."""
    rules = root / "recipes" / recipe / "debian" / "rules"
    rules.write_text(rules.read_text().replace("binary binary-arch binary-indep:\n",
                                               "binary binary-arch binary-indep:\n\tsleep 5\n"))


def test_two_runs_on_one_checkout_never_share_a_version(project: Path) -> None:
    """Started together, building the same recipe with different maintainers (so different content
    keys): one waits for the other's build lock, naming it; each gets its own version, both are in the
    ledger, and out/ holds one whole build of the two."""
    local_package(project, "jobs-a")
    _slow(project, "jobs-a")
    procs = [subprocess.Popen([str(KRONOS), "build", "--target", TARGET], cwd=project, text=True,
                              env=project_env(project, DEBFULLNAME=name, DEBEMAIL=f"{name.lower()}@kronos.invalid"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for name in ("Alice", "Bob")]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    waited = [out for out in outputs if "waiting for the build lock of bookworm/jobs-a" in out]
    assert len(waited) == 1, outputs
    assert re.search(r"waiting for the build lock of bookworm/jobs-a \S+/jobs-a\.lock, held by pid \d+ \(running: ",
                     waited[0]), waited[0]
    ledger = json.loads((project / "out" / "ledger" / TARGET / "jobs-a.json").read_text())["builds"]
    versions = sorted(e["version"] for e in ledger)
    assert versions == ["1.0-1~bpo12+1", "1.0-1~bpo12+2"] and len({e["key"] for e in ledger}) == 2
    out = project / "out" / TARGET / "jobs-a"
    record = json.loads((out / "build.json").read_text())
    assert record["version"] in versions and record["key"] in {e["key"] for e in ledger}
    version = record["version"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*record["files"], "build.json"])
    assert all(version in name for name in record["files"] if name.endswith((".deb", ".dsc", ".changes")))
    assert not (project / "out" / TARGET / ".jobs-a.new").exists()


def test_a_recipe_named_with_a_plus_fails_with_its_own_line_and_a_shell(project: Path) -> None:
    """`+` is legal in a recipe name but not in a Docker image name: the failed build's container is
    still kept (under a name made safe), and the run ends in the build's own failure line."""
    local_package(project, "kfx+plus", fail=True, package="kfx-plus")  # `+` in a package name is a pain of its own
    proc = kronos(project, "build", "--target", TARGET)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kronos: error: kfx+plus 1.0-1~bpo12+1 failed to build on bookworm (exit "), last
    shell = re.search(r"shell: (docker run --rm -it -u builder -w /build/pkg (\S+) bash)", last)
    assert shell, last
    image = shell.group(2)
    assert re.fullmatch(r"kronos/failed-bookworm-kfx-plus-[0-9a-f]{8}:1\.0-1_bpo12_1", image), image
    engine = get_engine()
    try:
        assert engine.image_id(image), f"{image} was not kept"
        listed = subprocess.run(["docker", "run", "--rm", "-u", "builder", "-w", "/build/pkg", image, "ls", "debian"],
                                capture_output=True, text=True, check=False)
        assert listed.returncode == 0 and "rules" in listed.stdout.split(), listed.stdout + listed.stderr
    finally:
        engine.remove_image(image)
