"""Small local packages for the integration tests that run kronos as a program on a project of their
own (test_jobs, test_qa, test_nightly, test_interrupt, test_concurrent_runs): no debhelper, dpkg-dev
alone (in the buildd base image), seconds a build. Each test says what its package's rules install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .checkout import ROOT

KRONOS = Path(sys.executable).with_name("kronos")
TARGET = "bookworm"

# $(D): the package's doc directory; `steps` are the test's own lines of the binary target
RULES = """\
#!/usr/bin/make -f
P = {package}
D = debian/tmp/usr/share/doc/$(P)
build build-arch build-indep:
binary binary-arch binary-indep:
{steps}\tdpkg-gencontrol -p$(P) -Pdebian/tmp
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
Description: {description}
"""
COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: kronos-qa-fixture

Files: *
Copyright: 2026 Kronos developers
License: GPL-2+
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in /usr/share/common-licenses/GPL-2.
"""


def fixture_recipe(root: Path, recipe: str, package: str, *, steps: Sequence[str], description: str,
                   changelog: str, tree: Mapping[str, str], build_depends: Sequence[str] = ("dpkg-dev",),
                   depends: Sequence[str] = ("${misc:Depends}",), debian: Mapping[str, str] | None = None) -> Path:
    """recipes/<recipe>: a local tree (`tree`: file -> text), debian/ (control, rules running `steps`,
    the `debian` files given) and a recipe.toml for TARGET at version 1.0."""
    d = root / "recipes" / recipe
    (d / "src").mkdir(parents=True)
    for name, text in tree.items():
        (d / "src" / name).write_text(text)
    (d / "debian").mkdir()
    (d / "debian" / "control.j2").write_text(CONTROL.format(
        package=package, build_depends=", ".join(build_depends), depends=", ".join(depends),
        description=description))
    for name, text in (debian or {}).items():  # name may hold a directory: tests/control
        (d / "debian" / name).parent.mkdir(parents=True, exist_ok=True)
        (d / "debian" / name).write_text(text)
    (d / "debian" / "rules").write_text(RULES.format(package=package, steps="".join(f"\t{s}\n" for s in steps)))
    (d / "debian" / "rules").chmod(0o755)
    (d / "recipe.toml").write_text(textwrap.dedent(f"""\
        targets = ["{TARGET}"]
        [source]
        kind = "local"
        path = "src"
        version = "1.0"
        [packaging]
        source_name = "{package}"
        changelog = "{changelog}"
        """))
    return d


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
    env.update({"KRONOS_ROOT": str(root), "KRONOS_OUTPUT_DIR": str(root / "out"), **extra})
    return env


def kronos(root: Path, *args: str, timeout: int = 900, **env: str) -> subprocess.CompletedProcess[str]:
    """`kronos args...` on the project, as the real program (stdin closed)."""
    return subprocess.run([str(KRONOS), *args], cwd=root, env=project_env(root, **env), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def built_project(parent: Path, *writers: Callable[[Path], None]) -> Path:
    """A new project with the fixture recipes the writers write, built for TARGET."""
    root = new_project(parent)
    for write in writers:
        write(root)
    built = kronos(root, "build", "--target", TARGET, "--jobs", "2")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    return root


def the_verdict(root: Path, recipe: str, gate: str) -> tuple[Path, dict[str, Any]]:
    """The one stored verdict of gate for recipe: its directory and verdict.json."""
    [found] = (root / "out" / "qa" / TARGET / recipe / gate).glob("*/verdict.json")
    data: dict[str, Any] = json.loads(found.read_text())
    return found.parent, data
