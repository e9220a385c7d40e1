"""The build run: images, then recipes in dependency order for each target, skipping what is current."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import images
from .archive.access import Archives
from .build import Builder, BuildJob, scratch
from .cache import Cache, replace_dir, sha256_file
from .config import Settings, Target
from .engine import Engine
from .errors import ConfigError
from .graph.metadata import MetadataReader, target_graph
from .images import Image
from .ledger import Ledger
from .log import info, step
from .recipe import Recipe, load_recipes
from .records import BUILD_RECORD, read_build_record
from .source_package import SourcePreparer, choose_version, dsc_files


@dataclass(frozen=True)
class Outcome:
    recipe: str
    target: str
    version: str
    built: bool  # False: up to date, nothing rebuilt
    files: tuple[str, ...]


class Layout:
    """Where outputs live: out/<target>/<recipe>/, out/ledger/, out/logs/."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.output_dir

    def package_dir(self, target: str, recipe: str) -> Path:
        return self.root / target / recipe

    def ledger(self, target: str, recipe: str) -> Ledger:
        return Ledger(self.root / "ledger" / target / f"{recipe}.json")

    def log(self, target: str, recipe: str, version: str) -> Path:
        return self.root / "logs" / target / f"{recipe}_{version}.build"

    def record(self, target: str, recipe: str) -> dict[str, object] | None:
        path = self.package_dir(target, recipe) / BUILD_RECORD
        if not path.exists():
            return None
        return read_build_record(path)

    def debs(self, target: str, recipe: str) -> list[Path]:
        return sorted(self.package_dir(target, recipe).glob("*.deb"))


class Pipeline:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.cache = Cache(settings.cache_dir)
        self.archives = Archives(settings, self.cache)
        self.layout = Layout(settings)
        self.preparer = SourcePreparer(settings, self.cache, self.archives)
        self.builder = Builder(settings, engine, self.archives)
        self.metadata = MetadataReader(settings, self.cache, self.archives)

    def targets(self, names: list[str] | None) -> list[Target]:
        return [self.settings.target(n) for n in (names or list(self.settings.default_targets))]

    def images(self, names: list[str] | None, refresh: bool = False) -> list[images.Image]:
        return [images.ensure(self.settings, self.engine, self.archives, t, refresh) for t in self.targets(names)]

    def build(self, target_names: list[str] | None, only: list[str] | None,
              rebuild: bool = False) -> list[Outcome]:
        recipes = load_recipes(self.settings)
        targets = self.targets(target_names)
        wanted = only or sorted(recipes)
        for name in wanted:
            if name not in recipes:
                raise ConfigError(f"unknown recipe '{name}' (known: {', '.join(sorted(recipes))})")
        outcomes = []
        for target in targets:
            if not any(target.name in recipes[n].targets for n in wanted):
                continue
            graph = target_graph(self.metadata, recipes, target)  # the order the packages' metadata gives
            todo = [recipes[n] for n in graph.wanted(wanted)]
            if not todo:
                continue
            with step(f"Target {target.name}"):
                # made when the first recipe needs it: bad sources fail before any mmdebstrap
                image = functools.cache(functools.partial(images.ensure, self.settings, self.engine,
                                                          self.archives, target))
                for recipe in todo:
                    force = rebuild and (not only or recipe.name in only)
                    siblings = graph.build_closure(recipe.name)
                    outcomes.append(self.build_one(siblings, recipe, target, image, force))
        return outcomes

    def build_one(self, siblings: list[str], recipe: Recipe, target: Target,
                  get_image: Callable[[], Image], rebuild: bool = False) -> Outcome:
        """Build recipe for target, against the debs of the sibling recipes it installs, unless its
        content key is already built (rebuild: build anyway)."""
        local_debs = tuple(d for dep in siblings for d in self.layout.debs(target.name, dep))
        ledger = self.layout.ledger(target.name, recipe.name)
        final = self.layout.package_dir(target.name, recipe.name)
        with scratch(self.settings.cache_dir, f"{recipe.name}-") as work:
            inputs, fetched = self.preparer.fetch(recipe, target, work)
            image = get_image()
            key = inputs.key({
                "image": image.id,
                "local_debs": [sha256_file(d) for d in local_debs],
                "scripts": {p.name: sha256_file(p) for p in sorted(self.settings.containers_dir.glob("*.sh"))},
            })
            entry, known = choose_version(inputs, key, ledger)
            record = self.layout.record(target.name, recipe.name)
            if known and not rebuild and record is not None and record.get("key") == key:
                info(f"{recipe.name} {entry.version} ({target.name}) is up to date")
                files = record.get("files")
                names = tuple(str(f) for f in files) if isinstance(files, list) else ()
                return Outcome(recipe.name, target.name, entry.version, False, names)
            with step(f"{recipe.name} {entry.version} for {target.name}"):
                dsc = self.preparer.build_source(inputs, fetched, entry, work / "src")
                log = self.layout.log(target.name, recipe.name, entry.version)
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text("")
                staged = final.with_name(f".{final.name}.new")
                shutil.rmtree(staged, ignore_errors=True)
                staged.mkdir(parents=True)
                job = BuildJob(recipe, target, image, dsc, entry.version, local_debs, log)
                produced = self.builder.build(job, staged)
                for f in dsc_files(dsc):
                    shutil.copyfile(f, staged / f.name)
                shutil.copyfile(log, staged / log.name)
                files = sorted(p.name for p in staged.iterdir())
                (staged / BUILD_RECORD).write_text(json.dumps({
                    "recipe": recipe.name, "target": target.name, "version": entry.version,
                    "source": inputs.source_name, "key": key, "image": image.ref, "files": files,
                }, indent=2, sort_keys=True) + "\n")
                ledger.record(entry)
                replace_dir(staged, final)
                info(f"{len(produced)} binary artefacts in {final}")
        return Outcome(recipe.name, target.name, entry.version, True, tuple(files))
