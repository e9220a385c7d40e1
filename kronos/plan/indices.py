"""The indices `kronos plan` reads, through the signed chain the builds use (InRelease -> Packages/
Sources, cached by checksum): the target's Packages and Sources (suite and pockets), and each
`--from` suite's Sources and Packages, the latter modelled as rebuilt on the target (cached under
<cache>/plan/, keyed by the indices' checksums and the model)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from debian.deb822 import Sources
from debian.debian_support import Version

from ..archive import indices
from ..archive.access import Archives
from ..archive.release import SignedRelease
from ..cache import atomic_path, sha256_file
from ..config import Archive, Settings, Target
from ..keys import content_key
from ..log import step
from . import model, rebuilt
from .rules import Model
from .solver import Repo

TARGET_PRIORITY = 100
MODEL_FORMAT = 5  # bump when rebuilt.rebuild_packages writes something else for the same inputs
FROM_PRIORITY = 50  # the first --from suite; each later one 1 less
OURS = "recipes"  # the repo of the recipes' binaries


@dataclass(frozen=True)
class Index:
    kind: str  # "Packages" or "Sources"
    sha256: str
    path: Path  # uncompressed


@dataclass(frozen=True)
class SourceEntry:
    """One source package of a suite's Sources."""

    name: str
    version: str
    suite: str
    mirror: str
    stanza: Any  # the Sources stanza (python-debian)
    listing: str = ""  # the sha256 of the Sources index that lists it


@dataclass(frozen=True)
class Suite:
    name: str
    mirror: str
    packages: tuple[Index, ...]
    sources: tuple[Index, ...]

    @functools.cache  # noqa: B019  # a Suite lives for one run
    def source(self, name: str) -> SourceEntry | None:
        found = [(Sources(chunk), index.sha256)
                 for index in self.sources for chunk in by_name(index.path).get(name, ())]
        if not found:
            return None
        best, listing = max(found, key=lambda s: Version(s[0]["Version"]))
        return SourceEntry(name, str(best["Version"]), self.name, self.mirror, best, listing)


@functools.cache
def by_name(path: Path) -> dict[str, list[bytes]]:
    """The stanzas of an uncompressed index by their Package field, read once per run."""
    out: dict[str, list[bytes]] = {}
    for chunk in path.read_bytes().split(b"\n\n"):
        chunk = chunk.strip(b"\n")
        if not chunk.startswith(b"Package: "):
            continue
        name = chunk[len(b"Package: "):chunk.find(b"\n") if b"\n" in chunk else None].strip().decode()
        out.setdefault(name, []).append(chunk)
    return out


def _indices(archives: Archives, release: SignedRelease, components: Sequence[str], arch: str) -> tuple[
        tuple[Index, ...], tuple[Index, ...]]:
    out: dict[str, list[Index]] = {"Packages": [], "Sources": []}
    for component in components:
        for kind, stem in (("Packages", f"{component}/binary-{arch}/Packages"),
                           ("Sources", f"{component}/source/Sources")):
            entry = next((e for e in (release.entry(stem + x) for x in (".xz", ".gz", "")) if e), None)
            if entry is None:
                continue
            path, ext = release.index(archives.cache, stem)
            out[kind].append(Index(kind, entry[0], indices.plain(path, ext)))
    return tuple(out["Packages"]), tuple(out["Sources"])


def suite(archives: Archives, archive: Archive, name: str, components: Sequence[str], arch: str) -> Suite:
    release = archives.release(archive, name)
    packages, sources = _indices(archives, release, components, arch)
    return Suite(name, release.mirror, packages, sources)


