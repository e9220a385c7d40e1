"""The build run: images, then recipes in dependency order for each target, skipping what is current."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from . import clean, holding, images, kept, retired
from .archive.access import Archives
from .build import scratch
from .cache import Cache, sha256_file
from .config import Settings, Target
from .engine import Engine
from .errors import BuildError, FailedBuild, KronosError, os_error_line
from .executor import Job, Result, Status, get_executor
from .executor.base import chain_heights
from .executor.locks import Once
from .executor.progress import Progress
from .executor.report import Row, State
from .graph.metadata import MetadataReader, target_graph
from .images import Image, extra_sources
from .job import BaseImage, BuildResult, BuildSpec
from .keys import content_key
from .ledger import Ledger
from .log import console, info, job, step
from .recipe import Recipe, load_recipes, require_known
from .records import BUILD_RECORD, read_build_record
from .runner import LocalRunner, Runner
from .runner.errors import SchedulerGone
from .source_package import (
    BUILD_SCRIPTS,
    Inputs,
    Sibling,
    SourcePreparer,
    build_inputs,
    choose_version,
    dsc_files,
    version_note,
)
from .store import Store

# a build's expected seconds before it has been timed (Pipeline._weight)
BASE_SECONDS = 30.0
SECONDS_PER_MB = 100.0


@contextlib.contextmanager
def staging(staged: Path) -> Iterator[Path]:
    """A fresh directory to stage an output in; gone at the end of the block unless it was put in place
    (a failed or interrupted build leaves nothing of it)."""
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _relog(message: str, log: Path) -> str:
    """A runner's failure message with its log's path (where it ran) replaced by log's."""
    return re.sub(r"\blog: \S+?(?=;|$|\s)", lambda _: f"log: {log}", message, count=1)


def with_shares(plan: list[Job]) -> list[Job]:
    """Each job's CPU shares for when it competes with other builds on one engine: its height (its
    expected seconds plus the heaviest chain waiting for it) against the mean height, so the critical
    path leads and a build alone still has every core (shares only weigh builds that compete)."""
    heights = chain_heights(plan)
    mean = sum(heights.values()) / len(heights) if heights else 1.0
    return [dataclasses.replace(j, func=functools.partial(cast(Callable[..., object], j.func),
                                                          cpu_shares=cpu_shares(heights[j.name], mean)))
            for j in plan]


def cpu_shares(height: float, mean: float) -> int:
    """1024 (the engine's default weight) times height / mean, within what cgroups take (2 to 262144)."""
    return max(2, min(262144, round(1024 * height / mean))) if mean > 0 else 1024


def built_by(result: BuildResult) -> dict[str, object]:
    """build.json's built-by: the worker, and the inputs it held already (not read from the store)."""
    return {**result.worker.to_data(), **({"held": list(result.held)} if result.held else {})}


def _names(record: dict[str, object]) -> tuple[str, ...]:
    files = record.get("files")
    return tuple(str(f) for f in files) if isinstance(files, list) else ()


def expected_seconds(last: object, size: int) -> float:
    """How long a build is expected to take: its last build's seconds (build.json) when known; else an
    estimate from its source's size in bytes, so that a first run starts a heavy build at once instead
    of after every light one (a rough fit to this stack on 2 cores: xen's 4.9 MB source took 580 s,
    dune's 2.4 MB 207 s, the OCaml libraries' 0.1-0.3 MB about 40 s)."""
    if isinstance(last, int | float) and last > 0:
        return float(last)
    return BASE_SECONDS + SECONDS_PER_MB * size / 1e6


