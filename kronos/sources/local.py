"""Local sources: a directory or a tarball the user supplies."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from ..cache import Cache
from ..errors import FetchError
from ..run import run


def fetch(cache: Cache, path: Path, name: str, version: str, work: Path) -> Path:
    """An upstream tarball for `path` (a tarball is used as is; a directory is packed)."""
    if not path.exists():
        raise FetchError(f"local source {path}: does not exist")
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise FetchError(f"local source {path}: not a tarball")
        blob, _ = cache.put(path)
        return blob
    staged = work / f"{name}-{version}"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(path, staged, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    tarball = work / f"{name}-{version}.tar.gz"
    run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
         "-C", str(work), "-cf", str(tarball.with_suffix("")), staged.name])
    run(["gzip", "-n", "-f", str(tarball.with_suffix(""))])
    blob, _ = cache.put(tarball)
    shutil.rmtree(staged)
    return blob
