"""Real builds of the project's recipes in Docker, installed with apt in clean containers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from debian.deb822 import Changes, Dsc

from kronos.engine import ContainerSpec
from kronos.recipe import load_recipes

from .conftest import ROOT, TARGETS, Session, kronos
from .session_build import ARGS, SKIPPED

pytestmark = pytest.mark.integration

# each target's version rule for python3-xenapi; the local revision N is 1 in a cold session, and may be
# higher in a warm one whose outputs meet a changed input (a refreshed base image: the next revision)
XENAPI_VERSIONS = {
    "sid": r"26\.21\.1-(\d+)",
    "trixie": r"26\.21\.1-1~bpo13\+(\d+)",
    "bookworm": r"26\.21\.1-1~bpo12\+(\d+)",
    "noble": r"26\.21\.1-1~ubuntu24\.04\.(\d+)",
    "resolute": r"26\.21\.1-1~ubuntu26\.04\.(\d+)",
}


def xenapi_version(session: Session, target: str) -> str:
    """The version the session built for target, checked against the target's rule."""
    version: str = json.loads((session.out / target / "python3-xenapi" / "build.json").read_text())["version"]
    m = re.fullmatch(XENAPI_VERSIONS[target], version)
    assert m, f"{version} does not follow {target}'s rule"
    assert session.warm or m.group(1) == "1", f"a cold session builds revision 1, not {version}"
    return version


def in_container(session: Session, target: str, files: list[Path], script: str) -> tuple[int, str]:
    """Run script as root (with network, for apt) in a clean container of target with files in /debs."""
    with tempfile.TemporaryDirectory(prefix="kt-") as tmp:
        debs = Path(tmp) / "debs"
        debs.mkdir()
        for f in files:
            shutil.copyfile(f, debs / f.name)
        (Path(tmp) / "test.sh").write_text("set -eux\n" + script)
        log = Path(tmp) / "log"
        spec = ContainerSpec(image=session.images[target].ref, command=("/bin/sh", "/kronos/test.sh"),
                             network="host")
        with session.engine.container(spec) as c:
            c.put(debs, "/kronos")
            c.put(Path(tmp) / "test.sh", "/kronos")
            code = c.run(log)
        return code, log.read_text(errors="replace")


@pytest.mark.parametrize("target", TARGETS)
def test_outputs_per_target_and_package(session: Session, target: str) -> None:
    d = session.out / target / "python3-xenapi"
    version = xenapi_version(session, target)
    deb = d / f"python3-xenapi_{version}_all.deb"
    assert deb.is_file()
    dsc_path = d / f"python-xenapi_{version}.dsc"
    with dsc_path.open() as f:
        dsc = Dsc(f)
    assert dsc["Format"] == "3.0 (quilt)" and dsc["Version"] == version
    orig = d / "python-xenapi_26.21.1.orig.tar.gz"
    # the PyPI sdist is the .orig tarball, byte for byte
    from kronos.cache import sha256_file

    assert sha256_file(orig) == "d5e5e6a3cc7e9ea9b04ebbaa9f5965fa48ce4c256f0d4bdb2e207f82aaf5cc5f"
    changes = sorted(d.glob("*.changes"))
    assert len(changes) == 1
    with changes[0].open() as f:
        ch = Changes(f)
    assert ch["Version"] == version and deb.name in {x["name"] for x in ch["Files"]}
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True).stdout
    assert "python3" in depends  # dh_python3 ran
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    assert "./usr/lib/python3/dist-packages/XenAPI/XenAPI.py" in listing
    assert sorted(d.glob("*.buildinfo")) and (d / f"python3-xenapi_{version}.build").stat().st_size > 0


@pytest.mark.parametrize("target", TARGETS)
def test_python3_xenapi_installs_and_imports(session: Session, target: str) -> None:
    debs = sorted((session.out / target / "python3-xenapi").glob("*.deb"))
    code, log = in_container(session, target, debs, (
        "apt-get update -q\n"
        "apt-get install -y -q --no-install-recommends /kronos/debs/python3-xenapi_*.deb\n"
        "python3 -c 'import XenAPI; print(\"XENAPI-OK\", XenAPI.Session.__name__)'\n"
        "dpkg-query -W -f='INSTALLED ${Version}\\n' python3-xenapi\n"
    ))
    assert code == 0, log[-3000:]
    assert "XENAPI-OK Session" in log
    # the shell's `+ cmd` trace (stderr) may interleave with stdout: find the line by its marker
    installed = [ln.split()[1] for ln in log.splitlines() if ln.startswith("INSTALLED ")]
    assert installed and xenapi_version(session, target) in installed[-1], log[-3000:]