class PlanIndices:
    """The target's suites and the --from suites, with the solver's repos made from them. The model's
    shared libraries are the target suite's and pockets'."""

    def __init__(self, cache_root: Path, target: Target, arch: str, own: Sequence[Suite], froms: Sequence[Suite],
                 rules_model: Model, extra: Sequence[Suite] = (), ours: Path | None = None) -> None:
        self.cache_root = cache_root
        self.target = target
        self._arch = arch
        self.own = list(own)  # the target's suite and pockets: its sources and binaries
        self.extra = list(extra)  # the target's extra_suites: binaries its builds may install
        self.ours = ours  # the binaries the project's recipes build for the target (--with-recipes)
        self.froms = list(froms)
        self.model = rules_model

    @property
    def arch(self) -> str:
        return self._arch

    @cached_property
    def _target(self) -> rebuilt.Suite:
        """The target's side of the rebuilt-binary model: its suite's and pockets' Packages."""
        return rebuilt.read_suite([i.path for s in self.own for i in s.packages], self.model)

    @functools.cache  # noqa: B019  # PlanIndices lives for one run
    def rebuild(self, files: tuple[Path, ...]) -> rebuilt.Rebuild:
        """The model for binaries of the suite whose Packages files are files."""
        return rebuilt.Rebuild(self.model, rebuilt.read_suite(files, self.model), self._target)

    def _model_key(self) -> list[object]:
        m = self.model
        return [MODEL_FORMAT, [i.sha256 for s in self.own for i in s.packages], [p.pattern for p in m.drop],
                m.library_sections, m.compiler_sources, [p.pattern for p in m.regenerated], m.abi_suffixes,
                m.generated_sections]

    @cached_property
    def essential(self) -> list[str]:
        """The target suite's Essential packages (cached by its Packages indices)."""
        key = content_key(["essential", [i.sha256 for i in self.own[0].packages]])
        path = self.cache_root / "plan" / f"{key}.essential"
        if path.exists():
            return path.read_text().split()
        found = model.essential([i.path for i in self.own[0].packages])
        with atomic_path(path, sync=False) as tmp:
            tmp.write_text("\n".join(found) + "\n")
        return found

    def modelled(self, index: Index, suite: Sequence[Index] = ()) -> Path:
        """index's binaries as rebuilt on the target; suite: all the Packages indices of index's suite
        (its other components' libraries), index alone when empty."""
        whole = tuple(suite) or (index,)
        key = content_key([*self._model_key(), index.sha256, [i.sha256 for i in whole]])
        out = self.cache_root / "plan" / f"{key}.Packages"
        assumed = out.with_suffix(".assumed.json")
        if not (out.exists() and assumed.exists()):
            with step(f"modelling {index.path.name[:12]}… as rebuilt on {self.target.name}"):
                rebuilt.rebuild_packages(index.path, out, assumed, self.rebuild(tuple(i.path for i in whole)))
        return out

    @functools.cache  # noqa: B019  # PlanIndices lives for one run
    def _assumed(self, suite_name: str) -> dict[str, list[str]]:
        s = next(s for s in self.froms if s.name == suite_name)
        out: dict[str, list[str]] = {}
        for index in s.packages:
            path = self.modelled(index, s.packages).with_suffix(".assumed.json")
            for source, said in json.loads(path.read_text()).items():
                out.setdefault(source, []).extend(said)
        return out

    def assumptions(self, suite_name: str, source: str) -> list[str]:
        """What the model could not decide from the indices for source's binaries in its --from suite
        (written beside the modelled indices)."""
        return sorted(set(self._assumed(suite_name).get(source, [])))

    def _solv(self, files: Sequence[Path]) -> Path:
        return self.cache_root / "plan" / f"{content_key([str(f) for f in files])}.solv"

    def repos(self) -> list[Repo]:
        """The target's suite, pockets and extra suites (one repo, named after the target), then each
        --from suite (modelled), preferred in that order."""
        (self.cache_root / "plan").mkdir(parents=True, exist_ok=True)
        own = tuple(i.path for s in (*self.own, *self.extra) for i in s.packages)
        out = [Repo(self.target.name, own, TARGET_PRIORITY, self._solv(own))]
        if self.ours is not None:  # rebuilt on the target like the members: modelled the same way
            out.append(Repo(OURS, (self.modelled(Index("Packages", sha256_file(self.ours), self.ours)),),
                            TARGET_PRIORITY - 1))
        for n, s in enumerate(self.froms):
            files = tuple(self.modelled(i, s.packages) for i in s.packages)
            out.append(Repo(s.name, files, FROM_PRIORITY - n, self._solv(files)))
        return out

    def from_source(self, suite_name: str, name: str) -> SourceEntry | None:
        return next(s for s in self.froms if s.name == suite_name).source(name)

    def first_source(self, name: str) -> SourceEntry | None:
        """The source in the first --from suite that has it."""
        for s in self.froms:
            found = s.source(name)
            if found is not None:
                return found
        return None

    def target_source(self, name: str) -> SourceEntry | None:
        found = [e for e in (s.source(name) for s in self.own) if e is not None]
        return max(found, key=lambda e: Version(e.version)) if found else None


def load_indices(settings: Settings, archives: Archives, target: Target, from_suites: Sequence[str],
                 rules_model: Model, ours: Path | None = None) -> PlanIndices:
    archive = settings.archive_of(target)
    arch = settings.architecture
    with step(f"indices of {target.name} and {', '.join(from_suites)}"):
        own = [suite(archives, archive, s, target.components, arch) for s in (target.suite, *target.pockets)]
        extra = [suite(archives, archive, s, target.components, arch) for s in target.extra_suites]
        froms = [suite(archives, archive, s, target.components, arch) for s in from_suites]
    return PlanIndices(archives.cache.root, target, arch, own, froms, rules_model, extra, ours)
