"""`kronos why`: would a recipe rebuild, and which recorded input changed (Bazel's --explain).

compare() is pure: it reads two inputs records (source_package.Inputs.record), the one build.json
keeps and the one the current inputs give. explain() computes the current records of a recipe and
of the siblings it builds against, in graph order, without building anything (sources may be
fetched; they are cached): a sibling that would rebuild gets its next key and version, so its
dependents name it as their reason before it is rebuilt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import images
from .build import scratch
from .config import Target
from .errors import ConfigError
from .graph.metadata import target_graph
from .keys import content_key
from .pipeline import Pipeline
from .recipe import Recipe, load_recipes, require_known
from .source_package import Sibling, build_inputs, choose_version

_KINDS = {  # record name prefix -> how a reason names it
    "patch/": "patch",
    "templates/": "template",
    "source/git-submodule/": "git submodule",
    "source/": "source file",
    "script/": "container script",
    "recipe/": "recipe field",
}
_VALUES = {  # inputs recorded by value: a reason shows old -> new
    "maintainer": "maintainer",
    "build/profiles": "build profiles",
    "build/options": "build options",
    "dpkg-dev": "host dpkg-dev",
    "family": "archive family",
    "source/git-tree": "git tree",
}
_NAMED = {
    "image": "image",
    "target": "target configuration",
    "build/env": "build env",
    "format": "kronos's packaging format",
    "patch-series": "patch series (order or -pN)",
}


def _short(key: object) -> str:
    return str(key)[:12] if key else "none"


def _sibling(name: str, old: object, new: object) -> str:
    old_d = old if isinstance(old, Mapping) else {}
    new_d = new if isinstance(new, Mapping) else {}
    if new is None:
        return f"sibling {name} no longer built against"
    if new_d.get("key") is None:
        return f"sibling {name} is not built"
    if old is None:
        return f"sibling {name} added (key {_short(new_d.get('key'))}, version {new_d.get('version')})"
    return (f"sibling {name} changed (key {_short(old_d.get('key'))} -> {_short(new_d.get('key'))},"
            f" now version {new_d.get('version')})")


def reason(name: str, old: object, new: object) -> str:
    """One line for one input that differs (old None: added; new None: removed)."""
    if name.startswith("sibling/"):
        return _sibling(name.removeprefix("sibling/"), old, new)
    verb = "added" if old is None else "removed" if new is None else "changed"
    if name in _VALUES:
        if old is None or new is None:
            return f"{_VALUES[name]} {verb}"
        return f"{_VALUES[name]} changed: {old!r} -> {new!r}"
    for prefix, kind in _KINDS.items():
        if name.startswith(prefix):
            return f"{kind} {name.removeprefix(prefix)} {verb}"
    return f"{_NAMED.get(name, name)} {verb}"


def compare(old: Mapping[str, object] | None, new: Mapping[str, object]) -> list[str]:
    """Why a build recorded with inputs `old` is not current for inputs `new` ([]: it is)."""
    if old is None:
        return ["not built yet"]
    changed = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    if any(n.startswith("patch/") for n in changed):
        changed = [n for n in changed if n != "patch-series"]  # a patch added or removed says it
    return [reason(n, old.get(n), new.get(n)) for n in changed]


@dataclass(frozen=True)
class Verdict:
    recipe: str
    target: str
    version: str  # the version it has (up to date) or would get
    reasons: tuple[str, ...]  # empty: up to date

    @property
    def rebuild(self) -> bool:
        return bool(self.reasons)

    def lines(self) -> list[str]:
        if not self.rebuild:
            return [f"{self.target}: {self.recipe} {self.version} is up to date"]
        return [f"{self.target}: {self.recipe} would rebuild as {self.version}:",
                *(f"  {r}" for r in self.reasons)]


class Explainer:
    """The current inputs of recipes for one target, computed in graph order, memoized."""

    def __init__(self, pipeline: Pipeline, recipes: Mapping[str, Recipe], target: Target) -> None:
        self.p = pipeline
        self.recipes = recipes
        self.target = target
        self.graph = target_graph(pipeline.metadata, recipes, target)
        self._image: str | None = None
        self._siblings: dict[str, Sibling] = {}

    def image_content(self) -> str:
        """The root filesystem sha256 of the target's current base image ("" when it would have to be made)."""
        if self._image is None:
            s = self.p.settings
            key = images.image_key(s, self.p.archives, self.target)
            labels = self.p.engine.image_labels(f"{images.REPOSITORY}-{self.target.name}:{key[:16]}") or {}
            self._image = labels.get(images.CONTENT, "")
        return self._image

    def verdict(self, name: str) -> Verdict:
        recipe = self.recipes[name]
        siblings = [self.sibling(n) for n in self.graph.build_closure(name)]
        layout = self.p.layout
        with scratch(self.p.settings.cache_dir, f"why-{name}-") as work:
            inputs, _ = self.p.preparer.fetch(recipe, self.target, work)
        current = inputs.record(build_inputs(self.image_content(), siblings, self.p.settings.containers_dir))
        key = content_key(current)
        entry, _known = choose_version(inputs, key, layout.ledger(self.target.name, name))
        record = layout.record(self.target.name, name)
        if record is not None and record.get("key") == key:
            reasons: list[str] = []
        elif record is None:
            reasons = ["not built yet"]
        else:
            old = record.get("inputs")
            reasons = (compare(old, current) if isinstance(old, dict)
                       else ["recorded by an older kronos, without its inputs"])
            reasons = reasons or ["inputs changed"]
        self._siblings[name] = Sibling(name, key, entry.version)
        return Verdict(name, self.target.name, entry.version, tuple(reasons))

    def sibling(self, name: str) -> Sibling:
        if name not in self._siblings:
            self.verdict(name)
        return self._siblings[name]


def explain(pipeline: Pipeline, recipe: str, target_names: list[str] | None) -> list[Verdict]:
    """Whether `recipe` would rebuild on each target (default: the default targets it is for)."""
    recipes = load_recipes(pipeline.settings)
    require_known(recipes, [recipe])
    targets = pipeline.targets(target_names)
    out = []
    for target in targets:
        if target.name not in recipes[recipe].targets:
            if target_names:
                raise ConfigError(f"recipe '{recipe}' is not built for target '{target.name}'")
            continue
        out.append(Explainer(pipeline, recipes, target).verdict(recipe))
    return out
