"""The night's index.html and the nights' index (jinja2 templates in templates/): static pages that
work from file:// (every link relative, no script, no remote asset) and read on a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
                          autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
OK_STATES = ("built", "up to date")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    tmp.replace(path)


def write_night(run_dir: Path, report: dict[str, Any]) -> None:
    targets: dict[str, list[dict[str, Any]]] = {}
    for p in report["packages"]:
        targets.setdefault(p["target"], []).append(p)
    pictures = sorted(p.name for p in run_dir.glob("*.svg"))
    _write(run_dir / "index.html", _ENV.get_template("night.html.j2").render(
        r=report, targets=targets, ok=OK_STATES, pictures=pictures))


def write_index(home: Path, nights: list[dict[str, Any]]) -> None:
    _write(home / "index.html", _ENV.get_template("index.html.j2").render(nights=nights, ok=OK_STATES))
