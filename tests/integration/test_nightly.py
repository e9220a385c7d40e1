"""`kronos nightly` end to end on a fixture stack of four packages (dpkg-dev only, seconds each), three
nights: green; then patches that break two packages (a failed build with a dependent, a lintian
error) while a third changes; then fixed. Real builds, real gates, the real signed repository, and
real apt in a clean container reading the served suite."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kronos.engine import ContainerSpec, get_engine
from kronos.nightly.report import SCHEMA

from ..unit.test_nightly import local_links
from .checkout import ROOT
from .fixture_stack import COPYRIGHT, KRONOS, TARGET, fixture_recipe, new_project, project_env

pytestmark = pytest.mark.integration

def package(root: Path, recipe: str, sibling: str = "", depends: str = "") -> None:
    """Lintian-clean but for bogus-mail-host (overridden by the default policy); a file in the tree breaks
    the build (BREAK) or drops the copyright file (NOCOPYRIGHT, a lintian error): the patches add them."""
    name = f"k{recipe}"
    fixture_recipe(
        root, recipe, name, tree={"README": f"{name}\n"}, changelog="A nightly fixture.",
        debian={"copyright": COPYRIGHT},
        build_depends=["dpkg-dev (>= 1.20)", *[f"k{sibling}"] * bool(sibling)],
        depends=["${misc:Depends}", *[f"k{sibling}"] * bool(sibling), *[depends] * bool(depends)],
        steps=["if [ -e BREAK ]; then echo 'nightly fixture: broken by a patch' >&2; exit 1; fi",
               "mkdir -p debian/tmp/DEBIAN $(D) debian/tmp/usr/share/$(P)", "cp README debian/tmp/usr/share/$(P)/",
               "[ -e NOCOPYRIGHT ] || cp debian/copyright $(D)/copyright",
               "gzip -9nc debian/changelog > $(D)/changelog.Debian.gz",
               "chmod -R u=rwX,go=rX debian/tmp"],  # modes that do not follow the umask: reproducible
        description=f"kronos nightly fixture {name}\n A package of the nightly fixtures of"
                    " tests/integration/test_nightly.py,\n built, judged, staged and promoted each night.")


# every gate judged every package: no debian/tests is a pass without a run
ALL_PASS = {"lintian": "pass", "piuparts": "pass", "autopkgtest": "pass", "repro": "pass"}


def add_file_patch(root: Path, recipe: str, name: str, text: str) -> None:
    """patches/<recipe>/common: one patch that adds the file `name` to the tree."""
    d = root / "patches" / recipe / "common"
    d.mkdir(parents=True, exist_ok=True)
    lines = text.splitlines()
    (d / f"add-{name}.patch").write_text(f"--- /dev/null\n+++ b/{name}\n@@ -0,0 +1,{len(lines)} @@\n"
                                         + "".join(f"+{ln}\n" for ln in lines))
    with (d / "series").open("a") as f:
        f.write(f"add-{name}.patch\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = new_project(tmp_path_factory.mktemp("nightly"))
    package(root, "ny-lib")
    package(root, "ny-app", sibling="ny-lib")
    package(root, "ny-lint")
    package(root, "ny-fresh")
    (root / "repo").mkdir()
    shutil.copy(ROOT / "repo" / "repository.toml", root / "repo" / "repository.toml")
    (root / "kronos.toml").write_text("[nightly]\nretries = 1\n")
    return root


def nightly(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KRONOS), "nightly", "--target", TARGET, "--jobs", "2", *args], cwd=root,
                          env=project_env(root), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=1800, check=False)


def last_report(root: Path) -> tuple[Path, dict[str, Any]]:
    runs = sorted(p for p in (root / "out" / "nightly").iterdir() if (p / "report.json").is_file())
    data = json.loads((runs[-1] / "report.json").read_text())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()), format_checker=jsonschema.FormatChecker())
    for page in (runs[-1] / "index.html", runs[-1].parent / "index.html"):
        missing = [p for p in local_links(page) if not p.exists()]
        assert not missing, f"{page} links to what does not exist: {missing}"
    return runs[-1], data


def by_recipe(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["recipe"]: p for p in data["packages"]}


def served(root: Path, suite: str, install: str = "") -> tuple[dict[str, set[str]], str]:
    """What real apt in a clean bookworm container sees in `suite` of the published tree (name ->
    versions), and the version `apt-get install` of `install` gives."""
    engine = get_engine()
    image = sorted(engine.images(f"kronos/base-{TARGET}:"))[0]
    public = root / "repo" / "public"
    script = textwrap.dedent(f"""\
        set -eu
        chmod -R a+rX /tmp/public
        cat > /tmp/only.sources <<EOF
        Types: deb
        URIs: file:/tmp/public
        Suites: {suite}
        Components: main
        Signed-By: /tmp/public/kronos-archive-keyring.pgp
        EOF
        mkdir -p /tmp/parts && mv /tmp/only.sources /tmp/parts/
        O="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/parts"
        apt-get $O update --error-on=any >/dev/null
        echo '@@@ MADISON'
        apt-cache $O madison kny-lib kny-app kny-lint kny-fresh || true
        echo '@@@ END'
        """)
    if install:
        script += (f"apt-get $O install -y -q {install} >/dev/null\n"
                   f"dpkg-query -W -f '@@@ INSTALLED ${{Version}}\\n' {install}\n")
    work = root / ".apt-check"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "check.sh").write_text(script)
    spec = ContainerSpec(image=image, command=("sh", "/tmp/check.sh"), network="none")
    with engine.container(spec) as c:
        c.put(public, "/tmp")
        c.put(work / "check.sh", "/tmp")
        rc = c.run(work / "log")
    out = (work / "log").read_text()
    assert rc == 0, out[-3000:]
    seen: dict[str, set[str]] = {}
    inside = False
    installed = ""
    for line in out.splitlines():
        if line == "@@@ MADISON":
            inside = True
        elif line == "@@@ END":
            inside = False
        elif inside and "|" in line:
            name, version = (c.strip() for c in line.split("|")[:2])
            seen.setdefault(name, set()).add(version)
        elif line.startswith("@@@ INSTALLED "):
            installed = line.split()[2]
    return seen, installed


def test_three_nights_green_broken_fixed(project: Path) -> None:
    root = project
    # night 1, with a second nightly started while it runs: that one exits 75 at once, naming the holder
    first = subprocess.Popen([str(KRONOS), "nightly", "--target", TARGET, "--jobs", "2"], cwd=root,
                             env=project_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (root / "out" / "nightly" / ".holder").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    second = nightly(root)
    out, err = first.communicate(timeout=1800)
    assert first.returncode == 0, out[-3000:] + err[-3000:]
    assert second.returncode == 75, second.stdout[-2000:] + second.stderr[-2000:]
    assert f"pid {first.pid}" in second.stderr and "the nightly lock" in second.stderr, second.stderr

    run1, night1 = last_report(root)
    assert night1["result"] == "green" and night1["exit_code"] == 0
    assert night1["since_last_night"]["previous_run"] is None
    got = by_recipe(night1)
    assert {r: p["state"] for r, p in got.items()} == dict.fromkeys(("ny-lib", "ny-app", "ny-lint", "ny-fresh"),
                                                                   "built")
    assert all(p["promoted"] and p["rebuilt_because"] == ["not built yet"] for p in got.values())
    assert {g["gate"]: g["outcome"] for g in got["ny-lint"]["gates"]} == ALL_PASS
    assert [s["name"] for s in night1["stages"]] == ["refresh", "build", "qa", "staging", "smoke", "installability",
                                                     "promote"]
    assert night1["smoke"][TARGET]["result"] == "not run" and "no xen" in night1["smoke"][TARGET]["why"]
    v1 = {r: p["version"] for r, p in got.items()}
    sources = (root / "repo" / "public" / "kronos.sources").read_text()
    assert f"Suites: {TARGET}\n" in sources, sources  # the staging suite is never what users install

    # night 2: ny-lib's build breaks (ny-app, built against it, is skipped), ny-lint loses its copyright
    # file (a lintian error: held back), ny-fresh changes (promoted), and a new ny-needs passes its own
    # gates but needs the new ny-lint at run time: the suite would not be installable (dose-distcheck)
    package(root, "ny-needs", depends=f"kny-lint (>> {v1['ny-lint']})")
    add_file_patch(root, "ny-lib", "BREAK", "broken")
    add_file_patch(root, "ny-lint", "NOCOPYRIGHT", "no copyright file")
    add_file_patch(root, "ny-fresh", "CHANGES", "a new feature")
    night = nightly(root)
    assert night.returncode == 1, night.stdout[-3000:] + night.stderr[-3000:]
    assert "4 package(s) held back or failed" in night.stderr, night.stderr[-2000:]  # lib, app, lint, needs
    run2, night2 = last_report(root)
    got = by_recipe(night2)
    assert {r: p["state"] for r, p in got.items()} == {
        "ny-lib": "failed", "ny-app": "skipped because a dependency failed", "ny-lint": "held back by a gate",
        "ny-fresh": "built", "ny-needs": "held back: not installable in the suite it would make"}
    assert got["ny-needs"]["why"].startswith("kny-needs: not installable: unsat-dependency kny-lint"), got["ny-needs"]
    assert {g["gate"]: g["outcome"] for g in got["ny-needs"]["gates"]} == ALL_PASS
    assert got["ny-lib"]["failure"] == "package" and len(got["ny-lib"]["attempts"]) == 1  # never retried
    assert "broken by a patch" in (run2 / got["ny-lib"]["log"]).read_text()
    assert "no-copyright-file" in got["ny-lint"]["why"]
    assert got["ny-fresh"]["rebuilt_because"] == ["patch common/add-CHANGES.patch added"]
    assert got["ny-fresh"]["promoted"] and got["ny-fresh"]["version"] != v1["ny-fresh"]
    assert got["ny-lint"]["version"] != v1["ny-lint"] and not got["ny-lint"]["promoted"]
    since = night2["since_last_night"]
    assert since["previous_run"] == run1.name
    assert {x["package"] for x in since["newly_failing"]} == {f"{TARGET}/ny-lib", f"{TARGET}/ny-app",
                                                              f"{TARGET}/ny-lint"}
    assert {"package": f"{TARGET}/ny-lint", "tag": "error no-copyright-file"} in since["new_lintian_tags"]
    page = (run2 / "index.html").read_text()
    assert got["ny-lib"]["log"] in page and "kronos build --target bookworm --only ny-lib" in page

    # the served suite: yesterday's ny-lint (its new version only in staging), ny-fresh's new version
    seen, installed = served(root, TARGET, install="kny-lint")
    assert seen["kny-lint"] == {v1["ny-lint"]} and installed == v1["ny-lint"]
    assert seen["kny-lib"] == {v1["ny-lib"]} and seen["kny-app"] == {v1["ny-app"]}
    assert seen["kny-fresh"] == {v1["ny-fresh"], got["ny-fresh"]["version"]}
    # the report's "served" is what the publisher serves (what apt just installed), not a guess
    assert got["ny-lint"]["served"] == got["ny-lint"]["served_before"] == installed
    assert got["ny-fresh"]["served"] == got["ny-fresh"]["version"]
    assert got["ny-fresh"]["served_before"] == v1["ny-fresh"]
    staged, _ = served(root, f"{TARGET}-staging")
    assert got["ny-lint"]["version"] in staged["kny-lint"]

    # night 3: the breaking patches are gone: fixed (and ny-needs with them)
    shutil.rmtree(root / "recipes" / "ny-needs")
    shutil.rmtree(root / "patches" / "ny-lib")
    shutil.rmtree(root / "patches" / "ny-lint")
    night = nightly(root)
    assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]
    _, night3 = last_report(root)
    assert {x["package"] for x in night3["since_last_night"]["fixed"]} == {
        f"{TARGET}/ny-lib", f"{TARGET}/ny-app", f"{TARGET}/ny-lint"}
    assert by_recipe(night3)["ny-lint"]["version"] == v1["ny-lint"]  # the same inputs keep their version
    index = (root / "out" / "nightly" / "index.html").read_text()
    assert all(r in index for r in (run1.name, run2.name, night3["run"]))

    # a rollback serves what the suite held before the last promotion that changed it (night 2's)
    back = subprocess.run([str(KRONOS), "promote", "--rollback"], cwd=root, env=project_env(root),
                          capture_output=True, text=True, timeout=300, check=False)
    assert back.returncode == 0, back.stdout + back.stderr
    seen, _ = served(root, TARGET)
    assert seen["kny-fresh"] == {v1["ny-fresh"]}

    # the archive out of reach: the night could not run (exit 2), and its report says at which stage
    down = subprocess.run([str(KRONOS), "nightly", "--target", TARGET], cwd=root, capture_output=True, text=True,
                          env=project_env(root, KRONOS_MIRROR_DEBIAN="http://127.0.0.1:9/debian",
                                          KRONOS_DOWNLOAD_ATTEMPTS="1"),
                          timeout=300, check=False, stdin=subprocess.DEVNULL)
    assert down.returncode == 2, down.stdout[-2000:] + down.stderr[-2000:]
    assert down.stderr.strip().splitlines()[-1].startswith("kronos: error: the night could not run: stage refresh:")
    _, broken = last_report(root)
    assert broken["result"] == "could not run" and broken["could_not_run"]["stage"] == "refresh"
