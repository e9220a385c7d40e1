"""Whether a source package's .dsc and files can be downloaded from the mirror that lists it,
checked without downloading them (HTTP HEAD, as urllib, the downloads' client, sends it; a `file:`
mirror: the file exists). Cached under <cache>/plan/reach/, keyed by the Sources index that lists
the source: a new index is asked again."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import atomic_path, probe
from ..errors import FetchError
from ..keys import content_key
from .indices import SourceEntry

PARALLEL = 8


@dataclass(frozen=True)
class Reach:
    ok: bool
    missing: str = ""  # the first file that cannot be fetched, and why
    # a .dsc the mirror does not serve while it serves the rest: the build makes it from the signed index
    made: str = ""
    definite: bool = True  # the mirror answered (False: the network failed on every attempt)


def _files(entry: SourceEntry) -> list[str]:
    listed: Any = entry.stanza.get("Checksums-Sha256") or entry.stanza.get("Files") or []
    return [str(item["name"]) for item in listed]


def check(entry: SourceEntry) -> Reach:
    """The mirror's verdict on entry's files; `definite` is False when the network, not the mirror,
    kept one from being asked (that verdict is not cached)."""
    directory = str(entry.stanza.get("Directory", ""))
    files = _files(entry)
    if not files:
        return Reach(False, "the Sources entry lists no files")
    made = ""
    for name in sorted(files, key=lambda n: not n.endswith(".dsc")):  # the .dsc first
        try:
            got = probe(f"{entry.mirror}/{directory}/{name}")
        except FetchError as e:
            return Reach(False, f"{name}: {e}", definite=False)
        if got.not_served and name.endswith(".dsc") and len(files) > 1:
            made = f"{name}: {got.why}; made from the signed Sources index"  # as sources/debian.py does
        elif got.why:
            return Reach(False, f"{name}: {got.why}")
    return Reach(True, made=made)


def reachable(cache_root: Path, entries: list[SourceEntry]) -> list[Reach]:
    """Each entry's reachability, from the cache where the same index listed it before."""
    def one(entry: SourceEntry) -> Reach:
        path = cache_root / "plan" / "reach" / (content_key(
            [entry.listing, entry.mirror, entry.name, entry.version, "made-dsc"]) + ".json")
        if path.exists():
            doc = json.loads(path.read_text())
            return Reach(bool(doc["ok"]), str(doc["missing"]), made=str(doc.get("made", "")))
        found = check(entry)
        if found.definite:
            with atomic_path(path, sync=False) as tmp:
                tmp.write_text(json.dumps({"ok": found.ok, "missing": found.missing, "made": found.made}))
        return found

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, entries))