def test_dh_ocaml_backport_usable_on_bookworm(session: Session) -> None:
    """dh-ocaml 3.8 with its quickjs helper, used the way an OCaml package build uses it."""
    debs = sorted((session.out / "bookworm" / "dh-ocaml").glob("*.deb"))
    debs += sorted((session.out / "bookworm" / "quickjs").glob("*.deb"))
    code, log = in_container(session, "bookworm", debs, (
        "apt-get update -q\n"
        "apt-get install -y -q --no-install-recommends /kronos/debs/*.deb debhelper ocaml-nox\n"
        "dpkg-query -W -f='${Version}\\n' dh-ocaml\n"
        "qjs -e 'console.log(\"QJS\", 6*7)'\n"
        "mkdir -p /tmp/p/debian/libfoo-ocaml-dev && cd /tmp/p\n"
        "printf 'Source: foo\\nMaintainer: A <a@localhost>\\n\\nPackage: libfoo-ocaml-dev\\n"
        "Architecture: any\\nDescription: x\\n y\\n' > debian/control\n"
        "printf 'foo (1.0-1) unstable; urgency=medium\\n\\n  * x\\n\\n"
        " -- A <a@localhost>  Mon, 01 Jan 2024 00:00:00 +0000\\n' > debian/changelog\n"
        "echo 13 > debian/compat\n"
        "dh_ocaml\n"
        "cat debian/libfoo-ocaml-dev.substvars\n"
    ))
    assert code == 0, log[-3000:]
    assert "3.8~bpo12+" in log and "QJS 42" in log
    assert "ocaml:Depends=ocaml-4.13.1" in log  # bookworm's compiler, found by the backported dh_ocaml


@pytest.mark.parametrize("target", TARGETS)
def test_build_ran_as_builder_without_network(session: Session, target: str) -> None:
    version = xenapi_version(session, target)
    log = (session.out / target / "python3-xenapi" / f"python3-xenapi_{version}.build").read_text()
    assert "kronos: building as builder with network interfaces: lo \n" in log


def test_second_build_rebuilds_nothing(session: Session) -> None:
    before = {p: p.stat().st_mtime_ns for p in session.out.rglob("*") if p.is_file()}
    again = kronos(*ARGS, env=session.env)
    assert again.returncode == 0, again.stdout[-3000:]
    recipes = load_recipes(session.settings)
    builds = sum(1 for r in recipes.values() for t in r.targets if t in TARGETS and f"{t}/{r.name}" not in SKIPPED)
    assert builds >= 14, "the payload: xen and the OCaml chain on bookworm, python3-xenapi everywhere"
    assert f"0 built, {builds} up to date" in again.stdout, again.stdout[-3000:]
    after = {p: p.stat().st_mtime_ns for p in session.out.rglob("*") if p.is_file()}
    assert before == after


def test_changed_input_gets_new_local_revision(session: Session, tmp_path: Path) -> None:
    """A patch added for sid changes the content key: same upstream, next revision, old one kept in the ledger."""
    project = tmp_path / "project"
    skip = shutil.ignore_patterns(".venv", ".cache", "out", ".git", "*.egg-info", "public", "gnupg", "S.*")
    shutil.copytree(ROOT, project, ignore=skip)
    series = project / "patches" / "python3-xenapi" / "sid"
    series.mkdir(parents=True)
    (series / "readme-note.patch").write_text(
        "--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,3 @@\n+Built by Kronos.\n Usage\n =====\n"
    )
    (series / "series").write_text("readme-note.patch\n")
    out = tmp_path / "out"
    shutil.copytree(session.out, out, symlinks=True)
    env = dict(session.env, KRONOS_OUTPUT_DIR=str(out), KRONOS_ROOT=str(project),
               KRONOS_CACHE_DIR=str(ROOT / ".cache" / "kronos"))
    result = kronos("build", "--target", "sid", "--only", "python3-xenapi", env=env, root=project)
    assert result.returncode == 0, result.stdout[-3000:]
    before = xenapi_version(session, "sid")
    after = f"26.21.1-{int(before.rsplit('-', 1)[1]) + 1}"
    assert after in result.stdout and "1 built" in result.stdout
    assert (out / "sid" / "python3-xenapi" / f"python3-xenapi_{after}_all.deb").is_file()
    ledger = (out / "ledger" / "sid" / "python3-xenapi.json").read_text()
    assert f'"{before}"' in ledger and f'"{after}"' in ledger
