"""Matching a source's build relations against the binaries sibling recipes produce.

Pure functions over parsed relations (python-debian's PkgRelation) and binary descriptions; no
I/O, so `kronos graph`, `kronos build` and the coming `plan` share one rule:

- Build-Depends (+ -Arch and -Indep: kronos builds both) are reduced for the target's
  architecture and the recipe's build profiles as dpkg does (`[amd64]`, `[!i386]`, `<!nocheck>`).
- An alternative group `a | b` is satisfied by the first alternative, in the order written, that
  some sibling satisfies; the edge goes to that sibling (the first sibling by name when several do).
- A sibling satisfies `p (op v)` with a binary named p whose version satisfies the relation, or a
  binary that Provides p: a versioned Provides (`p (= v)`) satisfies versioned and unversioned
  relations, an unversioned Provides only unversioned ones (apt's rule).
- planex's rule: a build dependency must be installable, so the run-time Depends/Pre-Depends of a
  matched binary on other siblings are edges of the building recipe too (transitively).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from debian.deb822 import PkgRelation
from debian.debian_support import Version

Relation = dict[str, Any]  # one alternative, as PkgRelation.parse_relations gives it
Group = list[Relation]  # alternatives, `a | b`

BUILD_FIELDS = ("Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep")
RUN_FIELDS = ("Pre-Depends", "Depends")


@dataclass(frozen=True)
class Binary:
    """A binary package a recipe produces for a target, as far as it is known before building."""

    package: str
    version: str
    architecture: str  # "all", "any", a list of names or wildcards, or a concrete architecture
    provides: str = ""
    depends: str = ""  # Depends
    pre_depends: str = ""
    origin: str = ""  # where Depends/Provides came from (a built .deb, an archive stanza, debian/control)


@dataclass(frozen=True)
class Match:
    """A sibling recipe that satisfies a relation, and the binary that does."""

    sibling: str
    binary: str
    why: str  # e.g. "Build-Depends: quickjs (>= 2024) via binary quickjs"


def parse(text: str) -> list[Group]:
    """A relation field; empty entries (a trailing comma, as dpkg allows) are dropped."""
    text = ", ".join(part.strip() for part in (text or "").split(",") if part.strip())
    if not text:
        return []
    parsed: Any = PkgRelation.parse_relations(text)
    return [list(g) for g in parsed]


def render(rel: Relation) -> str:
    """One alternative as written (without restrictions)."""
    out = str(rel["name"]) + (f":{rel['archqual']}" if rel.get("archqual") else "")
    if rel.get("version"):
        op, ver = rel["version"]
        out += f" ({op} {ver})"
    return out


def arch_matches(term: str, arch: str) -> bool:
    """A Debian architecture name or wildcard against a concrete (Linux) architecture."""
    return term in (arch, "any", "linux-any", f"any-{arch}", f"linux-{arch}")


def arch_enabled(rel: Relation, arch: str) -> bool:
    restrictions = rel.get("arch")
    if not restrictions:
        return True
    if all(not r.enabled for r in restrictions):  # [!a !b]: anything but those
        return not any(arch_matches(r.arch, arch) for r in restrictions)
    return any(r.enabled and arch_matches(r.arch, arch) for r in restrictions)


def profiles_enabled(rel: Relation, profiles: Sequence[str]) -> bool:
    """`<a !b> <c>`: any one formula whose every term holds (dpkg's restriction formulas)."""
    formulas = rel.get("restrictions")
    if not formulas:
        return True
    active = set(profiles)
    return any(all((term.profile in active) == term.enabled for term in formula) for formula in formulas)


def reduce(groups: Sequence[Group], arch: str, profiles: Sequence[str]) -> list[Group]:
    """The groups that apply to arch and profiles, each with only the alternatives that do."""
    out = []
    for group in groups:
        kept = [rel for rel in group if arch_enabled(rel, arch) and profiles_enabled(rel, profiles)]
        if kept:
            out.append(kept)
    return out


def builds_on(binary: Binary, arch: str) -> bool:
    terms = binary.architecture.split()
    return any(t == "all" or arch_matches(t, arch) for t in terms)


def version_satisfies(have: str, op: str, want: str) -> bool:
    a, b = Version(have), Version(want)
    return {"<<": a < b, "<=": a <= b, "=": a == b, ">=": a >= b, ">>": a > b}[op]


def satisfies(binary: Binary, rel: Relation) -> str | None:
    """How binary satisfies rel ("binary p" or "p provides q (= v)"), or None."""
    name, wanted = rel["name"], rel.get("version")
    if binary.package == name:
        if wanted is None or version_satisfies(binary.version, wanted[0], wanted[1]):
            return f"binary {binary.package}"
        return None
    for group in parse(binary.provides):
        for prov in group:
            if prov["name"] != name:
                continue
            given = prov.get("version")
            if wanted is None:
                return f"binary {binary.package} (Provides: {render(prov)})"
            if given is not None and given[0] == "=" and version_satisfies(given[1], wanted[0], wanted[1]):
                return f"binary {binary.package} (Provides: {render(prov)})"
    return None


def _first_match(group: Group, siblings: Mapping[str, Sequence[Binary]],
                 exclude: str) -> tuple[str, Binary, Relation, str] | None:
    for rel in group:
        for sibling in sorted(siblings):
            if sibling == exclude:
                continue
            for binary in siblings[sibling]:
                how = satisfies(binary, rel)
                if how is not None:
                    return sibling, binary, rel, how
    return None


def build_matches(fields: Mapping[str, str], me: str, siblings: Mapping[str, Sequence[Binary]],
                  arch: str, profiles: Sequence[str]) -> list[Match]:
    """The siblings recipe `me` builds against: its build relations (fields: Build-Depends...),
    then the run-time relations of each matched binary on other siblings (a build dependency must be
    installable). One Match per sibling: the first relation that made it."""
    found: dict[str, Match] = {}
    todo: list[tuple[Binary, str]] = []
    for field in BUILD_FIELDS:
        for group in reduce(parse(fields.get(field, "")), arch, profiles):
            hit = _first_match(group, siblings, me)
            if hit is None:
                continue
            sibling, binary, rel, how = hit
            if sibling not in found:
                found[sibling] = Match(sibling, binary.package, f"{field}: {render(rel)} via {how}")
            todo.append((binary, sibling))
    seen: set[str] = set()
    while todo:
        binary, owner = todo.pop(0)
        if binary.package in seen:
            continue
        seen.add(binary.package)
        for sibling, dep, why in run_matches(binary, owner, siblings, arch):
            if sibling != me and sibling not in found:
                found[sibling] = Match(sibling, dep.package, f"{why}, needed to install {binary.package}")
            if sibling != me:
                todo.append((dep, sibling))
    return [found[name] for name in sorted(found)]


def run_matches(binary: Binary, owner: str, siblings: Mapping[str, Sequence[Binary]],
                arch: str) -> list[tuple[str, Binary, str]]:
    """The siblings (other than owner) whose binaries satisfy binary's Pre-Depends/Depends."""
    out = []
    for field, text in (("Pre-Depends", binary.pre_depends), ("Depends", binary.depends)):
        for group in reduce(parse(text), arch, ()):
            hit = _first_match(group, siblings, owner)
            if hit is not None:
                sibling, dep, rel, how = hit
                out.append((sibling, dep, f"{field} of {binary.package}: {render(rel)} via {how}"))
    return out


def own_run_matches(me: str, binaries: Sequence[Binary], siblings: Mapping[str, Sequence[Binary]],
                    arch: str) -> list[Match]:
    """The siblings that recipe `me`'s own binaries need at run time: not needed to build it, but
    ordered before it so that what it builds is installable from the outputs once it is built."""
    found: dict[str, Match] = {}
    for binary in binaries:
        for sibling, dep, why in run_matches(binary, me, siblings, arch):
            found.setdefault(sibling, Match(sibling, dep.package, why))
    return [found[name] for name in sorted(found)]
