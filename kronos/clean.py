"""Removing outputs and the cache that nothing refers to any more."""

from __future__ import annotations

import shutil
from pathlib import Path

from . import owner
from .archive.release import STATE as RELEASE_STATE
from .config import Settings
from .engine import Engine
from .errors import StorageError
from .log import info
from .recipe import PypiSource, UrlSource, load_recipes


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as e:
        raise StorageError(f"cannot remove {path}: {e.strerror or e}") from None
    info(f"removed {path}")


def clean(settings: Settings, ledger: bool = False, images: bool = False, verdicts: bool = False,
          nights: bool = False) -> None:
    """Outputs and logs go (the version ledger stays unless `ledger`, the QA verdicts unless `verdicts`,
    the nightly's records unless `nights`);
    in the cache only the sources the recipes pin by checksum stay; failed-build images go, base images
    with `images`."""
    out = settings.output_dir
    kept = {"ledger": ledger, "qa": verdicts, "nightly": nights}
    if out.exists():
        for child in sorted(out.iterdir()):
            if kept.get(child.name, True):
                _remove(child)
    cache = settings.cache_dir
    if cache.exists():
        pinned = {src.sha256 for r in load_recipes(settings).values()
                  for src in (r.source, *r.target_sources.values()) if isinstance(src, PypiSource | UrlSource)}
        for child in sorted(cache.iterdir()):
            if child.name == "releases":
                # the Date of the last verified InRelease per suite stays: it is what refuses a replay
                for f in sorted(p for p in child.rglob("*") if p.is_file() and p.name != RELEASE_STATE):
                    _remove(f)
                continue
            if child.name == "locks":  # a running kronos may hold one (they are removed with their holders)
                continue
            if child.name != "sha256":
                _remove(child)
                continue
            for blob in sorted(child.glob("*/*")):
                if blob.name not in pinned:
                    _remove(blob)
    from .engine import get_engine

    engine = get_engine()
    sweep(engine)
    prefixes = ["kronos/failed-"] + (["kronos/"] if images else [])
    for prefix in prefixes:
        for ref in engine.images(prefix):
            engine.remove_image(ref)
            info(f"removed image {ref}")


def sweep(engine: Engine) -> list[str]:
    """Remove the containers whose kronos is gone (killed by SIGKILL, or the machine restarted): the
    containers of a kronos that still runs, or of another host, stay. Each removal is said."""
    removed = []
    for found in engine.containers():
        if owner.gone(found.labels):
            engine.remove_container(found.id)
            removed.append(found.id)
            info(f"removed container {found.id}, left by a kronos that is gone: {owner.describe(found.labels)}")
    return removed
