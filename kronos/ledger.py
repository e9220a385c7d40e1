"""The version ledger: which content key got which version, so no version names two builds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from debian.debian_support import Version

from .cache import atomic_path


@dataclass(frozen=True)
class Entry:
    key: str
    version: str
    base: str  # the version before the local revision (upstream or archive version)
    n: int
    timestamp: int  # the changelog date of this build


class Ledger:
    """out/ledger/<target>/<recipe>.json; kept by `clean` unless asked otherwise."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        if path.exists():
            self.entries = [Entry(**e) for e in json.loads(path.read_text())["builds"]]

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
        if any(e.version == entry.version and e.key != entry.key for e in self.entries):
            raise ValueError(f"version {entry.version} already names another build")
        self.entries = [e for e in self.entries if e.key != entry.key] + [entry]
        data = {"builds": [e.__dict__ for e in self.entries]}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
