"""An independent check of a closure with dose-builddebcheck, on the same indices and model: the
target's Packages plus the members' modelled binaries, and the members' Sources stanzas (rewrites and
under-stated dependencies applied; dose applies the profiles and architecture restrictions itself),
with one pseudo source whose Build-Depends are the wanted names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from debian.deb822 import Packages, Sources

from ..errors import KronosError
from ..graph import relations
from ..run import run
from .closure import REBUILD, Closure
from .indices import OURS, PlanIndices, by_name
from .model import rewrite_text
from .rules import PlanRules

WANTED = "kronos-wanted"


def write_inputs(c: Closure, idx: PlanIndices, rules: PlanRules, dest: Path, drop: str | None = None) -> list[Path]:
    """Packages files then the Sources file, as dose-builddebcheck takes them; `drop`: a member key
    whose binaries are left out."""
    dest.mkdir(parents=True, exist_ok=True)
    binaries, sources = [], []
    modelled = {s.name: [idx.modelled(i, s.packages) for i in s.packages] for s in idx.froms}
    for key, m in c.members.items():
        stanza = Sources(m.entry.stanza.dump())
        for field in relations.BUILD_FIELDS:
            if field in stanza:
                stanza[field] = rewrite_text(str(stanza[field]), c.target, rules.rewrites)
        for extra in rules.understated:
            if extra.source == m.source:
                stanza["Build-Depends"] = ", ".join(x for x in (str(stanza.get("Build-Depends", "")), extra.add) if x)
        sources.append(stanza.dump())
        if m.kind == REBUILD or key == drop:
            continue  # a rebuild's binaries are the target's
        names = [b.strip() for b in str(stanza.get("Binary", "")).split(",") if b.strip()]
        for path in modelled[m.suite]:
            for name in names:
                for chunk in by_name(path).get(name, ()):
                    pkg = Packages(chunk)
                    if str(pkg.get("Source", name)).split()[0] == m.source:
                        binaries.append(pkg.dump())
    wanted = ", ".join(w.name for w in c.wants)
    sources.append(Sources(f"Package: {WANTED}\nVersion: 0\nArchitecture: any\nBuild-Depends: {wanted}\n").dump())
    (dest / "Members.Packages").write_text("\n".join(binaries))
    (dest / "Sources").write_text("\n".join(sources))
    own = [i.path for s in (*idx.own, *idx.extra) for i in s.packages] + [
        r.files[0] for r in idx.repos() if r.name == OURS]
    return [*own, dest / "Members.Packages", dest / "Sources"]


def broken(files: Sequence[Path], arch: str, profiles: Sequence[str]) -> int:
    """How many of the Sources' packages dose-builddebcheck finds broken."""
    argv = ["dose-builddebcheck", f"--deb-native-arch={arch}", "--failures"]
    if profiles:
        argv.append(f"--deb-profiles={','.join(profiles)}")
    proc = run([*argv, *map(str, files)], check=False)
    text = proc.stdout.decode(errors="replace")
    found = re.search(r"^broken-packages: (\d+)$", text, re.M)
    if proc.returncode not in (0, 1) or found is None:
        raise KronosError(f"dose-builddebcheck failed (exit {proc.returncode}): {text.strip().splitlines()[-1:]}")
    return int(found.group(1))
