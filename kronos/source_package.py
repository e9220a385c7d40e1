"""Stage 2: from a recipe to a source package for one target (fetch, render, patch, changelog)."""

from __future__ import annotations

import dataclasses
import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Dsc

from . import clock
from .archive.access import Archives
from .cache import Cache, sha256_file
from .config import Settings, Target
from .errors import BuildError
from .keys import content_key
from .ledger import Entry, Ledger
from .log import info
from .packaging import changelog, patches, templates, versions
from .recipe import DebianSource, DscSource, GitSource, LocalSource, PypiSource, Recipe, Upstream, UrlSource
from .run import run
from .sources import debian, dsc, git, local, pypi, tree, url

PACKAGING_FORMAT = 2  # bump when the way kronos prepares sources changes


@dataclass(frozen=True)
class Inputs:
    """What a source package for (recipe, target) is made of, before its version is chosen."""

    recipe: Recipe
    target: Target
    base_version: str  # upstream version (authored) or archive version (rebuild)
    source_name: str
    digests: dict[str, str]  # every input file by name -> sha256
    patches: list[patches.Patch]
    context: dict[str, object]  # every other input of the source package (see SourcePreparer.context)
    signature: str | None = None  # a given .dsc: what was checked of its signature (build.json)
    dsc_made_from: str | None = None  # an archive source whose .dsc was made from this index (build.json)

    def record(self, extra: dict[str, object]) -> dict[str, object]:
        """Every input of the build by name -> its digest (or, when short and telling, its value):
        what build.json records and `kronos why` compares. `extra` adds what the build stage
        knows (the image, the siblings, the container scripts). The content key is the key of
        this dict (see key()), so the record and the key can never disagree."""
        recipe = dataclasses.asdict(self.recipe)
        recipe["path"] = self.recipe.name
        if self.recipe.packaging is not None:
            recipe["packaging"]["templates"] = "debian"
        source = self.recipe.source_for(self.target.name)
        recipe["source"] = dataclasses.asdict(source)  # this target's ([source] or [source.targets.<t>])
        del recipe["target_sources"]  # the others' are not inputs of this target's build
        if isinstance(source, LocalSource):
            recipe["source"]["path"] = "local"
            if source.orig is None:
                del recipe["source"]["orig"]  # so recipes with [packaging] keep their keys
            else:
                recipe["source"]["orig"] = "orig"  # its digest is source/orig
        if isinstance(source, DscSource):
            recipe["source"] = {"kind": "dsc"}  # the .dsc and its files are source/<name>
        options = self.recipe.options_for(self.target.name)
        out: dict[str, object] = {"format": PACKAGING_FORMAT, "target": content_key(dataclasses.asdict(self.target))}
        out.update({f"recipe/{k}": content_key(v) for k, v in sorted(recipe.items())
                    if k not in ("build", "per_target")})
        out["build/profiles"] = " ".join(options.profiles)
        out["build/options"] = " ".join(options.options)
        out["build/env"] = content_key(list(options.env))
        if options.keep:  # absent when none, so recipes without kept files keep their keys
            out["build/keep"] = content_key([dataclasses.asdict(k) for k in options.keep])
        out.update(self.digests)
        for name, value in self.context.items():
            if name == "maintainer" and isinstance(value, dict):
                out[name] = f"{value.get('name')} <{value.get('email')}>"
            else:
                out[name] = value if isinstance(value, str) else content_key(value)
        out.update(extra)
        return out

    def key(self, extra: dict[str, object]) -> str:
        return content_key(self.record(extra))


@dataclass(frozen=True)
class Sibling:
    """A sibling a build is given: its content key and version (None: not built)."""

    name: str
    key: str | None
    version: str | None


BUILD_SCRIPTS = ("build.sh", "install-build-deps.sh")  # in containers/: a change rebuilds every package


def build_inputs(image_id: str, siblings: list[Sibling], containers_dir: Path) -> dict[str, object]:
    """The inputs of the build stage, for Inputs.record: the base image, each sibling's key and
    version (a sibling's key covers all of its own inputs, so a change anywhere below rebuilds
    its dependents), and the container scripts a build runs (not the gates' own)."""
    out: dict[str, object] = {"image": image_id}
    out.update({f"sibling/{s.name}": {"key": s.key, "version": s.version} for s in siblings})
    out.update({f"script/{name}": sha256_file(containers_dir / name) for name in BUILD_SCRIPTS})
    return out


@functools.cache
def host_dpkg_dev() -> str:
    """The version of the host's dpkg-dev (dpkg-source -b runs on the host)."""
    return run(["dpkg-query", "-W", "-f=${Version}", "dpkg-dev"], merge_stderr=False).stdout.decode().strip()


