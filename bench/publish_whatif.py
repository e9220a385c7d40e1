"""What-if: the alternatives behind kronos's publish design, measured on this run's data (stdlib only)."""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import lzma
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kronos.publish.tree import clone_or_copy

T = TypeVar("T")


def best(fn: Callable[[], T], k: int = 2) -> tuple[float, T]:
    """The fastest of k calls, and the last result."""
    t = time.perf_counter()
    res = fn()
    fastest = time.perf_counter() - t
    for _ in range(k - 1):
        t = time.perf_counter()
        res = fn()
        fastest = min(fastest, time.perf_counter() - t)
    return fastest, res


def kb(b: bytes) -> str:
    return f"{len(b) / 1024:.0f} KiB"


def compression(packages: Path) -> list[tuple[str, float, str]]:
    data = packages.read_bytes()
    lean = re.sub(rb"^(SHA512|MD5sum): .*\n", b"", data, flags=re.M)
    rows: list[tuple[str, float, str]] = [(f"Packages ({kb(data)}), as now", 0.0, "")]
    for label, fn in (("xz preset 6 (now)", lambda: lzma.compress(data, preset=6)),
                      ("xz preset 3", lambda: lzma.compress(data, preset=3)),
                      ("xz preset 1", lambda: lzma.compress(data, preset=1)),
                      ("xz preset 0", lambda: lzma.compress(data, preset=0)),
                      ("gzip -9 (now)", lambda: gzip.compress(data, compresslevel=9, mtime=0)),
                      ("gzip -6", lambda: gzip.compress(data, compresslevel=6, mtime=0)),
                      (f"xz preset 6, stanzas without MD5sum/SHA512 ({kb(lean)})",
                       lambda: lzma.compress(lean, preset=6)),
                      ("xz preset 1, stanzas without MD5sum/SHA512", lambda: lzma.compress(lean, preset=1)),
                      ("gzip -9, stanzas without MD5sum/SHA512",
                       lambda: gzip.compress(lean, compresslevel=9, mtime=0))):
        t, out = best(fn)
        rows.append((f"  {label}", t, f"-> {kb(out)}"))
    return rows


def hashing(every: list[Path]) -> list[tuple[str, float, str]]:
    def digest_all() -> None:
        for f in every:
            hs = [hashlib.new(h) for h in ("md5", "sha256", "sha512")]
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    for h in hs:
                        h.update(chunk)

    t_hash, _ = best(digest_all)
    t_stat, _ = best(lambda: [f.stat() for f in every])
    return [(f"re-hash all {len(every)} known .debs, md5+sha256+sha512 (now, every publish)", t_hash, ""),
            ("  stat() them instead (same st_ino/st_size/st_mtime as the pool's link: known)", t_stat, "")]


def pool_links(base: Path, files: list[Path]) -> list[tuple[str, float, str]]:
    libc = ctypes.CDLL(None, use_errno=True)

    def pool(variant: str) -> float:
        shutil.rmtree(base, ignore_errors=True)
        root = base / variant
        t = time.perf_counter()
        for f in files:
            dest = root / f.name[:1] / f.name.split("_")[0] / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if variant == "now":  # tree.add_pool_file: a copy (reflink where possible), fsync, rename
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
                os.close(fd)
                clone_or_copy(f, Path(tmp))
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, dest)
            else:
                os.link(f, dest)  # a hard link appears whole: no temporary name needed
                if variant == "link+fsync":
                    fd = os.open(dest, os.O_RDONLY)
                    os.fsync(fd)
                    os.close(fd)
        if variant == "link+syncfs":
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            libc.syncfs(fd)
            os.close(fd)
        return time.perf_counter() - t

    rows: list[tuple[str, float, str]] = []
    for variant, label in (("now", "pool: mkstemp+copy(reflink)+fsync+rename per file (now)"),
                           ("link+fsync", "  os.link + fsync per file"),
                           ("link+syncfs", "  os.link per file, then one syncfs() before the swap"),
                           ("link", "  os.link per file, no sync (reprepro/aptly do not fsync)")):
        rows.append((label + f" x{len(files)}", min(pool(variant) for _ in range(2)), ""))
    shutil.rmtree(base, ignore_errors=True)
    return rows


def whatif(work: Path, files: list[Path], extra: Path, packages: Path) -> list[tuple[str, float, str]]:
    """Rows (label, best-of-2 seconds, note): compression of the Packages kronos wrote, hashing the known
    .debs against stat(), and ways of linking the pool."""
    return [*compression(packages), *hashing([*files, extra]), *pool_links(work / "whatif", files)]
