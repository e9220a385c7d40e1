"""What the project declares: run-time dependencies are what the run-time code uses."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_testinfra_belongs_to_the_smoke_stage() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pytest-testinfra") for d in project["dependencies"])
    assert project["optional-dependencies"]["smoke"] == ["pytest-testinfra"]
    assert "kronos[smoke]" in project["optional-dependencies"]["dev"]
