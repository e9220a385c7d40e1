"""The integration suite runs from a private copy of the checkout, as a new user's clone in root's
home (mode 0700 on Debian) or in a `mktemp -d` would be: every file that apt's sandbox user `_apt`
(or anything else that drops privileges) reads must then be handed to it by kronos, never read in
place. The download cache stays in the real checkout (kept between runs) but behind a 0700
directory for the same reason."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]
_SKIP = {".git", ".venv", ".cache", "out", "public", "gnupg", "__pycache__", ".mypy_cache", ".ruff_cache",
         ".pytest_cache", "build", "bench"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP or n.endswith(".egg-info")}


def _private_copy() -> Path:
    parent = Path(tempfile.mkdtemp(prefix="kronos-checkout-"))  # mode 0700
    atexit.register(shutil.rmtree, parent, True)
    root = parent / "kronos"
    shutil.copytree(SOURCE, root, ignore=_ignore, symlinks=True)
    assert not os.stat(parent).st_mode & stat.S_IXOTH, f"{parent} is traversable by other users"
    return root


ROOT = _private_copy()
CACHE = SOURCE / ".cache" / "kronos"
CACHE.mkdir(parents=True, exist_ok=True)
CACHE.parent.chmod(0o700)
os.environ["KRONOS_CACHE_DIR"] = str(CACHE)


@contextlib.contextmanager
def scratch_project(prefix: str) -> Iterator[Path]:
    """A project root of a test's own (it writes the recipes) with the checkout's container
    scripts, under a short temporary directory (gpg sockets), removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root = parent / "p"
        shutil.copytree(ROOT / "containers", root / "containers")
        yield root
    finally:
        shutil.rmtree(parent, ignore_errors=True)
