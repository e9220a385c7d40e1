"""Incremental builds and `kronos why` on a small stack of local recipes (real Docker, real apt):
alpha <- beta (beta Build-Depends on alpha's binary), gamma on its own. Changing alpha's patch
rebuilds alpha and beta with the next local revision and leaves gamma alone; `why` names the patch
for alpha and the sibling for beta before the rebuild, and the maintainer when it changes; a no-op
run rebuilds nothing and, within the freshness window, downloads no InRelease."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .checkout import scratch_project
from .conftest import KRONOS, kronos

pytestmark = pytest.mark.integration

TARGET = "bookworm"
RULES = """#!/usr/bin/make -f
build build-arch build-indep:
\ttest -f greeting.txt
binary binary-arch binary-indep: build
\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/{{ source_name }}
\tcp greeting.txt debian/tmp/usr/share/{{ source_name }}/
\tdpkg-gencontrol -Pdebian/tmp
\tdpkg-deb --root-owner-group --build debian/tmp ..
clean:
\trm -rf debian/tmp debian/files
"""
CONTROL = """Source: {{{{ source_name }}}}
Section: misc
Priority: optional
Maintainer: {{{{ maintainer }}}}
Build-Depends: {build_depends}
Rules-Requires-Root: no

Package: {binary}
Architecture: all
Description: kronos incremental test package
 A file in /usr/share.
"""
PATCH = """--- a/greeting.txt
+++ b/greeting.txt
@@ -1 +1 @@
-hello
+{text}
"""


def _recipe(root: Path, name: str, binary: str, build_depends: str) -> None:
    d = root / "recipes" / name
    (d / "src").mkdir(parents=True)
    (d / "src" / "greeting.txt").write_text("hello\n")
    (d / "debian" / "source").mkdir(parents=True)
    (d / "debian" / "source" / "format").write_text("3.0 (quilt)\n")
    (d / "debian" / "control.j2").write_text(CONTROL.format(build_depends=build_depends, binary=binary))
    (d / "debian" / "rules.j2").write_text(RULES)
    (d / "debian" / "rules.j2").chmod(0o755)
    (d / "recipe.toml").write_text(
        f'targets = ["{TARGET}"]\n[source]\nkind = "local"\npath = "src"\nversion = "1.0"\n'
        f'[packaging]\nsource_name = "{name}"\nchangelog = "Incremental test."\n')


def _patch(root: Path, text: str) -> None:
    d = root / "patches" / "alpha" / "common"
    d.mkdir(parents=True, exist_ok=True)
    (d / "series").write_text("0001-greeting.patch\n")
    (d / "0001-greeting.patch").write_text(PATCH.format(text=text))


@pytest.fixture
def project() -> Iterator[Path]:
    with scratch_project("kinc-") as root:
        _recipe(root, "alpha", "alpha-dev", "dpkg-dev")
        _recipe(root, "beta", "beta-tool", "dpkg-dev, alpha-dev")
        _recipe(root, "gamma", "gamma-data", "dpkg-dev")
        _patch(root, "hello from alpha")
        yield root


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRONOS_", "DEBEMAIL", "DEBFULLNAME")) or k == "KRONOS_CACHE_DIR"}
    env.update(KRONOS_ROOT=str(root), KRONOS_OUTPUT_DIR=str(root / "out"), KRONOS_TARGETS=TARGET,
               KRONOS_INDEX_MAX_AGE="3600", **extra)
    return env


def _run(root: Path, *args: str, **extra: str) -> list[str]:
    """Run kronos: `build` with its log merged in (to see the downloads), others' stdout alone."""
    if args[0] == "build":
        result = kronos(*args, env=_env(root, **extra), root=root)
        assert result.returncode == 0, result.stdout[-6000:]
        return result.stdout.splitlines()
    proc = subprocess.run([str(KRONOS), *args], cwd=root, env=_env(root, **extra), text=True,
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    return proc.stdout.splitlines()


def _outputs(root: Path) -> dict[str, tuple[str, str, int]]:
    """recipe -> (version, key, build.json's mtime) as out/ has them (the build's own record, not
    its summary table, so a rebuild of the same version would show too)."""
    out = {}
    for record in sorted((root / "out" / TARGET).glob("*/build.json")):
        data = json.loads(record.read_text())
        out[record.parent.name] = (data["version"], data["key"], record.stat().st_mtime_ns)
    return out


def _inrelease_downloads(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.lstrip().startswith("> ") and ln.endswith("/InRelease")]


def test_one_changed_input_rebuilds_exactly_its_dependents(project: Path) -> None:
    first = _run(project, "build", "--refresh")
    assert _inrelease_downloads(first), "--refresh downloads every InRelease again"
    built = _outputs(project)
    assert {n: v for n, (v, _, _) in built.items()} == {n: "1.0-1~bpo12+1" for n in ("alpha", "beta", "gamma")}
    assert _run(project, "why", "beta") == [f"{TARGET}: beta 1.0-1~bpo12+1 is up to date"]

    _patch(project, "hello again from alpha")
    assert _run(project, "why", "alpha")[1:] == ["  patch common/0001-greeting.patch changed"]
    why_beta = _run(project, "why", "beta")
    assert why_beta[0] == f"{TARGET}: beta would rebuild as 1.0-1~bpo12+2:"
    assert len(why_beta) == 2 and why_beta[1].startswith("  sibling alpha changed (key ")
    assert why_beta[1].endswith(", now version 1.0-1~bpo12+2)")
    assert _run(project, "why", "gamma") == [f"{TARGET}: gamma 1.0-1~bpo12+1 is up to date"]

    _run(project, "build")
    rebuilt = _outputs(project)
    assert {n: v for n, (v, _, _) in rebuilt.items()} == {
        "alpha": "1.0-1~bpo12+2", "beta": "1.0-1~bpo12+2", "gamma": "1.0-1~bpo12+1"}
    assert rebuilt["gamma"] == built["gamma"], "gamma depends on nothing that changed: not rebuilt"
    inputs = json.loads((project / "out" / TARGET / "beta" / "build.json").read_text())["inputs"]
    assert inputs["sibling/alpha"] == {"key": rebuilt["alpha"][1], "version": "1.0-1~bpo12+2"}
    assert "patch/common/0001-greeting.patch" in json.loads(
        (project / "out" / TARGET / "alpha" / "build.json").read_text())["inputs"]

    maintainer = {"KRONOS_MAINTAINER_NAME": "Other Builder", "KRONOS_MAINTAINER_EMAIL": "other@example.invalid"}
    assert _run(project, "why", "gamma", **maintainer) == [
        f"{TARGET}: gamma would rebuild as 1.0-1~bpo12+2:",
        "  maintainer changed: 'Kronos Builder <kronos@localhost>' -> 'Other Builder <other@example.invalid>'"]

    noop = _run(project, "build")
    assert _outputs(project) == rebuilt, "a no-op run rebuilds nothing"
    assert not _inrelease_downloads(noop), "a no-op within the freshness window downloads no InRelease"
