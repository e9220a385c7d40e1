"""The published tree: an append-only pool, and dists/ as a symlink to a complete generation.

    <root>/pool/...                      files never change content under a name; no inode shared
    <root>/dists -> .generations/<n>/dists   swapped in by one rename; n counts generations
    <root>/.generations/<n>/state.json  what that generation holds (so state and tree agree)
    <root>/<name>-archive-keyring.pgp (.asc), <name>.sources -> dists/<same name>: the client files
                                         live in the generation and change with the same rename
    <root>/.lock, .lock.pid              flock serializing publishes, and its holder (lock.py)
"""

from __future__ import annotations

import contextlib
import ctypes
import email.utils
import errno
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from ..cache import atomic_path, sha256_file
from ..clock import now
from ..errors import KronosError, load_json
from .fault import checkpoint

STATE_FORMAT = 1


class PublishError(KronosError):
    """The repository refuses the change; the published tree is untouched."""


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
    state: dict[str, Any] = load_json(gen / "state.json", "the publish state", f"restore {root} from a backup")
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
    """Put a copy of src (whose sha256 is given) in the pool under relpath; True when this call wrote it.

    The pool shares no inode with a build output: an in-place write to out/ must not change a
    published file. The copy (a reflink where the file system can) goes through a temporary name and
    is checked against the sha256 the indices give. Only never-published names come here, so a file
    already there is a leftover of a killed publish: kept when it has the right bytes and is ours
    alone. Durability comes from one syncfs() before the swap."""
    dest = root / relpath
    if dest.is_file() and dest.stat().st_nlink == 1 and sha256_file(dest) == sha256:
        return False
    with atomic_path(dest, sync=False) as tmp:
        got = clone_or_copy(src, tmp)
        if got != sha256:
            raise PublishError(f"{src} changed while it was published (sha256 {got}, read as {sha256});"
                               " publish again once its build is complete")
    checkpoint(f"pool {relpath}")
    return True


FICLONE = 0x40049409  # ioctl(dest, FICLONE, src): share the extents, copy-on-write (btrfs, XFS)


def clone_or_copy(src: Path, dest: Path) -> str:
    """Make dest (an existing file) a copy of src that shares no inode with it; its sha256."""
    with src.open("rb") as s, dest.open("r+b") as d:
        try:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
        except OSError:
            _copy(s, d)
    return sha256_file(dest)


def _copy(s: BinaryIO, d: BinaryIO) -> None:
    """In-kernel copy_file_range(2) (server-side or reflinked where the file system can), else read/write."""
    d.truncate(0)
    try:
        while os.copy_file_range(s.fileno(), d.fileno(), 1 << 30):
            pass
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
            raise
    s.seek(0)
    d.seek(0)
    d.truncate(0)
    shutil.copyfileobj(s, d, 1 << 20)


def unshare_pool(root: Path, relpaths: list[str]) -> None:
    """Replace pool files that still share their inode (hard links into out/ made by earlier kronos
    versions) by copies of the same bytes."""
    for rel in relpaths:
        path = root / rel
        with contextlib.suppress(FileNotFoundError):
            if path.lstat().st_nlink > 1:
                with atomic_path(path, sync=False) as tmp:
                    clone_or_copy(path, tmp)


def generation_name(serial: int) -> str:
    return f"{serial:010d}"


def new_generation(root: Path, state: dict[str, Any]) -> Path:
    """The directory of the next generation, named from the counter in the state (never the clock).
    A directory that already has that name is a leftover of a killed publish (never published: the
    state of the published generation has not counted it); it is skipped, and garbage-collected."""
    gens = root / ".generations"
    gens.mkdir(parents=True, exist_ok=True)
    serial = int(state.get("serial", 0)) + 1
    while (gens / generation_name(serial)).exists():
        serial += 1
    path = gens / generation_name(serial)
    path.mkdir()
    state["serial"] = serial
    return path


def supersede(state: dict[str, Any], previous: Path | None, t: float, grace: float) -> None:
    """Record that `previous` stops being published at t; forget generations superseded a grace ago.
    A clock that went back restarts the grace (a generation is never dropped early)."""
    superseded: dict[str, float] = state.setdefault("superseded", {})
    if previous is not None:
        superseded[previous.name] = t
    for name, since in list(superseded.items()):
        if since > t:
            superseded[name] = since = t
        if t - since >= grace:
            del superseded[name]


_libc = ctypes.CDLL(None, use_errno=True)


def sync_filesystem(path: Path) -> None:
    """syncfs(2): everything written to path's file system (pool and generation) reaches the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def link_client_files(root: Path, names: list[str], previous: Path | None) -> None:
    """Make each top-level client file a symlink into dists/ (so the swap switches it), without
    changing what it serves now: a regular file left by an earlier kronos version is first linked
    into the published generation, which then serves the same bytes under the same name."""
    for name in names:
        top = root / name
        target = f"dists/{name}"
        if top.is_symlink() and os.readlink(top) == target:
            continue
        if previous is not None and top.is_file() and not top.is_symlink():
            with contextlib.suppress(FileExistsError):
                os.link(top, previous / "dists" / name)
        tmp = root / f".{name}.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, top)


def live_generation(root: Path) -> str | None:
    """The name of the published generation (what the dists symlink points into)."""
    link = root / "dists"
    return Path(os.readlink(link)).parent.name if link.is_symlink() else None


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
    """Drop generations but the current and those superseded within the grace (the state says which;
    anything else is a leftover of a killed publish), and pool files past their grace."""
    kept = {keep.name, *state.get("superseded", {})}
    for g in (root / ".generations").iterdir():
        if g.name not in kept:
            shutil.rmtree(g, ignore_errors=True)
    remove_pool_files(root, state.get("deleted", []))


def remove_pool_files(root: Path, relpaths: list[str]) -> None:
    """Remove pool files, and the directories they leave empty."""
    parents = set()
    for relpath in relpaths:
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
