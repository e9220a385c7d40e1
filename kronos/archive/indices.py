"""Finding stanzas in (large) Sources/Packages indices without parsing all of them."""

from __future__ import annotations

import gzip
import json
import lzma
import shutil
from pathlib import Path

from debian.deb822 import Packages, Sources

from ..cache import atomic_path


def plain(path: Path, ext: str) -> Path:
    """The uncompressed index beside its cached compressed blob (made once)."""
    if not ext:
        return path
    out = path.with_name(path.name + ".plain")
    if not out.exists():
        opener = lzma.open if ext == ".xz" else gzip.open
        with opener(path, "rb") as src, atomic_path(out) as tmp, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return out


def _stanzas(path: Path, name: str) -> list[bytes]:
    data = path.read_bytes()
    needle = f"Package: {name}\n".encode()
    found = []
    start = 0
    while True:
        i = data.find(needle, start)
        if i < 0:
            break
        if i == 0 or data[i - 1 : i] == b"\n":
            begin = data.rfind(b"\n\n", 0, i)
            begin = 0 if begin < 0 else begin + 2
            end = data.find(b"\n\n", i)
            end = len(data) if end < 0 else end
            found.append(data[begin:end])
        start = i + len(needle)
    return found


def sources(path: Path, name: str) -> list[Sources]:
    """The stanzas of source `name` in the plain index at path. The answer is kept beside the index (which
    is named by its content), so the next run reads a few lines instead of the whole index."""
    memo = path.with_name(f"{path.name}.{name}.stanzas")
    try:
        chunks = [c.encode() for c in json.loads(memo.read_text())]
    except (OSError, ValueError):
        chunks = _stanzas(path, name)
        with atomic_path(memo) as tmp:
            tmp.write_text(json.dumps([c.decode(errors="replace") for c in chunks]))
    return [Sources(chunk) for chunk in chunks]


def packages(path: Path, name: str) -> list[Packages]:
    return [Packages(chunk) for chunk in _stanzas(path, name)]


def sources_of(path: Path, names: set[str]) -> dict[str, list[Sources]]:
    """The Sources stanzas of each of names, reading the index once."""
    data = b"\n" + path.read_bytes()  # every stanza starts after a newline, the first one too
    out: dict[str, list[Sources]] = {}
    for name in sorted(names):
        needle = f"\nPackage: {name}\n".encode()
        start = 0
        while (i := data.find(needle, start)) >= 0:
            begin = data.rfind(b"\n\n", 0, i + 1)
            begin = 0 if begin < 0 else begin + 2
            end = data.find(b"\n\n", i + 1)
            out.setdefault(name, []).append(Sources(data[begin:len(data) if end < 0 else end]))
            start = i + len(needle)
    return out
