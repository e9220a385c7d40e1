"""`kronos graph` on the real recipes: the order comes from the real sid sources' metadata (fetched
through the configured mirrors into a fresh cache), and the derived metadata is cached."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .checkout import ROOT
from .conftest import kronos

pytestmark = pytest.mark.integration

EDGE = "dh-ocaml -> quickjs  (Depends of dh-ocaml: quickjs via binary quickjs)"


def test_graph_orders_quickjs_before_dh_ocaml(tmp_path: Path) -> None:
    env = dict(os.environ, KRONOS_ROOT=str(ROOT), KRONOS_CACHE_DIR=str(tmp_path / "cache"),
               KRONOS_OUTPUT_DIR=str(tmp_path / "out"))
    first = kronos("graph", "--target", "bookworm", env=env)
    assert first.returncode == 0, first.stdout
    lines = first.stdout.splitlines()
    order = next(ln for ln in lines if ln.startswith("bookworm: ")).removeprefix("bookworm: ").split()
    assert sorted(order) == ["dh-ocaml", "python3-xenapi", "quickjs"]
    assert order.index("quickjs") < order.index("dh-ocaml")
    assert f"  {EDGE}" in lines
    derived = sorted((tmp_path / "cache" / "graph").glob("*.json"))
    assert len(derived) == 3  # dh-ocaml, quickjs, python3-xenapi

    again = kronos("graph", "--target", "bookworm", "--dot", env=env)
    assert again.returncode == 0, again.stdout
    assert ('  "dh-ocaml" -> "quickjs" [label="Depends of dh-ocaml: quickjs via binary quickjs", style=dashed];'
            in again.stdout.splitlines())
    # the second run reads the cached metadata: no .dsc and no Packages index is downloaded again
    assert not [ln for ln in again.stdout.splitlines() if ln.startswith("> ") and not ln.endswith("/InRelease")]
    assert sorted((tmp_path / "cache" / "graph").glob("*.json")) == derived
