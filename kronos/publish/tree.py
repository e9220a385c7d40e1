"""The published tree: an append-only pool, and dists/ as a symlink to a complete generation.

    <root>/pool/...                      files never change content under a name
    <root>/dists -> .generations/<id>/dists   swapped in by one rename
    <root>/.generations/<id>/state.json  what that generation holds (so state and tree agree)
    <root>/.lock                         flock: publishes are serialized, released on death
"""

from __future__ import annotations

import contextlib
import ctypes
import email.utils
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..cache import atomic_path, sha256_file
from ..clock import now
from ..errors import KronosError
from .fault import checkpoint

STATE_FORMAT = 1


class PublishError(KronosError):
    """The repository refuses the change; the published tree is untouched."""


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialize publishes; the kernel drops the lock when the holder dies."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def current_generation(root: Path) -> Path | None:
    link = root / "dists"
    if link.is_symlink():
        return (root / os.readlink(link)).parent.resolve()
    if link.exists():
        raise PublishError(f"{link} is not a kronos-managed symlink; refusing to publish over it")
    return None


def load_state(root: Path) -> dict[str, Any]:
    gen = current_generation(root)
    if gen is None:
        return {"format": STATE_FORMAT, "suites": {}, "pool": {}, "orphans": {}, "byhash": {}}
    state: dict[str, Any] = json.loads((gen / "state.json").read_text())
    return state


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """Write a new file (no fsync: the generation is synced once before the swap)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def add_pool_file(root: Path, relpath: str, src: Path, sha256: str) -> bool:
    """Put src (whose sha256 is given) in the pool under relpath; True when this call wrote it.

    A hard link appears whole, so it goes straight to its name. Only never-published names come
    here, so a file already there is a leftover of a killed publish: kept when it has the right
    bytes, replaced through a temporary name when not; a copy (another file system) also goes
    through a temporary name. Durability comes from one syncfs() before the swap."""
    dest = root / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except FileExistsError:
        if sha256_file(dest) == sha256:
            return False
        _replace(src, dest)
    except OSError:
        _replace(src, dest)
    checkpoint(f"pool {relpath}")
    return True


def _replace(src: Path, dest: Path) -> None:
    with atomic_path(dest, sync=False) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def new_generation(root: Path) -> Path:
    gens = root / ".generations"
    gens.mkdir(parents=True, exist_ok=True)
    gen_id = f"{time.time_ns():020d}-{os.getpid()}"
    path = gens / gen_id
    path.mkdir()
    return path


_libc = ctypes.CDLL(None, use_errno=True)


def sync_filesystem(path: Path) -> None:
    """syncfs(2): everything written to path's file system (pool and generation) reaches the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def swap(root: Path, gen: Path, state: dict[str, Any]) -> None:
    """Make gen the published generation with one rename."""
    write_file(gen / "state.json", json.dumps(state, sort_keys=True).encode())
    sync_filesystem(root)
    checkpoint("generation written")
    tmp = root / ".dists.new"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path(".generations") / gen.name / "dists")
    os.replace(tmp, root / "dists")
    fsync_dir(root)
    checkpoint("swapped")


def collect_garbage(root: Path, keep: Path, state: dict[str, Any]) -> None:
    """Drop generations but the current and the one before, and pool files past their grace."""
    gens = sorted(p for p in (root / ".generations").iterdir() if p.is_dir())
    older = [g for g in gens if g.name < keep.name]
    for g in older[:-1] + [g for g in gens if g.name > keep.name]:
        shutil.rmtree(g, ignore_errors=True)
    parents = set()
    for relpath in state.get("deleted", []):
        (root / relpath).unlink(missing_ok=True)
        parents.add((root / relpath).parent)
    for d in sorted(parents, reverse=True):
        while d != root and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            d = d.parent


def rfc1123(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True).replace("GMT", "UTC")


def release_date(previous: str | None) -> float:
    """Now, but always after the previous publish's Date: apt keeps the newer file, and the files'
    mtimes (Last-Modified over HTTP, which has one-second steps) follow the Date."""
    t = float(int(now().timestamp()))
    if previous:
        parsed = email.utils.parsedate_to_datetime(previous).timestamp()
        t = max(t, parsed + 1)
    return t
