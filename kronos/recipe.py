"""recipes/<name>/recipe.toml -> Recipe (frozen, validated once, errors name file and key)."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .errors import ConfigError
from .tomlcheck import Table, load

_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# what an upstream tarball at a URL may be (the .orig keeps its compression; .tgz becomes .tar.gz)
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")
_KEPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_KCONFIG = re.compile(r"^CONFIG_[A-Za-z0-9_]+$")
# what the build's own outputs are named (build.sh, pipeline): a kept file may not take such a name
_OUTPUT_SUFFIXES = (".deb", ".udeb", ".ddeb", ".dsc", ".changes", ".buildinfo", ".build", ".json",
                    ".tar.gz", ".tar.xz", ".tar.bz2", ".diff.gz", ".asc")


@dataclass(frozen=True)
class DebianSource:
    archive: str
    suite: str
    package: str
    version: str | None
    components: tuple[str, ...]
    kind: str = "debian"


@dataclass(frozen=True)
class PypiSource:
    name: str
    version: str
    sha256: str
    kind: str = "pypi"


@dataclass(frozen=True)
class LocalSource:
    """A directory or tarball. With [packaging], an upstream tree at `version` (its debian/ is
    replaced by the templates); without, a tree with its own debian/ ("own tree": version None, the
    tree's debian/changelog gives name and version) and, for 3.0 (quilt), its .orig at `orig` or
    next to the tree."""

    path: Path
    version: str | None
    orig: Path | None = None
    kind: str = "local"


@dataclass(frozen=True)
class DscSource:
    """A source package the user hands over (`kronos build --dsc`, or `kind = "dsc"`): its files
    beside it, its signature checked against `keyring` when one is named."""

    path: Path
    keyring: Path | None = None
    kind: str = "dsc"


@dataclass(frozen=True)
class GitSource:
    """A commit of a git repository (URL, or a path relative to the recipe, as written): its tree
    becomes the .orig (kronos.sources.git). `submodules`: "refuse" a tree with any, or "follow" each
    to the commit the tree records."""

    url: str
    commit: str
    version: str
    submodules: str = "refuse"
    kind: str = "git"


@dataclass(frozen=True)
class UrlSource:
    """An upstream tarball at a URL, pinned by sha256: it becomes the .orig as it is."""

    url: str
    sha256: str
    version: str
    kind: str = "url"


Source = DebianSource | PypiSource | LocalSource | DscSource | GitSource | UrlSource
Upstream = PypiSource | LocalSource | GitSource | UrlSource  # the kinds that take [packaging] templates


@dataclass(frozen=True)
class Packaging:
    """debian/ authored here as jinja2 templates (recipes/<name>/debian/)."""

    source_name: str
    templates: Path
    changelog: str


@dataclass(frozen=True)
class Keep:
    """A build-tree file kept with the outputs (`[build.keep."<name>"]`): `path` is a glob relative to
    the unpacked source that must match one file, `name` the file's name among the outputs, and
    `kconfig` the Kconfig options of that file that build.json records."""

    name: str
    path: str
    kconfig: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildOptions:
    profiles: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    keep: tuple[Keep, ...] = ()


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    targets: tuple[str, ...]
    after: tuple[str, ...]
    source: Source
    packaging: Packaging | None
    build: BuildOptions
    per_target: Mapping[str, BuildOptions] = field(default_factory=dict)
    # [source.targets.<target>]: the source for that target instead of [source] (noble's xen from noble)
    target_sources: Mapping[str, Source] = field(default_factory=dict)

    def source_for(self, target: str) -> Source:
        return self.target_sources.get(target, self.source)

    def options_for(self, target: str) -> BuildOptions:
        over = self.per_target.get(target)
        if over is None:
            return self.build
        return BuildOptions(
            profiles=over.profiles or self.build.profiles,
            options=over.options or self.build.options,
            env=tuple(sorted({**dict(self.build.env), **dict(over.env)}.items())),
            keep=over.keep or self.build.keep,
        )

    def describe_source(self, target: str | None = None) -> str:
        """The source in a few words; without a target, [source] and the targets that have their own."""
        if target is None and self.target_sources:
            own = "; ".join(f"{t}: {self.describe_source(t)}" for t in sorted(self.target_sources))
            return f"{self.describe_source(self.targets[0] if self.targets else '')} ({own})"
        src = self.source if target is None else self.source_for(target)
        if isinstance(src, DebianSource):
            return f"{src.archive}:{src.suite}/{src.package}" + (f"={src.version}" if src.version else "")
        if isinstance(src, PypiSource):
            return f"pypi:{src.name}=={src.version}"
        if isinstance(src, DscSource):
            return f"dsc:{src.path}"
        if isinstance(src, GitSource):
            return f"git:{src.url}@{src.commit[:12]}"
        if isinstance(src, UrlSource):
            return f"url:{src.url}"
        return f"local:{src.path}"

    @property
    def own_debian(self) -> bool:
        """Whether the source brings its own debian/ (archive, .dsc or own tree): no templates."""
        return self.packaging is None


def _build_options(t: Table) -> BuildOptions:
    env_table = t.sub("env")
    env = {}
    for key in env_table.data:
        env[key] = env_table.text(key, required=True)
    env_table.done()
    return BuildOptions(t.strings("profiles"), t.strings("options"), tuple(sorted(env.items())),
                        _keeps(t.sub("keep")))


def _keeps(t: Table) -> tuple[Keep, ...]:
    out = []
    for name in sorted(t.data):
        sub = t.sub(name)
        if not _KEPT_NAME.match(name) or name.endswith(_OUTPUT_SUFFIXES):
            raise ConfigError(f"{sub.where}: '{name}' is not a plain file name that other outputs do not use")
        path = sub.text("path", required=True)
        if path.startswith("/") or ".." in path.split("/") or not path or any(c.isspace() for c in path):
            raise ConfigError(f"{sub.at('path')}: '{path}' is not a path inside the build tree")
        kconfig = sub.strings("kconfig")
        for option in kconfig:
            if not _KCONFIG.match(option):
                raise ConfigError(f"{sub.at('kconfig')}: '{option}' is not a Kconfig option (CONFIG_...)")
        sub.done()
        out.append(Keep(name, path, kconfig))
    t.done()
    return tuple(out)


def guarded(settings: Settings, env: Mapping[str, str] | None = None) -> list[tuple[Path, str, bool]]:
    """What a local source may not contain, as (path, what it is, secret): secrets (GnuPG homes, the
    signing passphrase file) may not contain the source either. A local source is packed into a
    tarball that is published; the project root holds the signing home, out/ and the cache."""
    env = os.environ if env is None else env
    repo_config = Path(env.get("KRONOS_REPO_CONFIG", settings.root / "repo" / "repository.toml"))
    if repo_config.exists():
        from .publish.settings import load_repo_settings

        repo = load_repo_settings(settings.root, env)
        signing_home, passphrase_file = repo.gnupghome, repo.passphrase_file
    else:  # no repository settings: the defaults of publish/settings.py
        signing_home = settings.root / env.get("KRONOS_GNUPGHOME", "repo/gnupg")
        passphrase_file = None
    out = [(signing_home, "the signing key's GnuPG home", True)]
    if passphrase_file is not None:
        out.append((passphrase_file, "the signing key's passphrase file", True))
    user_home = Path(env["GNUPGHOME"]) if env.get("GNUPGHOME") else Path.home() / ".gnupg"
    out += [(user_home, "your GnuPG home", True),
            (settings.root, "the project root (with the signing key's GnuPG home)", False),
            (settings.output_dir, "the output directory", False),
            (settings.cache_dir, "the cache directory", False)]
    return [(p.resolve(), what, secret) for p, what, secret in out]


def refuse_guarded(path: Path, where: str, settings: Settings) -> None:
    """Refuse a local source path (resolved) that would pack a secret or kronos's own trees."""
    for guarded_path, what, secret in guarded(settings):
        if guarded_path.is_relative_to(path):
            raise ConfigError(f"{where}: {path} contains {what} {guarded_path}; a local source is packed"
                              " into a published tarball: name the upstream tree alone")
        if secret and path.is_relative_to(guarded_path):
            raise ConfigError(f"{where}: {path} is inside {what} {guarded_path}; a local source is packed"
                              " into a published tarball")


def _sources(t: Table, recipe_dir: Path, settings: Settings, packaged: bool,
             targets: Sequence[str]) -> tuple[Source, dict[str, Source]]:
    """[source] and each [source.targets.<target>] (a whole source table of its own)."""
    per_table = t.sub("targets")
    per: dict[str, Source] = {}
    for tname in per_table.data:
        sub = per_table.sub(tname)
        if tname not in targets:
            raise ConfigError(f"{sub.where}: not one of this recipe's targets")
        per[tname] = _source(sub, recipe_dir, settings, packaged)
    per_table.done()
    default = _source(t, recipe_dir, settings, packaged)
    if per and len({s.kind for s in (default, *per.values())}) > 1:
        raise ConfigError(f"{per_table.where}: every target's source must be of the same kind as [source]")
    return default, per


def _source(t: Table, recipe_dir: Path, settings: Settings, packaged: bool) -> Source:
    kind = t.choice("kind", ("debian", "pypi", "local", "dsc", "git", "url"))
    src: Source
    if kind == "debian":
        archive = t.text("archive", "debian")
        if archive not in settings.archives:
            raise ConfigError(f"{t.at('archive')}: unknown archive '{archive}'")
        src = DebianSource(
            archive=archive,
            suite=t.text("suite", required=True),
            package=t.text("package", required=True),
            version=t.text("version"),
            components=t.strings("components", ("main",)),
        )
    elif kind == "pypi":
        sha = t.text("sha256", required=True)
        if not _SHA256.match(sha):
            raise ConfigError(f"{t.at('sha256')}: not a sha256 hex digest")
        src = PypiSource(t.text("name", required=True), t.text("version", required=True), sha)
    elif kind == "git":
        src = _git_source(t)
    elif kind == "url":
        src = _url_source(t)
    elif kind == "dsc":
        path = (recipe_dir / t.text("path", required=True)).resolve()
        keyring = t.text("keyring")
        src = DscSource(path, (recipe_dir / keyring).resolve() if keyring else None)
    else:
        path = (recipe_dir / t.text("path", required=True)).resolve()
        refuse_guarded(path, t.at("path"), settings)
        # without [packaging] the tree's own debian/changelog gives the version
        version = t.text("version", required=packaged)
        orig = t.text("orig")
        if orig is not None and packaged:
            raise ConfigError(f"{t.at('orig')}: only a tree with its own debian/ (no [packaging]) takes an .orig")
        orig_path = (recipe_dir / orig).resolve() if orig else None
        if orig_path is not None:
            refuse_guarded(orig_path, t.at("orig"), settings)
        src = LocalSource(path, version, orig_path)
    t.done()
    return src


def _git_source(t: Table) -> GitSource:
    url = t.text("url", required=True)
    if not url.strip() or url.startswith("-"):
        raise ConfigError(f"{t.at('url')}: '{url}' is not a git URL or path")
    commit = t.text("commit", required=True)
    if not _COMMIT.match(commit):
        raise ConfigError(f"{t.at('commit')}: '{commit}' is not a full commit id (40 hex digits; not a branch"
                          " or a tag: the recipe pins what it builds)")
    return GitSource(url, commit, t.text("version", required=True),
                     t.choice("submodules", ("refuse", "follow"), "refuse"))


def _url_source(t: Table) -> UrlSource:
    url = t.text("url", required=True)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or not parts.path:
        raise ConfigError(f"{t.at('url')}: '{url}' is not an http, https or file URL")
    if not parts.path.endswith(TARBALL_SUFFIXES):
        raise ConfigError(f"{t.at('url')}: '{url}' does not name a tarball ({', '.join(TARBALL_SUFFIXES)})")
    sha = t.text("sha256", required=True)
    if not _SHA256.match(sha):
        raise ConfigError(f"{t.at('sha256')}: not a sha256 hex digest")
    return UrlSource(url, sha, t.text("version", required=True))


def load_recipe(path: Path, settings: Settings) -> Recipe:
    """Load and validate one recipe file."""
    top = Table(load(path), str(path))
    name = top.text("name", path.parent.name)
    if not _NAME.match(name):
        raise ConfigError(f"{path}: name: '{name}' is not a valid package name")
    targets = top.strings("targets", tuple(settings.targets))
    for t in targets:
        if t not in settings.targets:
            raise ConfigError(f"{path}: targets: unknown target '{t}'")
    after = top.strings("after")
    pk = top.sub("packaging")
    source, target_sources = _sources(top.sub("source", required=True), path.parent, settings, bool(pk.data),
                                      targets)
    packaging = None
    if pk.data:
        templates = path.parent / pk.text("templates", "debian")
        if not templates.is_dir():
            raise ConfigError(f"{path}: packaging.templates: {templates} is not a directory")
        packaging = Packaging(
            source_name=pk.text("source_name", required=True),
            templates=templates,
            changelog=pk.text("changelog", "Package built by Kronos."),
        )
        pk.done()
    if isinstance(source, DebianSource | DscSource) and packaging is not None:
        raise ConfigError(f"{path}: packaging: a {source.kind} source brings its own debian/")
    if isinstance(source, PypiSource | GitSource | UrlSource) and packaging is None:
        raise ConfigError(f"{path}: packaging: a {source.kind} source needs [packaging] templates")
    b = top.sub("build")
    per_table = b.sub("targets")
    per: dict[str, BuildOptions] = {}
    for tname in per_table.data:
        if tname not in targets:
            raise ConfigError(f"{path}: build.targets.{tname}: not one of this recipe's targets")
        sub = per_table.sub(tname)
        per[tname] = _build_options(sub)
        sub.done()
    per_table.done()
    build = _build_options(b)
    b.done()
    top.done()
    return Recipe(name, path.parent, targets, after, source, packaging, build, per, target_sources)


def dsc_recipe(path: Path, keyring: Path | None, targets: Sequence[str], settings: Settings) -> Recipe:
    """The in-memory recipe of `kronos build --dsc`: named after the .dsc's Source, no options, for
    every target (the ones built are checked here; the recipe's targets are an input of its content
    key, so building for one more target does not change the key of the others)."""
    from .sources.dsc import read

    source = str(read(path)["Source"])
    if not _NAME.match(source):
        raise ConfigError(f"{path}: Source: '{source}' is not a valid package name")
    for t in targets:
        settings.target(t)
    return Recipe(source, path.parent.resolve(), tuple(settings.targets), (), DscSource(path.resolve(), keyring),
                  None, BuildOptions())


def load_recipes(settings: Settings) -> dict[str, Recipe]:
    """All recipes under recipes/, by name; `after` must name known recipes."""
    recipes: dict[str, Recipe] = {}
    for path in sorted(settings.recipes_dir.glob("*/recipe.toml")):
        recipe = load_recipe(path, settings)
        if recipe.name in recipes:
            raise ConfigError(f"{path}: name: '{recipe.name}' is defined twice")
        recipes[recipe.name] = recipe
    for recipe in recipes.values():
        for dep in recipe.after:
            if dep not in recipes:
                raise ConfigError(f"{recipe.path / 'recipe.toml'}: after: unknown recipe '{dep}'")
    return recipes


def require_known(recipes: Mapping[str, Recipe], names: Sequence[str]) -> None:
    """Every name is a recipe, else one error naming the first that is not and the known ones."""
    for name in names:
        if name not in recipes:
            raise ConfigError(f"unknown recipe '{name}' (known: {', '.join(sorted(recipes))})")
