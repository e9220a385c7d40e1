"""A `--from` suite's binary as rebuilt on the target: the relations Debian's tools regenerate at build
time follow the target, the hand-written ones stay.

For each relation of a binary's Pre-Depends and Depends, in this order (plan.toml's [plan.model]):
1. An OCaml ABI virtual package or the suite's compiler (`drop`): the unversioned package that provides
   it in the same suite (the rebuild depends on that package under a new ABI name), or nothing when
   only the compiler's own sources (`compiler_sources`) provide it.
2. A relation dh_python3, dh_perl, dh-r and the like generate from the build environment
   (`regenerated`: python3's version bounds, python3.X, perlapi-X, r-api-X, ...): the one name of the
   target (a package or a virtual package) that the same pattern matches, unversioned.
3. A shared-library package (a package of `library_sections`) of another source: the target's library
   package of the same source that dpkg-shlibdeps would name, unversioned (the target's shlibs and
   symbols files give versions the target satisfies). Which one: the same SONAME by Debian's name rule
   (the name without an ABI transition suffix of `abi_suffixes`, e.g. trixie's t64: libssl3t64 ->
   libssl3), else the same library at the target's SONAME (the name without its SONAME version:
   libgsl28 -> libgsl27), else the source's only library package on both sides, else the library
   of the same SONAME that another source builds on the target (libminizip1t64 -> libminizip1).
4. A versioned relation of a binary of a `generated_sections` section (java) on a package of the same
   section loses its version: maven-debian-helper writes the versions the build saw.
5. Anything else (hand-written relations, a library of the binary's own source) stays as it is.
What 2 and 3 cannot decide from the indices stays as it is and is said (`Modelled.assumptions`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from debian.deb822 import Packages, PkgRelation

from ..cache import atomic_path
from ..graph import relations
from ..graph.relations import Group, Relation
from .rules import Model

RUN_FIELDS = ("Pre-Depends", "Depends")
_SONAME_VERSION = re.compile(r"-?[0-9][0-9.]*$")


@dataclass(frozen=True)
class Suite:
    """What the model needs to know of one side's Packages: its library packages by source, and every
    name it has (packages and the virtual packages they provide)."""

    libraries: Mapping[str, str] = field(default_factory=dict)  # library package -> source
    names: frozenset[str] = frozenset()
    provided: Mapping[str, str] = field(default_factory=dict)  # virtual -> a provider (the compiler's left out)
    sections: Mapping[str, str] = field(default_factory=dict)  # package -> its section (without the component)

    def libraries_of(self, source: str) -> list[str]:
        return sorted(n for n, s in self.libraries.items() if s == source)


def read_suite(paths: Iterable[Path], model: Model) -> Suite:
    """One pass over Packages files."""
    sections = set(model.library_sections)
    compiler = set(model.compiler_sources)
    libraries: dict[str, str] = {}
    names: set[str] = set()
    provided: dict[str, str] = {}
    sectioned: dict[str, str] = {}
    for path in paths:
        with path.open("rb") as f:
            for stanza in Packages.iter_paragraphs(f, fields=["Package", "Source", "Section", "Provides"],
                                                   use_apt_pkg=False):
                name = str(stanza["Package"])
                source = str(stanza.get("Source", name)).split()[0]
                names.add(name)
                sectioned[name] = str(stanza.get("Section", "")).rsplit("/", 1)[-1]
                if sectioned[name] in sections:
                    libraries[name] = source
                for group in relations.parse(str(stanza.get("Provides", ""))):
                    for rel in group:
                        names.add(rel["name"])
                        if source not in compiler:
                            provided.setdefault(rel["name"], name)
    return Suite(libraries, frozenset(names), provided, sectioned)


@dataclass(frozen=True)
class Modelled:
    text: str  # the relations as rebuilt ("" when none is left)
    assumptions: tuple[str, ...] = ()


def _stem(name: str, suffixes: tuple[str, ...]) -> str:
    """The package name of the SONAME, without an ABI transition's suffix (libssl3t64 -> libssl3)."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix) + 3:
            return name[: -len(suffix)]
    return name


def _base(name: str, suffixes: tuple[str, ...]) -> str:
    """The library without its SONAME version (libgsl28 -> libgsl, libglib2.0-0t64 -> libglib2.0)."""
    return _SONAME_VERSION.sub("", _stem(name, suffixes))


