"""What the project declares: run-time dependencies are what the run-time code uses, each pinned."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"debian": "python-debian", "gnupg": "python-gnupg", "testinfra": "pytest-testinfra"}
# imports that Debian packages provide to Debian's own /usr/bin/python3, not the venv: import name -> the
# Debian package the Makefile's HOST_PACKAGES installs (kronos/plan/solver_worker.py runs there)
HOST_IMPORTS = {"solv": "python3-solv"}


def _imported(package: Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"kronos", "__future__"}


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["dependencies"]}
    used = {DISTRIBUTIONS.get(name, name).lower() for name in _imported(ROOT / "kronos") - set(HOST_IMPORTS)}
    assert used <= declared, f"imported but not declared: {sorted(used - declared)}"
    host = (ROOT / "Makefile").read_text().split("HOST_PACKAGES :=", 1)[1].split("\nDOCKERD_LOG", 1)[0].split()
    assert set(HOST_IMPORTS.values()) <= set(host)
    # kronos smoke runs its checks with pytest and testinfra over paramiko, as libraries
    assert {"pytest", "pytest-testinfra", "paramiko"} <= declared


def test_every_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line}
    wanted = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in
              [*project["dependencies"], *project["optional-dependencies"]["dev"]]}
    assert wanted <= pins, f"not pinned in constraints.txt: {sorted(wanted - pins)}"
