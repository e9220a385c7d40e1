"""Earlier outputs, kept by content key under out/.builds/<target>/<recipe>/<key[:24]>/: an output that a
newer build replaces is kept (the newest KEEP per recipe and target), and a build whose key one of them
has (a change undone, a revert) takes it back instead of building again. The same key then always gives
the same files, which the repository already serves under that version (a rebuild would give other
bytes under the same version, which the pool refuses)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .records import BUILD_RECORD

KEEP = 3
HOME = ".builds"


def _key(output: Path) -> str:
    try:
        data = json.loads((output / BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return ""
    key = data.get("key") if isinstance(data, dict) else None
    return key if isinstance(key, str) else ""


def shelf(out_root: Path, target: str, recipe: str) -> Path:
    return out_root / HOME / target / recipe


def swap_in(out_root: Path, target: str, recipe: str, staged: Path, final: Path) -> None:
    """Put staged in place of final; final (when it is a whole build) goes onto the shelf under its key."""
    key = _key(final) if final.exists() else ""
    if key:
        home = shelf(out_root, target, recipe)
        home.mkdir(parents=True, exist_ok=True)
        slot = home / key[:24]
        shutil.rmtree(slot, ignore_errors=True)
        os.replace(final, slot)
        os.utime(slot)  # the newest on the shelf is the one replaced last
    else:
        shutil.rmtree(final, ignore_errors=True)
    os.replace(staged, final)
    prune(out_root, target, recipe)


def prune(out_root: Path, target: str, recipe: str) -> None:
    home = shelf(out_root, target, recipe)
    if not home.is_dir():
        return
    slots = sorted((p for p in home.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in slots[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def restore(out_root: Path, target: str, recipe: str, key: str, final: Path) -> bool:
    """When the shelf has the build of key, put it in place of final (final goes onto the shelf): True."""
    slot = shelf(out_root, target, recipe) / key[:24]
    if _key(slot) != key:
        return False
    staged = final.with_name(f".{final.name}.restored")
    shutil.rmtree(staged, ignore_errors=True)
    os.replace(slot, staged)
    swap_in(out_root, target, recipe, staged, final)
    return True
