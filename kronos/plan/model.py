"""The model `kronos plan` solves, the build side (a member's binaries as rebuilt on the target are
kronos.plan.rebuilt's): the target's Essential packages, and a source's build relations as the build
will see them: Build-Depends(-Arch, -Indep) and Build-Conflicts(-Arch, -Indep) reduced for the
architecture and build profiles as dpkg does (kronos.graph.relations), with the known rewrites and
under-stated dependencies of plan.toml applied, plus build-essential and the target's Essential
packages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.deb822 import Packages, PkgRelation

from ..graph import relations
from ..graph.relations import Group
from .rules import Rewrite, Understated

CONFLICT_FIELDS = ("Build-Conflicts", "Build-Conflicts-Arch", "Build-Conflicts-Indep")
ALWAYS = "build-essential"


def essential(paths: Iterable[Path]) -> list[str]:
    """Names of the Essential packages in the given Packages files (dpkg keeps them installed)."""
    found: set[str] = set()
    for path in paths:
        with path.open("rb") as f:
            for stanza in Packages.iter_paragraphs(f, fields=["Package", "Essential"], use_apt_pkg=False):
                if str(stanza.get("Essential", "")).strip() == "yes":
                    found.add(str(stanza["Package"]))
    return sorted(found)


@dataclass(frozen=True)
class BuildNeeds:
    """What building one source installs: its reduced build relations as a pseudo package's fields."""

    depends: str
    conflicts: str
    rewrites: tuple[str, ...]  # "debhelper-compat (= 14) -> debhelper-compat (= 13)" for each applied


def _rewrite(groups: list[Group], rewrites: Sequence[Rewrite], applied: list[str]) -> list[Group]:
    out = []
    for group in groups:
        new = []
        for rel in group:
            for rw in rewrites:
                if relations.render(rel) == relations.render(relations.parse(rw.relation)[0][0]):
                    rel = relations.parse(rw.replace)[0][0]
                    applied.append(f"{rw.relation} -> {rw.replace}")
                    break
            new.append(rel)
        out.append(new)
    return out


def build_needs(fields: Mapping[str, Any], source: str, arch: str, profiles: Sequence[str],
                rewrites: Sequence[Rewrite], understated: Sequence[Understated],
                always: Sequence[str] = ()) -> BuildNeeds:
    """always: packages every build environment has (the target's Essential ones)."""
    applied: list[str] = []
    depends: list[Group] = [[{"name": name, "version": None, "arch": None, "archqual": None, "restrictions": None}]
                            for name in (ALWAYS, *always)]
    for field in relations.BUILD_FIELDS:
        groups = relations.reduce(relations.parse(str(fields.get(field, ""))), arch, profiles)
        # a native build: `p:native` is p of the build architecture, which is the host's (dpkg)
        groups = [[{**rel, "archqual": None} if rel.get("archqual") == "native" else rel for rel in group]
                  for group in groups]
        depends += _rewrite(groups, rewrites, applied)
    for extra in understated:
        if extra.source == source:
            depends += relations.parse(extra.add)
            applied.append(f"+ {extra.add}")
    conflicts: list[Group] = []
    for field in CONFLICT_FIELDS:
        conflicts += relations.reduce(relations.parse(str(fields.get(field, ""))), arch, profiles)
    return BuildNeeds(_render(depends), _render(conflicts), tuple(applied))


def rewrite_text(text: str, target: str, rewrites: Sequence[Rewrite]) -> str:
    """A relation field with the rewrites for target applied, restrictions kept (as a patch does)."""
    groups = relations.parse(text)
    for group in groups:
        for n, rel in enumerate(group):
            for rw in rewrites:
                if rw.applies(target) and relations.render(rel) == relations.render(relations.parse(rw.relation)[0][0]):
                    new = relations.parse(rw.replace)[0][0]
                    group[n] = {**rel, "name": new["name"], "version": new.get("version")}
    out: str = PkgRelation.str(groups)  # type: ignore[arg-type]  # python-debian's own dicts
    return out


def _render(groups: list[Group]) -> str:
    return ", ".join(" | ".join(relations.render(rel) for rel in group) for group in groups)


def pseudo_stanza(name: str, arch: str, depends: str, conflicts: str = "") -> str:
    """A Packages stanza for the solver: installing it installs what depends lists."""
    lines = [f"Package: {name}", "Version: 0", f"Architecture: {arch}"]
    if depends:
        lines.append(f"Depends: {depends}")
    if conflicts:
        lines.append(f"Conflicts: {conflicts}")
    stanza = Packages("\n".join(lines) + "\n")
    text: str = stanza.dump()
    return text
