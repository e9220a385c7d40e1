"""Removing outputs and unreferenced cache."""

from __future__ import annotations

import shutil

from .config import Settings
from .log import info


def clean(settings: Settings, ledger: bool = False, images: bool = False) -> None:
    out = settings.output_dir
    if out.exists():
        for child in out.iterdir():
            if child.name == "ledger" and not ledger:
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()
            info(f"removed {child}")
    if settings.cache_dir.exists():
        shutil.rmtree(settings.cache_dir)
        info(f"removed {settings.cache_dir}")
    if images:
        from .engine import get_engine

        engine = get_engine()
        for ref in engine.images("kronos/"):
            engine.remove_image(ref)
            info(f"removed image {ref}")
