"""The version ledger: which content key got which version, so no version names two builds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from debian.debian_support import Version

from .cache import atomic_path
from .errors import BuildError, corrupt, load_json


@dataclass(frozen=True)
class Entry:
    key: str
    version: str
    base: str  # the version before the local revision (upstream or archive version)
    n: int
    timestamp: int  # the changelog date of this build

    @property
    def kept(self) -> bool:
        """A --keep-version build: the source's own version, no local revision (n 0)."""
        return self.n == 0


WHAT = "the version ledger"
FIX = "fix it by hand or restore it from a backup (without it, a version could name two builds)"
_TYPES = {f.name: f.type for f in dataclasses.fields(Entry)}  # "str" / "int" (postponed annotations)


def _entry(path: Path, i: int, e: object) -> Entry:
    if not isinstance(e, dict) or set(e) != set(_TYPES):
        raise corrupt(path, WHAT, f"builds[{i}] does not have exactly the keys {', '.join(_TYPES)}", FIX)
    for key, kind in _TYPES.items():
        value = e[key]
        if type(value).__name__ != kind:
            raise corrupt(path, WHAT, f"builds[{i}].{key} is {value!r}, not of type {kind}", FIX)
    try:
        Version(e["version"])
    except ValueError:
        raise corrupt(path, WHAT, f"builds[{i}].version {e['version']!r} is not a Debian version", FIX) from None
    return Entry(**e)


def _entries(path: Path) -> list[Entry]:
    data = load_json(path, WHAT, FIX)
    builds = data.get("builds") if isinstance(data, dict) else None
    if not isinstance(builds, list):
        raise corrupt(path, WHAT, "it is not an object with a list 'builds'", FIX)
    return [_entry(path, i, e) for i, e in enumerate(builds)]


class Ledger:
    """out/ledger/<target>/<recipe>.json; kept by `clean` unless asked otherwise."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        if path.exists():
            self.entries = _entries(path)

    def find(self, key: str) -> Entry | None:
        for e in self.entries:
            if e.key == key:
                return e
        return None

    def next_n(self, base: str) -> int:
        return max((e.n for e in self.entries if e.base == base), default=0) + 1

    def latest(self) -> Entry | None:
        if not self.entries:
            return None
        return max(self.entries, key=lambda e: Version(e.version))

    def record(self, entry: Entry) -> None:
        if entry.kept:  # a newer one-off build of the same kept version replaces the older one
            self.entries = [e for e in self.entries if not (e.kept and e.version == entry.version)]
        if any(e.version == entry.version and e.key != entry.key for e in self.entries):
            raise BuildError(f"{self.path}: version {entry.version} already names another build; nothing of this"
                             " build was kept (a second kronos beside this one, or a ledger changed by hand)")
        self.entries = [e for e in self.entries if e.key != entry.key] + [entry]
        data = {"builds": [e.__dict__ for e in self.entries]}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
