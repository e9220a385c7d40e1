"""A new user's first run: a checkout and a cache that apt's sandbox user `_apt` cannot traverse
(root's home is mode 0700 on Debian), and content keys that do not care where files lie."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from .checkout import CACHE, ROOT
from .conftest import Session, kronos

pytestmark = pytest.mark.integration


def _private(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    assert not os.stat(d).st_mode & stat.S_IXOTH
    return d


def _env(cache: Path, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_") or k == "KRONOS_DEBUG"}
    env.update(KRONOS_ROOT=str(root), KRONOS_CACHE_DIR=str(cache))
    return env


@pytest.mark.timeout(900)  # one mmdebstrap of noble at most, about a minute
def test_ubuntu_image_from_a_private_checkout_then_moved(session: Session, tmp_path: Path) -> None:
    """mmdebstrap's apt reads Ubuntu's keyring (extracted into the cache) as _apt: it must get a copy
    it can read. The session's build runs from this same private checkout and cache: when it made
    noble's image (a cold session: CI's always is), that is the proof, and it is not made again here;
    when it did not (warm), the image is made anew. Then the checkout and the cache move: the image
    is reused, not rebuilt."""
    assert not os.stat(CACHE.parent).st_mode & stat.S_IXOTH
    assert session.env["KRONOS_CACHE_DIR"] == str(CACHE)
    if "Building base image for noble" not in session.first.stdout:
        built = kronos("images", "--target", "noble", "--refresh", env=_env(CACHE, ROOT), root=ROOT)
        assert built.returncode == 0, built.stdout[-3000:]
        assert "Building base image for noble" in built.stdout, built.stdout[-3000:]
    moved = _private("kronos-moved-")
    try:
        root = moved / "elsewhere" / "kronos"
        shutil.copytree(ROOT, root, symlinks=True)
        again = kronos("images", "--target", "noble", env=_env(moved / "cache", root), root=root)
        assert again.returncode == 0, again.stdout[-3000:]
        assert "is up to date" in again.stdout, again.stdout[-3000:]
        assert "Building base image" not in again.stdout
    finally:
        shutil.rmtree(moved, ignore_errors=True)