@dataclass(frozen=True)
class Outcome:
    recipe: str
    target: str
    version: str
    built: bool  # False: up to date, nothing rebuilt
    files: tuple[str, ...]
    worker: str = ""  # who built it (a remote runner's worker)
    lost: tuple[str, ...] = ()  # workers lost while building it before `worker` finished it


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

    def holding(self, target: str, recipe: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        """The build lock of recipe for target (kronos/holding.py), beside its ledger."""
        base = self.root / "ledger" / target
        return holding.held(base / f"{recipe}.lock", base / f"{recipe}.lock.pid", timeout,
                            f"the build lock of {target}/{recipe}",
                            "kronos.build_lock_timeout, env KRONOS_BUILD_LOCK_TIMEOUT", BuildError)


class Pipeline:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.cache = Cache(settings.cache_dir)
        self.archives = Archives(settings, self.cache)
        self.layout = Layout(settings)
        self.preparer = SourcePreparer(settings, self.cache, self.archives)
        self.metadata = MetadataReader(settings, self.cache, self.archives)
        self.store = Store(settings.store_dir)
        self.runner: Runner = LocalRunner(self.store, engine, settings.cache_dir, settings.cache_dir / "locks")

    def targets(self, names: list[str] | None) -> list[Target]:
        return [self.settings.target(n) for n in (names or list(self.settings.default_targets))]

    def images(self, names: list[str] | None, refresh: bool = False) -> list[images.Image]:
        return [images.ensure(self.settings, self.engine, self.archives, t, refresh) for t in self.targets(names)]

    def build(self, target_names: list[str] | None, only: list[str] | None, rebuild: bool = False,
              jobs: int | None = 1, verbose: bool = False, runner: Runner | None = None, keep_version: bool = False,
              given: Recipe | None = None, skip: list[str] | None = None) -> list[Row]:
        """Build what is wanted for every target, up to `jobs` at once: a recipe starts when every
        recipe it comes after (in its target's graph) has succeeded; a failure skips its dependents
        only. One row per recipe and target (the table of the run). `given` (a .dsc handed over) joins
        the project's recipes, in place of one of the same name, and is what is wanted;
        keep_version builds the wanted recipes at their source's own version. `skip` leaves recipes
        ("xen") or one target's recipe ("noble/xen") out of the graph: not read, not built, and what
        would have come after them takes their Build-Depends from the archive. `runner`: where the builds
        run (the local engine when None); jobs None: as many as the runner has slots."""
        if runner is not None:
            self.runner = runner
        clean.sweep(self.engine)  # the containers a killed kronos left behind go first, each named
        recipes = load_recipes(self.settings)
        if given is not None:
            recipes[given.name] = given
            only = [given.name]
        wanted = only or sorted(recipes)
        require_known(recipes, wanted)
        skipped = set(skip or ())
        require_known(recipes, [s.rsplit("/", 1)[-1] for s in skipped])
        plan: list[Job] = []
        for target in self.targets(target_names):
            if not any(target.name in recipes[n].targets and n not in skipped and f"{target.name}/{n}" not in skipped
                       for n in wanted):
                continue
            kept = {n: r for n, r in recipes.items() if n not in skipped and f"{target.name}/{n}" not in skipped}
            graph = target_graph(self.metadata, kept, target)  # the order the packages' metadata gives
            # made when the first recipe needs it (once): bad sources fail before any mmdebstrap
            image = Once(functools.partial(images.ensure, self.settings, self.engine, self.archives, target))
            for name in graph.wanted([n for n in wanted if n in kept]):
                force = rebuild and (not only or name in only)
                keep = keep_version and (not only or name in only)
                run = functools.partial(self._job, graph.build_closure(name), recipes[name], target, image, force,
                                        keep)
                plan.append(Job(f"{target.name}/{name}", run,
                                tuple(sorted({f"{target.name}/{e.to}" for e in graph.out(name)})),
                                weight=self._weight(target.name, name, graph.sizes.get(name, 0))))
        plan = with_shares(plan)
        progress = Progress(console, self._find_log, verbose)
        with progress.shown():
            results = get_executor("local", jobs or self.runner.slots()).run(plan, progress)
        for r in results.values():  # the scheduler went away: the run ends with that line alone
            if isinstance(r.error, SchedulerGone):
                raise r.error
        return [self._row(r) for r in results.values()]

    def _job(self, siblings: list[str], recipe: Recipe, target: Target, image: Callable[[], Image],
             rebuild: bool, keep_version: bool = False, cpu_shares: int = 0) -> Outcome:
        with job(f"{target.name}/{recipe.name}"):
            return self.build_one(siblings, recipe, target, image, rebuild, keep_version, cpu_shares)

    def _find_log(self, name: str, since: float) -> Path | None:
        """The build log a job started at `since` (wall clock) writes, once it exists."""
        target, recipe = name.split("/", 1)
        fresh = []
        for path in (self.layout.root / "logs" / target).glob(f"{recipe}_*.build"):
            with contextlib.suppress(OSError):  # removed meanwhile
                if path.stat().st_mtime >= since - 1:
                    fresh.append((path.stat().st_mtime, path))
        return max(fresh)[1] if fresh else None

    def _row(self, result: Result) -> Row:
        target, recipe = result.job.split("/", 1)
        if result.status is Status.SKIPPED:
            return Row(target, recipe, State.SKIPPED, reason=result.reason)
        if result.status is Status.FAILED:
            if not isinstance(result.error, (KronosError, OSError)):
                raise result.error or RuntimeError(result.reason)  # a bug: its traceback, not a row
            reason = os_error_line(result.error) if isinstance(result.error, OSError) else result.reason
            log = self._find_log(result.job, result.started)
            version = log.name[len(recipe) + 1:-len(".build")] if log else ""
            return Row(target, recipe, State.FAILED, version, result.seconds, str(log or ""), reason, result.error,
                       result.started)
        o = result.value
        assert isinstance(o, Outcome)
        logs = [f for f in o.files if f.endswith(".build")]
        kept = str(self.layout.package_dir(target, recipe) / logs[0]) if logs else ""
        return Row(target, recipe, State.BUILT if o.built else State.UP_TO_DATE, o.version, result.seconds, kept,
                   started=result.started, worker=o.worker, lost=o.lost)

    def _weight(self, target: str, recipe: str, size: int) -> float:
        """A job's expected seconds, for critical-path-first scheduling (expected_seconds)."""
        try:
            record = self.layout.record(target, recipe) or {}
        except KronosError:
            record = {}  # the build itself will say what is wrong with the record
        return expected_seconds(record.get("seconds"), size)

    def _take(self, result: BuildResult, log: Path, staged: Path) -> list[Path]:
        """A runner's answer into staged: its log into `log` (unless it wrote it there), its failure
        raised (naming `log`), else its outputs from the store, each checked against its sha256."""
        if result.log is not None and (not log.exists() or sha256_file(log) != result.log.sha256):
            with scratch(self.settings.cache_dir, "log-") as tmp:
                shutil.move(str(self.store.get(result.log, tmp)), log)
        where = "" if self.runner.name == "local" else f" (on worker {result.worker.name})"
        if result.kind == "build":
            raise FailedBuild(_relog(result.failure, log) + where, result.kept)
        if result.failure:
            raise BuildError(_relog(result.failure, log) + where)
        return [self.store.get(f, staged) for f in result.files]

    def siblings(self, target: str, names: list[str]) -> list[Sibling]:
        """The siblings' keys and versions, as their build.json records them."""
        out = []
        for name in names:
            record = self.layout.record(target, name) or {}
            key, version = record.get("key"), record.get("version")
            out.append(Sibling(name, key if isinstance(key, str) else None,
                               version if isinstance(version, str) else None))
        return out

    def build_one(self, siblings: list[str], recipe: Recipe, target: Target, get_image: Callable[[], Image],
                  rebuild: bool = False, keep_version: bool = False, cpu_shares: int = 0) -> Outcome:
        """Build recipe for target, against the debs of the sibling recipes it installs, unless its
        content key is already built (rebuild: build anyway; keep_version: at the source's own version)."""
        local_debs = tuple(d for dep in siblings for d in self.layout.debs(target.name, dep))
        self.layout.ledger(target.name, recipe.name)  # a corrupt ledger fails the job before any download
        final = self.layout.package_dir(target.name, recipe.name)
        with scratch(self.settings.cache_dir, f"{recipe.name}-") as work:
            inputs, fetched = self.preparer.fetch(recipe, target, work)
            image = get_image()
            # from the choice of the version until the output is in place and the ledger says so, this
            # recipe's output and ledger are this run's alone: another kronos on the same output
            # directory waits (naming this one), so no version ever names two builds
            with self.layout.holding(target.name, recipe.name, self.settings.build_lock_timeout):
                return self._build_locked(recipe, target, siblings, local_debs, inputs, fetched, image, final,
                                          work, rebuild, keep_version, cpu_shares)

    def _build_locked(self, recipe: Recipe, target: Target, siblings: list[str], local_debs: tuple[Path, ...],
                      inputs: Inputs, fetched: Path, image: Image, final: Path, work: Path, rebuild: bool,
                      keep_version: bool, cpu_shares: int) -> Outcome:
        ledger = self.layout.ledger(target.name, recipe.name)  # read under the lock: what others wrote
        given = self.siblings(target.name, siblings)
        extra = build_inputs(image.content, given, self.settings.containers_dir)
        if keep_version:  # absent otherwise, so other builds keep their keys
            extra["keep-version"] = True
        recorded = inputs.record(extra)
        key = content_key(recorded)
        entry, known = choose_version(inputs, key, ledger, keep_version)
        record = self.layout.record(target.name, recipe.name)
        if known and not rebuild and record is not None and record.get("key") == key:
            info(f"{recipe.name} {entry.version} ({target.name}) is up to date")
            return Outcome(recipe.name, target.name, entry.version, False, _names(record))
        if known and not rebuild and retired.restore(self.layout.root, target.name, recipe.name, key, final):
            info(f"{recipe.name} {entry.version} ({target.name}): the earlier build of these inputs is back in"
                 f" {final} (not built again: the same key gives the same files)")
            return Outcome(recipe.name, target.name, entry.version, False,
                           _names(self.layout.record(target.name, recipe.name) or {}))
        note = version_note(inputs, entry)
        if note is not None:
            info(note)
        with step(f"{recipe.name} {entry.version} for {target.name}"), contextlib.ExitStack() as stack:
            dsc = self.preparer.build_source(inputs, fetched, entry, work / "src")
            log = self.layout.log(target.name, recipe.name, entry.version)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("")
            staged = stack.enter_context(staging(final.with_name(f".{final.name}.new")))
            began = time.monotonic()
            local_key = content_key({"siblings": [[s.name, s.key, s.version] for s in given],
                                     "debs": [d.name for d in local_debs]})
            spec = BuildSpec(recipe.name, target, entry.version, key, recipe.options_for(target.name),
                             tuple(self.store.put(f) for f in dsc_files(dsc)),
                             tuple(self.store.put(d) for d in local_debs), local_key,
                             BaseImage(target.name, image.ref, image.content),
                             tuple(self.store.put(self.settings.containers_dir / n) for n in BUILD_SCRIPTS),
                             extra_sources(self.settings, self.archives, target), cpu_shares)
            result = self.runner.run(self.runner.ship(spec, self.engine), log)
            seconds = round(time.monotonic() - began, 1)
            produced = self._take(result, log, staged)
            for f in dsc_files(dsc):
                shutil.copyfile(f, staged / f.name)
            shutil.copyfile(log, staged / log.name)
            files = sorted(p.name for p in staged.iterdir())
            doc: dict[str, object] = {
                "recipe": recipe.name, "target": target.name, "version": entry.version,
                "source": inputs.source_name, "key": key, "image": image.ref, "files": files,
                "inputs": recorded, "seconds": seconds, "built-by": built_by(result),
            }
            if entry.kept:
                doc["kept-version"] = True  # publish: a clash in the pool names --keep-version
            if inputs.signature is not None:
                doc["signature"] = inputs.signature
            if inputs.dsc_made_from is not None:  # not an input: the made .dsc's digest is (source/<name>)
                doc["dsc-made-from"] = inputs.dsc_made_from
            keeps = recipe.options_for(target.name).keep
            if keeps:
                doc["kept"], doc["configuration"] = kept.record(keeps, staged)
            (staged / BUILD_RECORD).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
            ledger.record(entry)
            retired.swap_in(self.layout.root, target.name, recipe.name, staged, final)
            info(f"{len(produced)} binary artefacts in {final}")
        remote = self.runner.name != "local"
        return Outcome(recipe.name, target.name, entry.version, True, tuple(files),
                       result.worker.name if remote else "", result.lost)