def _tree_digests(root: Path, label: str) -> dict[str, str]:
    return {f"{label}/{p.relative_to(root).as_posix()}": sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


class SourcePreparer:
    """Fetch the recipe's source into a work directory and turn it into a .dsc."""

    def __init__(self, settings: Settings, cache: Cache, archives: Archives) -> None:
        self.settings = settings
        self.cache = cache
        self.archives = archives

    def context(self, target: Target) -> dict[str, object]:
        """What goes into a source package besides the recipe, its files and the target: the
        maintainer (debian/control templates, the changelog entry, uploads), the archive family
        (templates), and the host's dpkg-dev, whose dpkg-source makes the source package."""
        return {
            "maintainer": {"name": self.settings.maintainer.name, "email": self.settings.maintainer.email},
            "family": self.settings.archive_of(target).family,
            "dpkg-dev": host_dpkg_dev(),
        }

    def fetch(self, recipe: Recipe, target: Target, work: Path) -> tuple[Inputs, Path]:
        """Fetch the upstream/archive source into work/; return its inputs and the fetched dir."""
        family = self.settings.archive_of(target).family
        series = patches.series(self.settings.patches_dir, recipe.name, family, target.name)
        digests = {f"patch/{p.layer}/{p.path.name}": sha256_file(p.path) for p in series}
        # the order the series gives and each patch's -pN: keys of the digests lose both
        digests["patch-series"] = content_key([[p.layer, p.path.name, p.strip] for p in series])
        fetched = work / "fetched"
        fetched.mkdir(parents=True)
        src = recipe.source_for(target.name)
        if isinstance(src, DebianSource):
            archive = self.settings.archives[src.archive]
            got = debian.fetch(self.archives, archive, src.suite, src.package, src.version,
                               src.components, fetched)
            digests.update({f"source/{n}": s for n, s in got.checksums})
            return Inputs(recipe, target, got.version, src.package, digests, series, self.context(target),
                          dsc_made_from=got.dsc_made_from), fetched
        if isinstance(src, DscSource):
            given = dsc.fetch(src.path, src.keyring, fetched)
            info(f"{given.source} {given.version} from {src.path}: {given.signature}")
            digests.update({f"source/{n}": s for n, s in given.checksums})
            return Inputs(recipe, target, given.version, given.source, digests, series, self.context(target),
                          given.signature), fetched
        if recipe.packaging is None:
            assert isinstance(src, LocalSource)  # load_recipe: a pypi source has [packaging]
            own = tree.prepare(src.path, src.orig, fetched)
            digests.update(tree.digests(own))
            return Inputs(recipe, target, own.version, own.source, digests, series, self.context(target)), fetched
        assert isinstance(src, Upstream) and src.version is not None  # load_recipe: required
        compression = "gz"
        if isinstance(src, PypiSource):
            blob = pypi.fetch(self.cache, src.name, src.version, src.sha256)
        elif isinstance(src, GitSource):
            packed = git.fetch(self.cache, git.remote(src.url, recipe.path), src.commit,
                               src.submodules == "follow", f"{recipe.packaging.source_name}-{src.version}",
                               recipe.name)
            blob = packed.orig
            digests["source/git-tree"] = packed.tree  # the commit is recipe/source's
            digests.update({f"source/git-submodule/{path}": commit for path, commit in packed.submodules})
        elif isinstance(src, UrlSource):
            blob = url.fetch(self.cache, src.url, src.sha256, recipe.name)
            compression = url.compression(src.url)
        else:
            blob = local.fetch(self.cache, src.path, recipe.packaging.source_name, src.version, work)
        orig = fetched / f"{recipe.packaging.source_name}_{src.version}.orig.tar.{compression}"
        shutil.copyfile(blob, orig)
        digests["source/orig"] = sha256_file(orig)
        digests.update(_tree_digests(recipe.packaging.templates, "templates"))
        return Inputs(recipe, target, src.version, recipe.packaging.source_name, digests, series,
                      self.context(target)), fetched

    def build_source(self, inputs: Inputs, fetched: Path, entry: Entry, work: Path) -> Path:
        """Unpack, render, patch, add the changelog entry, run dpkg-source -b; return the .dsc."""
        recipe, target = inputs.recipe, inputs.target
        work.mkdir(parents=True, exist_ok=True)
        tree = work / "tree"
        src = recipe.source_for(target.name)
        if isinstance(src, DebianSource | DscSource):
            given = next(fetched.glob("*.dsc"))
            run(["dpkg-source", "--no-check", "-x", str(given), str(tree)], cwd=work)
            for f in fetched.iterdir():
                if "orig" in f.name and not (work / f.name).exists():
                    shutil.copyfile(f, work / f.name)
            where = src.suite if isinstance(src, DebianSource) else given.name
            changes = [f"Rebuild of {where}'s {inputs.base_version} for {target.name} by Kronos."]
        elif recipe.packaging is None:  # a tree with its own debian/, built as it is
            shutil.copytree(fetched / "tree", tree, symlinks=True)
            for f in fetched.glob("*.orig.tar.*"):
                shutil.copyfile(f, work / f.name)
            changes = [f"Build of the local tree's {inputs.base_version} for {target.name} by Kronos."]
        else:
            orig = next(fetched.glob("*.orig.tar.*"))
            shutil.copyfile(orig, work / orig.name)
            tree.mkdir()
            run(["tar", "-xf", str(orig), "-C", str(tree), "--strip-components=1"])
            shutil.rmtree(tree / "debian", ignore_errors=True)
            templates.render(recipe.packaging.templates, tree / "debian", {
                "source_name": inputs.source_name,
                "upstream_version": inputs.base_version,
                "version": entry.version,
                "maintainer": self.settings.maintainer,
                "target": target,
                "family": self.settings.archive_of(target).family,
                "recipe": recipe,
            })
            changes = [recipe.packaging.changelog]
        patches.apply(tree, inputs.patches, recipe.name, target.name)
        for p in inputs.patches:
            changes.append(f"Apply {p.layer}/{p.path.name}.")
        if not entry.kept:  # --keep-version: exactly the version the tree or .dsc has, no entry
            changelog.add_entry(tree, inputs.source_name, entry.version, target.distribution, changes,
                                self.settings.maintainer, entry.timestamp)
        fmt = (tree / "debian" / "source" / "format")
        options = ["--auto-commit"] if fmt.exists() and "quilt" in fmt.read_text() else []
        run(["dpkg-source", *options, "-b", "tree"], cwd=work,
            env={"SOURCE_DATE_EPOCH": str(changelog.source_date_epoch(tree))})
        found = sorted(work.glob(f"{inputs.source_name}_*.dsc"))
        if not found:
            raise BuildError(f"{recipe.name} ({target.name}): dpkg-source -b produced no .dsc")
        return found[0]


def choose_version(inputs: Inputs, key: str, ledger: Ledger, keep: bool = False) -> tuple[Entry, bool]:
    """The ledger entry for key (existing: True), or a new one with the next local revision (keep:
    the source's own version, n 0, for a one-off local test)."""
    found = ledger.find(key)
    if found is not None:
        return found, True
    now = int(clock.now().timestamp())
    recipe, target = inputs.recipe, inputs.target
    if keep:
        if not recipe.own_debian:
            raise BuildError(f"{recipe.name}: --keep-version needs a source with its own debian/changelog"
                             " (an archive source, a .dsc or a tree without [packaging])")
        taken = next((e for e in ledger.entries if e.version == inputs.base_version and not e.kept), None)
        if taken is not None:
            raise BuildError(f"{recipe.name} ({target.name}): version {inputs.base_version} already names"
                             " another kronos build in the ledger; build without --keep-version")
        return Entry(key, inputs.base_version, inputs.base_version, 0, now), False
    n = ledger.next_n(inputs.base_version)
    held = {e.version for e in ledger.entries}  # kept versions too: a tree may carry 1.0-1~bpo12+1 itself
    while (version := _numbered(inputs, n)) in held:
        n += 1
    return Entry(key, version, inputs.base_version, n, now), False


def _numbered(inputs: Inputs, n: int) -> str:
    """The version of the n-th local build of inputs' source for its target."""
    recipe, target = inputs.recipe, inputs.target
    source = recipe.source_for(target.name)
    if isinstance(source, DebianSource) and versions.from_own_suite(source.archive, source.suite, target):
        return versions.own_rebuild(inputs.base_version, target, n)
    if recipe.own_debian:  # an archive source from another suite, a .dsc or a tree: a backport
        return versions.rebuilt(inputs.base_version, target, n)
    return versions.authored(inputs.base_version, target, n)


def version_note(inputs: Inputs, entry: Entry) -> str | None:
    """What the build says of its version when the source comes from a contributor (tree or .dsc)."""
    if isinstance(inputs.recipe.source_for(inputs.target.name), DebianSource) or not inputs.recipe.own_debian \
            or entry.kept:
        return None
    return (f"{inputs.recipe.name}: {inputs.base_version} is built as {entry.version} (the version plus"
            f" {inputs.target.name}'s local revision, so no two builds share a version; --keep-version keeps it"
            " as it is)")


def dsc_files(dsc_path: Path) -> list[Path]:
    """The .dsc and the files it lists."""
    with dsc_path.open() as f:
        dsc = Dsc(f)
    return [dsc_path] + [dsc_path.with_name(item["name"]) for item in dsc["Files"]]
