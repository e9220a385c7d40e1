"""What a release manager asks the morning after, for the report: the archive state the night built
against, whether the archive moved under a rebuilt package (its installed build dependencies changed),
where the archive now has a higher version than ours (apt would prefer it but for a pin), and signing
keys that expire soon."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from debian.deb822 import Deb822
from debian.debian_support import Version

from ..archive import indices
from ..archive.access import Archives
from ..cache import Cache
from ..config import Settings
from ..errors import KronosError
from ..log import info

SOON_DAYS = 30


def build_deps(output: Path) -> dict[str, str]:
    """name -> version of the Installed-Build-Depends in the build's .buildinfo ({} without one)."""
    found = sorted(output.glob("*.buildinfo")) if output.is_dir() else []
    if not found:
        return {}
    field = Deb822(found[0].read_text(errors="replace")).get("Installed-Build-Depends", "")
    out = {}
    for part in field.split(","):
        words = part.strip().split(None, 1)
        if words:
            out[words[0].split(":")[0]] = words[1].strip("() =") if len(words) > 1 else ""
    return out


def archive_moved(before: Path, after: Path) -> list[str]:
    """The build dependencies that changed between two builds of a recipe: `name old -> new`."""
    old, new = build_deps(before), build_deps(after)
    if not old or not new:
        return []
    lines = [f"{n} {old.get(n, '(none)')} -> {new.get(n, '(none)')}" for n in sorted(set(old) | set(new))
             if old.get(n) != new.get(n)]
    return lines


def outranked(settings: Settings, ours: Mapping[tuple[str, str], str]) -> list[dict[str, str]]:
    """Where a target's archive has a source of ours at a higher version: (target, source) -> our
    version in, [{target, source, ours, archive, suite}] out. A suite that cannot be read is skipped
    (the refresh stage already said so)."""
    archives = Archives(settings, Cache(settings.cache_dir))
    out = []
    by_target: dict[str, dict[str, str]] = {}
    for (name, source), version in ours.items():
        by_target.setdefault(name, {})[source] = version
    for target_name, sources in sorted(by_target.items()):
        target = settings.target(target_name)
        archive = settings.archive_of(target)
        for mirror, suite in archives.default_suites(target):
            try:
                release = archives.release(archive, suite, mirror)
                for component in target.components:
                    stem = f"{component}/source/Sources"
                    if not any(release.entry(stem + x) for x in (".xz", ".gz", "")):
                        continue
                    path, ext = release.index(archives.cache, stem)
                    for name, stanzas in indices.sources_of(indices.plain(path, ext), set(sources)).items():
                        best = max((Version(str(s["Version"])) for s in stanzas), default=None)
                        if best is not None and best > Version(sources[name]):
                            out.append({"target": target_name, "source": name, "ours": sources[name],
                                        "archive": str(best), "suite": suite})
            except KronosError as e:
                info(f"could not compare with {suite}: {e}")
    return out


def signing_keys(settings: Settings, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The repository's signing keys: fingerprint, expiry, days left, and whether that is within 30 days."""
    from ..publish.settings import load_repo_settings
    from ..publish.signing import signer

    repo = load_repo_settings(settings.root)
    keys = signer(repo, probe=False).check()
    when = at or dt.datetime.now(dt.UTC)
    out = []
    for key in keys:
        expires = key.get("expires")
        entry: dict[str, Any] = {"fingerprint": str(key["fingerprint"]), "expires": None, "days_left": None,
                                 "soon": False}
        if expires:
            end = dt.datetime.fromtimestamp(int(expires), tz=dt.UTC)
            left = (end - when).days
            entry.update(expires=end.isoformat(timespec="seconds"), days_left=left, soon=left <= SOON_DAYS)
        out.append(entry)
    return out
