"""From build outputs (out/<target>/<recipe>/) to what a publish adds, per suite."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..config import Settings
from ..errors import KronosError
from ..records import read_build_record
from .publisher import Upload


def uploads(settings: Settings, targets: list[str], seen: Mapping[str, list[int]] | None = None,
            ) -> tuple[dict[str, list[Upload]], dict[str, list[int]]]:
    """What the targets' outputs give each suite, and the (mtime, size) of every build record read.

    A record whose (mtime, size) is in `seen` (what the repository already took) is skipped: adding
    one package to a large repository reads one record, not all of them."""
    out: dict[str, list[Upload]] = {}
    stamps: dict[str, list[int]] = {}
    for name in targets:
        settings.target(name)
        base = settings.output_dir / name
        ups = []
        for record in sorted(base.glob("*/build.json")):
            st = record.stat()
            stamp = [st.st_mtime_ns, st.st_size]
            stamps[str(record)] = stamp
            if seen is not None and seen.get(str(record)) == stamp:
                continue
            data = read_build_record(record)
            d = record.parent
            files = [d / f for f in data["files"]]
            missing = [f for f in files if not f.exists()]
            if missing:
                raise KronosError(f"build output {missing[0]} is missing (listed in {record}); rebuild it")
            debs = tuple(f for f in files if f.suffix in (".deb", ".udeb"))
            dscs = [f for f in files if f.suffix == ".dsc"]
            ups.append(Upload(str(data["source"]), debs, dscs[0] if dscs else None,
                              data.get("kept-version") is True))
        out[name] = ups
    return out, stamps


def client_lines(root: Path, name: str) -> list[str]:
    """The two commands that make a machine use the repository."""
    return [
        f"install -m 0644 {root / (name + '-archive-keyring.pgp')} /usr/share/keyrings/",
        f"install -m 0644 {root / (name + '.sources')} /etc/apt/sources.list.d/",
    ]
