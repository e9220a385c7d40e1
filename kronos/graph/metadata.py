"""Where a recipe's binaries and build relations come from before (and after) it is built.

- Build relations: the `.dsc` of a Debian source (fetched alone through the signed chain) or of a
  given .dsc (`--dsc`), the own `debian/control` of a local tree without [packaging], or the
  `debian/control` rendered from the recipe's templates (into a scratch directory, with the
  upstream version as `version`). When the target's patch series changes a Debian source's
  debian/control (a build dependency, a new binary package), the source is fetched whole, unpacked
  and patched, and its patched debian/control gives the build relations and binaries instead.
- Binaries: the `.dsc`'s Package-List (Binary when it has none), or debian/control's stanzas.
- A binary's Depends/Pre-Depends/Provides (substvars are unknown before a build), first that applies:
  1. the built .deb in out/<target>/<recipe>/ (its control), once it has been built;
  2. the archive's Packages stanza of that binary built from the same source version (the recipe's
     source suite for Debian sources), else of the highest version in the target's suite and
     pockets;
  3. the literal relations of debian/control (authored packaging; `${...}` dropped).
- A binary's version: the built .deb's, else the source's archive/upstream version (the local
  revision is chosen later, at build time).
Derived metadata is cached under <cache>/graph/, keyed by the source's digest and the indices read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from debian.deb822 import Deb822, Dsc
from debian.debfile import DebFile
from debian.debian_support import Version

from ..archive import indices
from ..archive.access import Archives
from ..archive.release import SignedRelease
from ..build import scratch
from ..cache import Cache, atomic_path, sha256_file
from ..config import Settings, Target
from ..errors import NotServed, VerifyError
from ..keys import content_key
from ..packaging import patches, templates
from ..recipe import DebianSource, DscSource, LocalSource, Recipe, Upstream
from ..run import run
from ..sources import debian, tree
from ..sources import dsc as given_dsc
from .graph import Graph, SourceMeta, derive
from .relations import BUILD_FIELDS, Binary

FORMAT = 1  # bump when what is derived changes
CONTROL = "debian/control"


def _literal(value: str) -> str:
    """A relation field without its substvars (unknown before a build)."""
    return ", ".join(p.strip() for p in value.split(",") if p.strip() and "${" not in p)


def _binary(stanza: Any, version: str, architecture: str, origin: str) -> Binary:
    return Binary(str(stanza["Package"]), version, architecture, _literal(stanza.get("Provides", "")),
                  _literal(stanza.get("Depends", "")), _literal(stanza.get("Pre-Depends", "")), origin)


class MetadataReader:
    def __init__(self, settings: Settings, cache: Cache, archives: Archives) -> None:
        self.settings = settings
        self.cache = cache
        self.archives = archives

    def meta(self, recipe: Recipe, target: Target) -> SourceMeta:
        profiles = recipe.options_for(target.name).profiles
        src = recipe.source_for(target.name)
        if isinstance(src, DebianSource):
            doc = self._debian(src, target)
            family = self.settings.archive_of(target).family
            series = patches.series(self.settings.patches_dir, recipe.name, family, target.name)
            if any(CONTROL in patches.touched(p) for p in series):
                doc = self._patched(recipe, src, target, series, doc)
        elif isinstance(src, DscSource):
            doc = self._given(src, target)
        elif isinstance(src, LocalSource) and recipe.packaging is None:
            doc = self._own_tree(recipe, src, target)
        else:
            doc = self._authored(recipe, target)
        binaries = [Binary(**b) for b in doc["binaries"]]
        built = self._built(target, recipe)
        binaries = [built.get(b.package, b) for b in binaries]
        binaries += [b for name, b in sorted(built.items()) if name not in {x.package for x in binaries}]
        return SourceMeta(recipe.name, doc["source"], doc["version"], doc["fields"], tuple(binaries),
                          profiles, recipe.after, int(doc.get("size", 0)))

    def _built(self, target: Target, recipe: Recipe) -> dict[str, Binary]:
        out = {}
        for deb in sorted((self.settings.output_dir / target.name / recipe.name).glob("*.deb")):
            control = DebFile(str(deb)).debcontrol()
            out[control["Package"]] = _binary(control, control["Version"], control["Architecture"],
                                              f"built {deb.name}")
        return out

    def _cached(self, key: Any, derive: Any) -> dict[str, Any]:
        path = self.cache.root / "graph" / f"{content_key([FORMAT, key])}.json"
        if path.exists():
            doc: dict[str, Any] = json.loads(path.read_text())
            return doc
        doc = derive()
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        return doc

    def _releases(self, archive_name: str, suites: Iterable[str]) -> Iterator[SignedRelease]:
        archive = self.settings.archives[archive_name]
        for suite in suites:
            yield self.archives.release(archive, suite)

    def _index_ids(self, releases: list[SignedRelease], components: tuple[str, ...]) -> list[str]:
        arch = self.settings.architecture
        ids = []
        for release in releases:
            for component in components:
                stem = f"{component}/binary-{arch}/Packages"
                found = next((e for e in (release.entry(stem + x) for x in (".xz", ".gz", "")) if e), None)
                ids.append(found[0] if found else "")
        return ids

    def _stanzas(self, releases: list[SignedRelease], components: tuple[str, ...], name: str) -> list[Any]:
        arch = self.settings.architecture
        out = []
        for release in releases:
            for component in components:
                stem = f"{component}/binary-{arch}/Packages"
                if not any(release.entry(stem + x) for x in (".xz", ".gz", "")):
                    continue
                path, ext = release.index(self.cache, stem)
                out += indices.packages(indices.plain(path, ext), name)
        return out

    def _target_releases(self, target: Target) -> list[SignedRelease]:
        return list(self._releases(target.archive, (target.suite,)))

    def _debian(self, src: DebianSource, target: Target) -> dict[str, Any]:
        archive = self.settings.archives[src.archive]
        listing, stanza = debian.find(self.archives, archive, src.suite, src.package, src.version, src.components)
        mirror = listing.mirror
        version = str(stanza["Version"])
        listed: Any = stanza.get("Checksums-Sha256") or []
        dsc_item = next((i for i in listed if i["name"].endswith(".dsc")), None)
        if dsc_item is None:
            raise VerifyError(f"{src.package} {version} ({archive.name} {src.suite}): the Sources entry lists no .dsc")
        own = list(self._releases(src.archive, (src.suite,)))
        theirs = self._target_releases(target)
        key = {"dsc": dsc_item["sha256"], "own": self._index_ids(own, src.components),
               "target": self._index_ids(theirs, target.components), "arch": self.settings.architecture}

        def derive() -> dict[str, Any]:
            what = f"{src.package} {version} ({archive.name} {src.suite}): file {dsc_item['name']}"
            try:
                path = self.cache.fetch(f"{mirror}/{stanza['Directory']}/{dsc_item['name']}", dsc_item["sha256"],
                                        int(dsc_item["size"]), what)
                dsc = Dsc(path.read_bytes())
            except NotServed:  # as the build does (sources/debian.py): the .dsc made from the signed stanza
                dsc = Dsc(debian.made_from_stanza(stanza, str(dsc_item["name"])))
            listed = [(p["package"], p.get("_other", "")) for p in dsc.get("Package-List", [])
                      if p.get("package-type", "deb") == "deb"]
            if not listed:
                listed = [(b.strip(), "arch=" + str(dsc.get("Architecture", "any")))
                          for b in str(dsc.get("Binary", "")).split(",") if b.strip()]
            binaries = []
            for name, other in listed:
                arch = next((w[5:].replace(",", " ") for w in other.split() if w.startswith("arch=")), "any")
                same = [s for s in self._stanzas(own, src.components, name) if _built_from(s, src.package, version)]
                found = same or self._stanzas(theirs, target.components, name)
                if found:
                    best = max(found, key=lambda s: Version(s["Version"]))
                    origin = f"{best['Version']} in the archive's Packages"
                    binaries.append(vars(_binary(best, version, arch, origin)))
                else:
                    binaries.append(vars(Binary(name, version, arch, origin="the .dsc (no run-time relations)")))
            fields = {f: str(dsc[f]) for f in BUILD_FIELDS if dsc.get(f)}
            return {"source": src.package, "version": version, "fields": fields, "binaries": binaries}

        size = sum(int(item["size"]) for item in listed)  # the index's, read anew: not in the cached doc
        return {**self._cached(key, derive), "size": size}

    def _patched(self, recipe: Recipe, src: DebianSource, target: Target, series: list[patches.Patch],
                 doc: dict[str, Any]) -> dict[str, Any]:
        """doc as the patch series changes it: the build relations and binaries of the patched
        debian/control (binaries it adds have its literal relations; the others keep doc's)."""
        key = {"unpatched": content_key(doc),
               "series": [[p.layer, p.path.name, p.strip, sha256_file(p.path)] for p in series]}

        def derive() -> dict[str, Any]:
            with scratch(self.settings.cache_dir, f"graph-{recipe.name}-") as work:
                got = debian.fetch(self.archives, self.settings.archives[src.archive], src.suite, src.package,
                                   doc["version"], src.components, work / "fetched")
                tree = work / "tree"
                run(["dpkg-source", "--no-check", "-x", str(got.dsc), str(tree)], cwd=work)
                patches.apply(tree, series, recipe.name, target.name)
                with (tree / CONTROL).open() as f:
                    paragraphs = list(Deb822.iter_paragraphs(f))
            source, stanzas = paragraphs[0], paragraphs[1:]
            known = {b["package"]: b for b in doc["binaries"]}
            binaries = [known.get(str(st["Package"])) or vars(_binary(
                st, doc["version"], str(st.get("Architecture", "any")), "the patched debian/control"))
                for st in stanzas]
            fields = {f: str(source[f]) for f in BUILD_FIELDS if source.get(f)}
            return {**doc, "fields": fields, "binaries": binaries}

        return self._cached(key, derive)

    def _given(self, src: DscSource, target: Target) -> dict[str, Any]:
        """A .dsc handed over: its build relations and Package-List (Binary when it has none)."""
        dsc = given_dsc.read(src.path)
        version = str(dsc["Version"])
        listed = [(p["package"], next((w[5:].replace(",", " ") for w in p.get("_other", "").split()
                                       if w.startswith("arch=")), "any"))
                  for p in dsc.get("Package-List", []) if p.get("package-type", "deb") == "deb"]
        if not listed:
            listed = [(b.strip(), str(dsc.get("Architecture", "any")))
                      for b in str(dsc.get("Binary", "")).split(",") if b.strip()]
        stanzas = [Deb822({"Package": name, "Architecture": arch}) for name, arch in listed]
        fields = {f: str(dsc[f]) for f in BUILD_FIELDS if dsc.get(f)}
        return self._from_control(str(dsc["Source"]), version, fields, stanzas, target, sha256_file(src.path))

    def _own_tree(self, recipe: Recipe, src: LocalSource, target: Target) -> dict[str, Any]:
        """A tree with its own debian/: its debian/control and the version of its debian/changelog."""
        with scratch(self.settings.cache_dir, f"graph-{recipe.name}-") as work:
            tree.unpack(src.path, work / "tree")
            source, version = tree.read_changelog(work / "tree", src.path)
            paragraphs = tree.control(work / "tree")
            digest = content_key([sha256_file(work / "tree" / CONTROL), source, version])
        fields = {f: _literal(str(paragraphs[0][f])) for f in BUILD_FIELDS if paragraphs[0].get(f)}
        return self._from_control(source, version, fields, paragraphs[1:], target, digest)

    def _from_control(self, source: str, version: str, fields: dict[str, str], stanzas: list[Deb822],
                      target: Target, digest: str) -> dict[str, Any]:
        """The doc of a source from its binary stanzas: each binary's relations from the target's
        Packages (the highest version) when it has it, else the stanza's literal ones."""
        releases = self._target_releases(target)
        key = {"own": digest, "fields": fields, "target": [target.name, self._index_ids(releases, target.components)],
               "arch": self.settings.architecture}

        def derive() -> dict[str, Any]:
            binaries = self._binaries(releases, target, stanzas, version)
            return {"source": source, "version": version, "fields": fields, "binaries": binaries}

        return self._cached(key, derive)

    def _binaries(self, releases: list[SignedRelease], target: Target, stanzas: list[Deb822],
                  version: str) -> list[dict[str, Any]]:
        """Each binary of debian/control: its relations from the target's Packages (the highest version)
        when the target has it, else the stanza's literal ones."""
        binaries = []
        for stanza in stanzas:
            arch = str(stanza.get("Architecture", "any"))
            found = self._stanzas(releases, target.components, str(stanza["Package"]))
            if found:
                best = max(found, key=lambda s: Version(s["Version"]))
                binaries.append(vars(_binary(best, version, arch, f"{best['Version']} in the archive's Packages")))
            else:
                binaries.append(vars(_binary(stanza, version, arch, "debian/control (substvars unknown)")))
        return binaries

    def _authored(self, recipe: Recipe, target: Target) -> dict[str, Any]:
        src = recipe.source_for(target.name)
        assert recipe.packaging is not None and isinstance(src, Upstream)
        version = src.version
        assert version is not None  # load_recipe: required with [packaging]
        releases = self._target_releases(target)
        key = {"templates": {p.relative_to(recipe.packaging.templates).as_posix(): sha256_file(p)
                             for p in sorted(recipe.packaging.templates.rglob("*")) if p.is_file()},
               "recipe": [recipe.name, recipe.packaging.source_name, version, str(self.settings.maintainer)],
               "target": [target.name, self._index_ids(releases, target.components)],
               "arch": self.settings.architecture}
        return self._cached(key, lambda: self._render(recipe, target, version, releases))

    def _render(self, recipe: Recipe, target: Target, version: str,
                releases: list[SignedRelease]) -> dict[str, Any]:
        assert recipe.packaging is not None
        with scratch(self.settings.cache_dir, f"graph-{recipe.name}-") as work:
            templates.render(recipe.packaging.templates, work / "debian", {
                "source_name": recipe.packaging.source_name, "upstream_version": version, "version": version,
                "maintainer": self.settings.maintainer, "target": target,
                "family": self.settings.archive_of(target).family, "recipe": recipe,
            })
            with (work / "debian" / "control").open() as f:
                paragraphs = list(Deb822.iter_paragraphs(f))
        source, stanzas = paragraphs[0], paragraphs[1:]
        binaries = self._binaries(releases, target, stanzas, version)
        fields = {f: _literal(str(source[f])) for f in BUILD_FIELDS if source.get(f)}
        return {"source": recipe.packaging.source_name, "version": version, "fields": fields, "binaries": binaries}


def target_graph(reader: MetadataReader, recipes: Mapping[str, Recipe], target: Target) -> Graph:
    """The graph of the recipes built for target (a lone recipe has no siblings: nothing to read)."""
    mine = [r for r in recipes.values() if target.name in r.targets]
    if len(mine) == 1:
        return Graph(target.name, [mine[0].name])
    metas = {r.name: reader.meta(r, target) for r in mine}
    return derive(target.name, reader.settings.architecture, metas)


def _built_from(stanza: Any, source: str, version: str) -> bool:
    """Whether a Packages stanza was built from source at version (binNMUs included)."""
    given = str(stanza.get("Source", source)).split()
    name = given[0]
    ver = given[1].strip("()") if len(given) > 1 else str(stanza["Version"])
    return name == source and ver == version


def graphs(settings: Settings, target_names: Sequence[str] | None) -> list[Graph]:
    """The graph of each target (default: the default targets), for `kronos graph`."""
    from ..recipe import load_recipes

    cache = Cache(settings.cache_dir)
    reader = MetadataReader(settings, cache, Archives(settings, cache))
    recipes = load_recipes(settings)
    targets = [settings.target(n) for n in (target_names or settings.default_targets)]
    return [target_graph(reader, recipes, t) for t in targets if any(t.name in r.targets for r in recipes.values())]
