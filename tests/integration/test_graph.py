"""`kronos graph` on the real recipes: the order comes from the real sid sources' metadata (fetched
through the configured mirrors into a fresh cache), and the derived metadata is cached."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .checkout import ROOT
from .conftest import kronos

pytestmark = pytest.mark.integration

EDGE = "dh-ocaml -> quickjs  (Depends of dh-ocaml: quickjs via binary quickjs)"
BOOKWORM = ("python3-xenapi", "quickjs", "dh-ocaml", "ocaml-dune", "ocaml-sexplib0", "ounit", "ocaml-re",
            "ocaml-alcotest", "ocaml-qcheck", "xen")
# the edges no Build-Depends of bookworm's own sources has: the rebuilt dune-built libraries
CHAIN_EDGES = (
    "ocaml-qcheck -> ocaml-alcotest  (Build-Depends: libalcotest-ocaml-dev via binary libalcotest-ocaml-dev)",
    "ocaml-qcheck -> ounit  (Build-Depends: libounit-ocaml-dev (>= 2.2.0) via binary libounit-ocaml-dev)",
    "ocaml-alcotest -> ocaml-re  (Build-Depends: libre-ocaml-dev via binary libre-ocaml-dev)",
    "xen -> dh-ocaml  (Build-Depends: dh-ocaml via binary dh-ocaml)",
)


def test_graph_orders_quickjs_before_dh_ocaml(tmp_path: Path) -> None:
    env = dict(os.environ, KRONOS_ROOT=str(ROOT), KRONOS_CACHE_DIR=str(tmp_path / "cache"),
               KRONOS_OUTPUT_DIR=str(tmp_path / "out"))
    first = kronos("graph", "--target", "bookworm", env=env)
    assert first.returncode == 0, first.stdout
    lines = first.stdout.splitlines()
    order = next(ln for ln in lines if ln.startswith("bookworm: ")).removeprefix("bookworm: ").split()
    assert sorted(order) == sorted(BOOKWORM)
    assert order.index("quickjs") < order.index("dh-ocaml") < order.index("ocaml-dune") < order.index("ounit")
    assert order.index("ounit") < order.index("ocaml-re") < order.index("ocaml-alcotest") < order.index("ocaml-qcheck")
    for edge in (EDGE, *CHAIN_EDGES):
        assert f"  {edge}" in lines, first.stdout
    derived = sorted((tmp_path / "cache" / "graph").glob("*.json"))
    docs = [json.loads(p.read_text()) for p in derived]
    # one per recipe, and the patched debian/control of the two whose series changes it (dh-ocaml's
    # compat level, xen's packages) besides their .dsc: the graph knows the binaries and the build
    # dependency (dh-ocaml) that patches/xen adds before xen is ever built
    assert len(derived) == len(BOOKWORM) + 2
    assert [d["fields"]["Build-Depends"].split(",")[0].strip() for d in docs if d["source"] == "dh-ocaml"].count(
        "debhelper-compat (= 13)") == 1
    patched = [d for d in docs if d["source"] == "xen" and "dh-ocaml" in d["fields"].get("Build-Depends", "")]
    assert len(patched) == 1
    assert {"libxen-ocaml", "libxen-ocaml-dev"} <= {b["package"] for b in patched[0]["binaries"]}
    assert "cannot parse" not in first.stdout

    again = kronos("graph", "--target", "bookworm", "--dot", env=env)
    assert again.returncode == 0, again.stdout
    assert ('  "dh-ocaml" -> "quickjs" [label="Depends of dh-ocaml: quickjs via binary quickjs", style=dashed];'
            in again.stdout.splitlines())
    # the second run reads the cached metadata: no .dsc and no Packages index is downloaded again
    assert not [ln for ln in again.stdout.splitlines() if ln.startswith("> ") and not ln.endswith("/InRelease")]
    assert sorted((tmp_path / "cache" / "graph").glob("*.json")) == derived