def target_library(name: str, source: str, frm: Suite, target: Suite, suffixes: tuple[str, ...]) -> str | None:
    """The target's package of the library `name` (of `source` in the --from suite), or None."""
    theirs = target.libraries_of(source)
    for key in (_stem, _base):
        found = [q for q in theirs if key(q, suffixes) == key(name, suffixes)]
        if len(found) == 1:
            return found[0]
    if len(theirs) == 1 and len(frm.libraries_of(source)) == 1:
        return theirs[0]
    same = _stem(name, suffixes)  # the same SONAME built by another source on the target (libminizip1t64:
    if same in target.libraries:  # zlib's in trixie, minizip's libminizip1 in bookworm)
        return same
    return None


class Rebuild:
    """The model for one --from suite (frm) and the target."""

    def __init__(self, model: Model, frm: Suite, target: Suite) -> None:
        self.model = model
        self.frm = frm
        self.target = target
        self._like: dict[str, str | None] = {}

    def regenerated(self, name: str) -> tuple[bool, str | None]:
        """(whether a `regenerated` pattern matches name, the target's one name it matches or None)."""
        pattern = next((p for p in self.model.regenerated if p.fullmatch(name)), None)
        if pattern is None:
            return False, None
        if name in self.target.names:
            return True, name
        if name not in self._like:
            found = sorted(n for n in self.target.names if pattern.fullmatch(n))
            self._like[name] = found[0] if len(found) == 1 else None
        return True, self._like[name]

    def relations(self, text: str, source: str, section: str = "") -> Modelled:
        """text (a binary's Depends or Pre-Depends, the binary built by `source`, of `section`) as rebuilt
        on the target."""
        groups: list[Group] = []
        assumed: list[str] = []
        for group in relations.parse(text):
            kept = []
            for rel in group:
                new, why = self._relation(rel, source, section)
                if why:
                    assumed.append(why)
                if new is not None:
                    kept.append(new)
            if kept:
                groups.append(kept)
        rendered: str = PkgRelation.str(groups)  # type: ignore[arg-type]  # python-debian's own dicts
        return Modelled(rendered, tuple(assumed))

    def _relation(self, rel: Relation, source: str, section: str) -> tuple[Relation | None, str]:
        """The relation as rebuilt (None: gone), and the assumption made ("" when none)."""
        name = rel["name"]
        if any(p.fullmatch(name) for p in self.model.drop):
            provider = self.frm.provided.get(name)
            return ({**rel, "name": provider, "version": None} if provider is not None else None), ""
        matched, theirs = self.regenerated(name)
        if matched:
            if theirs is None:
                return rel, f"{relations.render(rel)} kept: the target has no single name like it"
            return {**rel, "name": theirs, "version": None}, ""
        lib_source = self.frm.libraries.get(name)
        if lib_source == source:  # the binary's own library, rebuilt with it
            return rel, ""
        if name in self.target.libraries:
            return {**rel, "version": None}, ""
        if lib_source is None:
            if rel.get("version") and section in self.model.generated_sections and \
                    self.frm.sections.get(name) == section:
                return {**rel, "version": None}, ""  # maven-debian-helper's versions: the build's
            return rel, ""
        theirs = target_library(name, lib_source, self.frm, self.target, self.model.abi_suffixes)
        if theirs is None:
            return rel, f"{relations.render(rel)} kept: {lib_source} has no library package like it on the target"
        return {**rel, "name": theirs, "version": None}, ""

    def stanza(self, stanza: Packages) -> list[str]:
        """Rewrite stanza's run-time relations in place as rebuilt on the target; the assumptions made."""
        name = str(stanza["Package"])
        source = str(stanza.get("Source", name)).split()[0]
        section = str(stanza.get("Section", "")).rsplit("/", 1)[-1]
        assumed: list[str] = []
        for f in RUN_FIELDS:
            if f in stanza:
                got = self.relations(str(stanza[f]), source, section)
                assumed += [f"{name} {f}: {a}" for a in got.assumptions]
                if got.text:
                    stanza[f] = got.text
                else:
                    del stanza[f]
        return assumed


def rebuild_packages(src: Path, dest: Path, assumed: Path, rebuild: Rebuild) -> None:
    """Write src's stanzas with their run-time relations as rebuilt on the target to dest, and the
    assumptions made to `assumed` (JSON: source -> its binaries' assumptions)."""
    found: dict[str, list[str]] = {}
    with src.open("rb") as f, atomic_path(dest, sync=False) as tmp, tmp.open("wb") as out:
        for stanza in Packages.iter_paragraphs(f, use_apt_pkg=False):
            said = rebuild.stanza(stanza)
            if said:
                found.setdefault(str(stanza.get("Source", stanza["Package"])).split()[0], []).extend(said)
            out.write(stanza.dump().encode() + b"\n")
    with atomic_path(assumed, sync=False) as tmp:
        tmp.write_text(json.dumps(found, sort_keys=True))
