"""Earlier outputs kept by key (kronos/retired.py): a replaced build goes onto the shelf, the newest
KEEP stay, and the build of a key on the shelf comes back whole instead of being built again."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kronos import retired


def output(base: Path, key: str, payload: str) -> Path:
    d = base / f"staged-{key}"
    d.mkdir(parents=True)
    (d / "build.json").write_text(json.dumps({"key": key, "files": ["x.deb"]}))
    (d / "x.deb").write_text(payload)
    return d


def test_replaced_builds_are_kept_by_key_and_come_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    final = out / "bookworm" / "app"
    final.parent.mkdir(parents=True)
    for n, key in enumerate(("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)):
        retired.swap_in(out, "bookworm", "app", output(tmp_path, key, f"build {n}"), final)
        time.sleep(0.02)  # the shelf orders by when each build was replaced
    shelf = retired.shelf(out, "bookworm", "app")
    assert (final / "x.deb").read_text() == "build 4"
    assert sorted(p.name for p in shelf.iterdir()) == sorted(k * 24 for k in "bcd")  # a's was the oldest
    assert not retired.restore(out, "bookworm", "app", "a" * 64, final)  # pruned: it would be built again
    assert retired.restore(out, "bookworm", "app", "c" * 64, final)
    assert (final / "x.deb").read_text() == "build 2"
    assert json.loads((final / "build.json").read_text())["key"] == "c" * 64
    assert (shelf / ("e" * 24) / "x.deb").read_text() == "build 4"  # the one it replaced is kept in turn
    assert not (final.parent / ".app.restored").exists()
