"""Build-tree files kept as artefacts (`[build.keep."<name>"]`), with real Docker: the file a glob
names in the build tree lands among the outputs, build.json records its origin, digest and the
Kconfig options asked for; a glob that matches no file fails the build with one line and leaves the
last good output in place."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .checkout import scratch_project
from .conftest import kronos

pytestmark = pytest.mark.integration

TARGET = "bookworm"
# the build writes a Kconfig file into a per-flavour directory, as xen's Debian build does
RULES = """#!/usr/bin/make -f
KCONFIG = build/flavour-a/sub/.config
build build-arch build-indep:
\tmkdir -p build/flavour-a/sub
\tprintf 'CONFIG_ALPHA=y\\n# CONFIG_BETA is not set\\nCONFIG_NAME="demo"\\nCONFIG_COUNT=3\\n' >$(KCONFIG)
binary binary-arch binary-indep: build
\tmkdir -p debian/tmp/DEBIAN
\tdpkg-gencontrol -Pdebian/tmp
\tdpkg-deb --root-owner-group --build debian/tmp ..
clean:
\trm -rf debian/tmp debian/files build
"""
CONTROL = """Source: {{ source_name }}
Section: misc
Priority: optional
Maintainer: {{ maintainer }}
Build-Depends: dpkg-dev
Rules-Requires-Root: no

Package: keepdemo
Architecture: all
Description: kronos kept-files test package
 Nothing inside.
"""
KEEP = """
[build.keep."demo.config"]
path = "{path}"
kconfig = ["CONFIG_ALPHA", "CONFIG_BETA", "CONFIG_NAME", "CONFIG_COUNT", "CONFIG_ABSENT"]
"""


def _write_recipe(root: Path, path: str) -> None:
    d = root / "recipes" / "keepdemo"
    (d / "recipe.toml").write_text(
        f'targets = ["{TARGET}"]\n[source]\nkind = "local"\npath = "src"\nversion = "1.0"\n'
        '[packaging]\nsource_name = "keepdemo"\nchangelog = "Kept files test."\n' + KEEP.format(path=path))


@pytest.fixture
def project() -> Iterator[Path]:
    with scratch_project("kkeep-") as root:
        d = root / "recipes" / "keepdemo"
        (d / "src").mkdir(parents=True)
        (d / "src" / "README").write_text("kept files\n")
        (d / "debian" / "source").mkdir(parents=True)
        (d / "debian" / "source" / "format").write_text("3.0 (quilt)\n")
        (d / "debian" / "control.j2").write_text(CONTROL)
        (d / "debian" / "rules.j2").write_text(RULES)
        _write_recipe(root, "build/*/sub/.config")
        yield root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_") or k == "KRONOS_CACHE_DIR"}
    env.update(KRONOS_ROOT=str(root), KRONOS_OUTPUT_DIR=str(root / "out"), KRONOS_TARGETS=TARGET)
    return env


def test_kept_file_and_its_kconfig_options_are_recorded(project: Path) -> None:
    result = kronos("build", env=_env(project), root=project)
    assert result.returncode == 0, result.stdout[-6000:]
    out = project / "out" / TARGET / "keepdemo"
    kept = out / "demo.config"
    assert kept.read_text().startswith("CONFIG_ALPHA=y\n")
    record = json.loads((out / "build.json").read_text())
    assert "demo.config" in record["files"]
    assert record["kept"] == {"demo.config": {"path": "build/*/sub/.config",
                                              "sha256": hashlib.sha256(kept.read_bytes()).hexdigest()}}
    assert record["configuration"] == {"demo.config": {
        "CONFIG_ALPHA": "y", "CONFIG_BETA": "n", "CONFIG_NAME": "demo", "CONFIG_COUNT": "3", "CONFIG_ABSENT": "n"}}
    assert record["inputs"]["build/keep"], "what is kept is an input of the build"

    # a glob that matches nothing: one line naming the recipe, the log holds the keep's own line
    _write_recipe(project, "build/*/missing/.config")
    failed = kronos("build", env=_env(project), root=project)
    assert failed.returncode != 0
    errors = [ln for ln in failed.stdout.splitlines() if "error" in ln.lower() and "keepdemo" in ln]
    assert errors and "Traceback" not in failed.stdout, failed.stdout[-4000:]
    assert any("(exit 3: keep demo.config: 'build/*/missing/.config' matches 0 files in the build tree, not one:)"
               in ln for ln in errors), errors
    logs = sorted((project / "out" / "logs" / TARGET).glob("keepdemo_*.build"))
    assert any("keep demo.config: 'build/*/missing/.config' matches 0 files" in p.read_text() for p in logs)
    # the last good output is untouched
    assert json.loads((out / "build.json").read_text())["key"] == record["key"]
