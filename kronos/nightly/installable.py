"""Is the suite a promotion would make installable as a whole? dose-distcheck over the candidate suite
(what stays served, plus what would be promoted) in the foreground and the target's archive (its suite,
pockets and security suite) in the background, the latest version of each package only. A package of
ours that is not installable there is held back, with dose's reason."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from debian.deb822 import Deb822
from debian.debfile import DebFile

from ..archive import indices
from ..archive.access import Archives
from ..cache import Cache, atomic_path
from ..config import Settings
from ..errors import KronosError
from ..keys import content_key
from ..run import run

DOSE_FORMAT = 1  # bump when what is asked of dose or how its answer is read changes
FIELDS = ("Package", "Version", "Architecture", "Multi-Arch", "Depends", "Pre-Depends", "Provides", "Conflicts",
          "Breaks", "Replaces", "Essential")


def stanza_of(deb: Path) -> str:
    control = DebFile(str(deb)).debcontrol()
    kept = Deb822()
    for f in FIELDS:
        if f in control:
            kept[f] = control[f]
    return str(kept.dump())


def archive_indices(settings: Settings, target_name: str) -> list[Path]:
    """The plain Packages indices of what the target's apt installs from by default."""
    target = settings.target(target_name)
    archive = settings.archive_of(target)
    archives = Archives(settings, Cache(settings.cache_dir))
    out = []
    for mirror, suite in archives.default_suites(target):
        release = archives.release(archive, suite, mirror)
        for component in target.components:
            stem = f"{component}/binary-{settings.architecture}/Packages"
            if any(release.entry(stem + x) for x in (".xz", ".gz", "")):
                path, ext = release.index(archives.cache, stem)
                out.append(indices.plain(path, ext))
    return out


def broken(settings: Settings, target: str, candidate: Iterable[str]) -> dict[str, str]:
    """name -> dose's reason, for each package of the candidate suite (Packages stanzas: all ours) that
    is not installable with the target's archive."""
    stanzas = list(candidate)
    if not stanzas:
        return {}
    background = archive_indices(settings, target)
    # the same candidate over the same indices gives the same answer: a night that changed nothing
    # does not run dose again
    key = content_key({"candidate": stanzas, "background": [str(b) for b in background],
                       "dose": DOSE_FORMAT})
    memo = settings.cache_dir / "nightly" / "dose" / f"{key[:32]}.json"
    if memo.is_file():
        try:
            kept: dict[str, str] = json.loads(memo.read_text())
            return kept
        except ValueError:
            pass
    with tempfile.TemporaryDirectory(prefix="kronos-dose-") as tmp:
        fg = Path(tmp) / "Packages"
        fg.write_text("\n".join(s.rstrip("\n") + "\n" for s in stanzas))
        argv = ["dose-distcheck", f"--deb-native-arch={settings.architecture}", "--latest=1", "-f", "-e",
                f"deb://{fg}", *(f"--bg=deb://{b}" for b in background)]
        proc = run(argv, check=False, merge_stderr=False)
    text = proc.stdout.decode(errors="replace")
    if proc.returncode not in (0, 1) or "report:" not in text:
        raise KronosError(f"dose-distcheck failed (exit {proc.returncode}) on the {target} candidate suite:"
                          f" {text.strip()[-300:]}")
    found = parse(text)
    memo.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(memo) as tmp_path:
        tmp_path.write_text(json.dumps(found))
    return found


def parse(text: str) -> dict[str, str]:
    """dose-distcheck's YAML report (failures, explained) -> name -> the first reason it gives."""
    out: dict[str, str] = {}
    for entry in re.split(r"\n -\n", text)[1:]:
        name = re.search(r"^  package: (\S+)", entry, re.M)
        if name is None or "status: broken" not in entry:
            continue
        why = re.search(r"(unsat-dependency|unsat-conflict): (.+)", entry)
        out[name.group(1)] = f"not installable: {why.group(1)} {why.group(2).strip()}" if why else "not installable"
    return out


def candidate(settings: Settings, target: str, promoted: Mapping[str, list[Path]],
              served: Mapping[str, list[str]]) -> list[str]:
    """The Packages stanzas of the suite a promotion would make: for each source of ours, its promoted
    build's .debs, else what the served suite has of it."""
    stanzas = []
    for source in sorted(set(promoted) | set(served)):
        if source in promoted:
            stanzas += [stanza_of(d) for d in promoted[source]]
        else:
            stanzas += served[source]
    return stanzas
