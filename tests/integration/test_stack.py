"""The payload on bookworm, from the published repository, in a clean bookworm container: Xen's OCaml
bindings (libxen-ocaml-dev) link a program through ocamlfind against our xenctrl and xenstore, and the
OCaml backport chain (dune 3.17 -> sexplib0 -> qcheck 0.91, with ounit, re and alcotest rebuilt against
it) gives a qcheck that builds and runs a property test. The files each new package ships are exactly
the lists in the README, and the xen build recorded its hypervisor configuration."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from debian.debian_support import Version

from kronos.engine import ContainerSpec
from kronos.upload.check import lintian_image

from .checkout import ROOT
from .conftest import Session
from .published_repo import Published, client

pytestmark = pytest.mark.integration

XEN_SOURCE = "4.17.5+72-g01140da4e8-1"
NEW_PACKAGES = ("libxen-ocaml", "libxen-ocaml-dev")
OCAML = ROOT / "tests" / "ocaml"  # qcheck_rev.ml
XEN_DOMAINS = ROOT / "kronos" / "smoke" / "checks" / "xen_domains.ml"  # the smoke stage runs it in dom0


def readme_lists() -> dict[str, list[str]]:
    """The README's file list of each new package: the fenced block after `<!-- dpkg -L NAME -->`."""
    text = (ROOT / "README.md").read_text()
    out = {}
    for m in re.finditer(r"<!-- dpkg -L (\S+) -->\n```text\n(.*?)```", text, re.S):
        out[m.group(1)] = m.group(2).split()
    return out


def test_xen_records_its_hypervisor_configuration(session: Session) -> None:
    out = session.out / "bookworm" / "xen"
    record = json.loads((out / "build.json").read_text())
    assert Version(record["version"]) > Version(XEN_SOURCE), "a rebuild sorts above bookworm's own xen"
    config = record["configuration"]["xen.config"]
    # bookworm main's hypervisor: shadow paging on (live migration of PV guests needs it)
    assert config == {"CONFIG_SHADOW_PAGING": "y", "CONFIG_PV": "y", "CONFIG_HVM": "y", "CONFIG_XSM": "n"}
    kept = (out / "xen.config").read_text()
    assert "CONFIG_SHADOW_PAGING=y\n" in kept
    names = {p.name.split("_")[0] for p in out.glob("*.deb")}
    assert set(NEW_PACKAGES) <= names, names


def test_readme_lists_what_the_new_packages_ship(session: Session) -> None:
    lists = readme_lists()
    assert set(lists) == set(NEW_PACKAGES), lists.keys()
    for name in NEW_PACKAGES:
        deb = next((session.out / "bookworm" / "xen").glob(f"{name}_*_amd64.deb"))
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True, text=True).stdout
        files = sorted(ln.split()[-1].lstrip(".") for ln in listing.splitlines() if not ln.startswith("d"))
        assert files == sorted(lists[name]), (name, files)


def test_ocaml_programs_link_and_run_from_the_published_repository(session: Session,
                                                                  published: Published) -> None:
    lists = readme_lists()
    code, log = client(session, "bookworm", published, (
        "cat /kronos/client/kronos.sources > /etc/apt/sources.list.d/kronos.sources\n"
        "apt-get update -q --error-on=any\n"
        "apt-get install -y -q --no-install-recommends libxen-ocaml-dev ocaml-findlib libqcheck-ocaml-dev\n"
        "dpkg-query -W -f='INSTALLED ${Package} ${Version}\\n' libxen-ocaml libxen-ocaml-dev libxen-dev"
        " libqcheck-ocaml-dev\n"
        "for p in libxen-ocaml libxen-ocaml-dev; do\n"
        "  dpkg -L $p | while read -r f; do [ -d \"$f\" ] || echo \"LISTED $p $f\"; done\n"
        "done\n"
        "mkdir -p /tmp/x && cd /tmp/x\n"
        f"cat > xen_domains.ml <<'EOF'\n{XEN_DOMAINS.read_text()}EOF\n"
        "ocamlfind ocamlopt -package xenctrl,xenstore -linkpkg xen_domains.ml -o xen_domains\n"
        "ldd ./xen_domains | sed 's/^/LDD /'\n"
        f"cat > qcheck_rev.ml <<'EOF'\n{(OCAML / 'qcheck_rev.ml').read_text()}EOF\n"
        "ocamlfind ocamlopt -package qcheck-core,qcheck-core.runner -linkpkg qcheck_rev.ml -o qcheck_rev\n"
        "./qcheck_rev && echo QCHECK-RAN\n"
    ))
    assert code == 0, log[-5000:]
    installed = dict(ln.split()[1:3] for ln in log.splitlines() if ln.startswith("INSTALLED "))
    for name in ("libxen-ocaml", "libxen-ocaml-dev", "libxen-dev"):
        assert Version(installed[name]) > Version(XEN_SOURCE) and "+kronos" in installed[name], installed
    assert installed["libqcheck-ocaml-dev"].startswith("0.91-2~bpo12+"), installed
    assert "LDD \tlibxenctrl.so" in log and "QCHECK-RAN" in log, log[-3000:]
    assert "counterexample to the false property found" in log
    for name in NEW_PACKAGES:
        listed = sorted(ln.split(maxsplit=2)[2] for ln in log.splitlines() if ln.startswith(f"LISTED {name} "))
        assert listed == sorted(lists[name]), (name, listed)


# the default maintainer's address (kronos@localhost) is a placeholder lintian rightly calls bogus;
# a release engineer sets [maintainer]. Nothing else is suppressed.
PLACEHOLDER_TAGS = "bogus-mail-host,bogus-mail-host-in-debian-changelog"


def test_new_packages_are_lintian_clean_of_errors(session: Session, tmp_path: Path) -> None:
    ref = lintian_image(session.engine, session.images["bookworm"], tmp_path / "install.log")
    assert ref, (tmp_path / "install.log").read_text()[-2000:]
    debs = tmp_path / "debs"
    debs.mkdir()
    for name in NEW_PACKAGES:
        deb = next((session.out / "bookworm" / "xen").glob(f"{name}_*_amd64.deb"))
        shutil.copyfile(deb, debs / deb.name)
    (tmp_path / "lint.sh").write_text(
        "cd /kronos/debs && runuser -u builder -- env HOME=/home/builder lintian --fail-on error"
        f" --suppress-tags {PLACEHOLDER_TAGS} *.deb; echo LINTIAN-EXIT $?\n")
    spec = ContainerSpec(image=ref, command=("/bin/sh", "/kronos/lint.sh"), network="none")
    log = tmp_path / "lintian.log"
    with session.engine.container(spec) as c:
        c.put(debs, "/kronos")
        c.put(tmp_path / "lint.sh", "/kronos")
        c.run(log)
    text = log.read_text(errors="replace")
    assert "LINTIAN-EXIT 0" in text and not [ln for ln in text.splitlines() if ln.startswith("E: ")], text[-3000:]
