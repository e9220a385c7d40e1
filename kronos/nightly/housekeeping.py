"""Keeping a nightly machine's disk bounded, and saying what it uses: the images of failed builds are
kept only for packages that fail now (for `kronos build --shell-on-failure`, the newest one each);
night records beyond keep_nights go (report.retain); superseded generations and pool files go after
the repository's grace (the publisher)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..build import FAILED_REPOSITORY, image_name_part
from ..engine import Engine
from ..errors import EngineError
from ..log import info


def failed_images(engine: Engine, failing: Iterable[tuple[str, str]]) -> list[str]:
    """Remove the images of failed builds but the newest of each (target, recipe) that fails now; the
    references removed."""
    keep_repos = {f"{FAILED_REPOSITORY}-{image_name_part(t)}-{image_name_part(r)}" for t, r in failing}
    refs = engine.images(f"{FAILED_REPOSITORY}-")
    by_repo: dict[str, list[str]] = {}
    for ref in refs:
        by_repo.setdefault(ref.rsplit(":", 1)[0], []).append(ref)
    gone = []
    for repo, found in sorted(by_repo.items()):
        keep = sorted(found)[-1:] if repo in keep_repos else []
        for ref in found:
            if ref in keep:
                continue
            try:
                engine.remove_image(ref)
                gone.append(ref)
            except EngineError as e:
                info(f"could not remove {ref}: {e}")
    return gone


def size(path: Path) -> int:
    """Bytes a tree holds on disk, each hard-linked file counted once; 0 when it is missing."""
    seen: set[tuple[int, int]] = set()
    total = 0
    if not path.exists():
        return 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def disk(output_dir: Path, cache_dir: Path, repo: Path | None) -> dict[str, Any]:
    usage = shutil.disk_usage(output_dir if output_dir.exists() else output_dir.parent)
    out: dict[str, Any] = {"out": size(output_dir), "cache": size(cache_dir),
                           "repository": size(repo) if repo is not None else 0, "free": usage.free}
    return out
