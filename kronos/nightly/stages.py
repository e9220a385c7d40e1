"""The stages of a night, each a function of the settings and what the stage before gave: refresh the
archive indices, build (retrying what the infrastructure failed), judge (the QA gates, retrying their
errors), publish to staging, promote. The command (command.py) runs them in order and records them."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import interrupt
from ..config import Settings
from ..engine import Engine
from ..errors import EngineError, FetchError, KronosError, StorageError
from ..executor.report import Row, State
from ..explain import compare
from ..log import info
from ..records import BUILD_RECORD, read_build_record
from .decide import Decision, Failure

# a build failure of these kinds is the infrastructure's (retried), any other the package's
INFRASTRUCTURE = (EngineError, FetchError, StorageError, TimeoutError, ConnectionError)


def failure_class(error: BaseException | None) -> Failure:
    if isinstance(error, INFRASTRUCTURE):
        return Failure.INFRASTRUCTURE
    if isinstance(error, OSError) and not isinstance(error, KronosError):
        return Failure.INFRASTRUCTURE  # a full disk, a vanished file: not the package's fault
    return Failure.PACKAGE


def refresh(settings: Settings, targets: Sequence[str]) -> list[dict[str, Any]]:
    """Download and verify every suite's InRelease now: each suite's Date (the archive state the night
    builds against). A suite that cannot be reached or verified makes the night unable to run."""
    from ..archive.probe import probe
    from ..cache import Cache

    fresh = dataclasses.replace(settings, index_max_age=0)
    found, failed = [], []
    for p in probe(fresh, Cache(settings.cache_dir), [settings.target(t) for t in targets]):
        info(p.line())
        found.append({"target": p.target, "suite": p.suite, "date": p.date, "seconds": round(p.seconds, 1),
                      "problem": p.problem})
        if p.problem:
            failed.append(f"{p.target} {p.suite}")
    if failed:
        raise FetchError(f"{len(failed)} suite(s) could not be reached or verified: {', '.join(failed)}")
    return found


def records(settings: Settings, targets: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every build record in out/ for the targets: (target, recipe) -> build.json."""
    out = {}
    for t in targets:
        for path in sorted((settings.output_dir / t).glob(f"*/{BUILD_RECORD}")):
            try:
                out[(t, path.parent.name)] = read_build_record(path)
            except KronosError:
                continue  # the build says what is wrong with it
    return out


def why_rebuilt(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """`kronos why`'s reasons for a rebuild, from the record before the night and the new one."""
    if before is None:
        return ["not built yet"]
    old, new = before.get("inputs"), after.get("inputs")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["recorded by an older kronos, without its inputs"]
    return compare(old, new) or ["inputs changed"]


def moved(settings: Settings, before: Mapping[tuple[str, str], Mapping[str, Any]],
          after: Mapping[tuple[str, str], Mapping[str, Any]], built: Built) -> dict[tuple[str, str], list[str]]:
    """For each package built this night: the installed build dependencies that differ from its last
    build's (the archive moved under it), from the two .buildinfo files (the last build is on the shelf)."""
    from .. import retired
    from .morning import archive_moved

    out = {}
    for key, row in built.rows.items():
        old = before.get(key)
        if row.state is not State.BUILT or old is None or old.get("key") == after.get(key, {}).get("key"):
            continue
        shelf = retired.shelf(settings.output_dir, key[0], key[1]) / str(old.get("key", ""))[:24]
        lines = archive_moved(shelf, settings.output_dir / key[0] / key[1])
        if lines:
            out[key] = lines
    return out


@dataclass
class Attempt:
    n: int
    state: str
    seconds: float
    log: str  # in the run directory
    error: str = ""
    failure: str = ""  # package / infrastructure


@dataclass
class Built:
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    attempts: dict[tuple[str, str], list[Attempt]] = field(default_factory=dict)


def keep_log(src: str, dest: Path) -> str:
    """A hard link (a copy across file systems) of a log in the run directory: out/ and out/logs change
    with the next build, the night's record must not. The path relative to the run directory's parent."""
    if not src or not Path(src).is_file():
        return ""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
    return str(dest)


def build(settings: Settings, engine: Engine, targets: Sequence[str], jobs: int, retries: int,
          run_dir: Path) -> Built:
    """Build the targets' graphs; a job that failed for the infrastructure (and what it made skip) is
    built again, at most `retries` times. Each attempt's log is kept in the run directory."""
    from ..pipeline import Pipeline

    pipeline = Pipeline(settings, engine)
    got = Built()
    wanted: list[str] | None = None
    chosen = list(targets)
    for n in range(1, retries + 2):
        rows = pipeline.build(chosen, wanted, jobs=jobs)
        for r in rows:
            got.rows[(r.target, r.recipe)] = r
            if r.state is State.FAILED or n > 1:
                kept = keep_log(r.log, run_dir / "attempts" / r.target / f"{r.recipe}.{n}.log")
                cls = failure_class(r.error).value if r.state is State.FAILED else ""
                got.attempts.setdefault((r.target, r.recipe), []).append(
                    Attempt(n, r.state.value, r.seconds, kept, r.reason if r.state is State.FAILED else "", cls))
        if interrupt.stopping():
            break
        again = [r for r in rows if r.state is State.FAILED and failure_class(r.error) is Failure.INFRASTRUCTURE]
        if not again or n > retries:
            break
        skipped = [r for r in rows if r.state is State.SKIPPED]
        chosen = sorted({r.target for r in again})
        wanted = sorted({r.recipe for r in again} | {r.recipe for r in skipped if r.target in chosen})
        info(f"retrying {len(again)} build(s) the infrastructure failed (attempt {n + 1} of {retries + 1}):"
             f" {', '.join(f'{r.target}/{r.recipe}' for r in again)}")
    return got


def judge(settings: Settings, engine: Engine, built: Built, jobs: int, retries: int) -> list[Any]:
    """The QA gates on the night's builds in out/ (what a removed recipe left there is not judged; stored
    verdicts are reused); the pairs a gate could not judge (error) are judged again, at most `retries`
    times (error verdicts are never reused)."""
    from ..qa.command import run_qa
    from ..qa.policy import GATES
    from ..qa.verdict import Outcome

    wanted: dict[str, list[str]] = {}
    for target, recipe in built.rows:
        if (settings.output_dir / target / recipe / BUILD_RECORD).is_file():
            wanted.setdefault(target, []).append(recipe)
    if not wanted:
        return []
    # one run for every target (the jobs run across targets); only the night's (target, recipe) pairs
    pairs = {(t, r) for t, rs in wanted.items() for r in rs}
    names = sorted({r for _, r in pairs})
    rows: list[Any] = [r for r in run_qa(settings, engine, sorted(wanted), names, list(GATES), jobs)
                       if (r.target, r.recipe) in pairs]
    for n in range(retries):
        bad = [r for r in rows if r.verdict is not None and r.verdict.outcome is Outcome.ERROR]
        if not bad or interrupt.stopping():
            break
        info(f"judging again {len(bad)} verdict(s) a gate could not give (attempt {n + 2} of {retries + 1})")
        for t in sorted({r.target for r in bad}):
            for gate in sorted({r.gate for r in bad if r.target == t}):
                recipes = sorted({r.recipe for r in bad if r.target == t and r.gate == gate})
                redo = {(x.target, x.recipe, x.gate): x for x in run_qa(settings, engine, [t], recipes, [gate], jobs)}
                rows = [redo.get((r.target, r.recipe, r.gate), r) for r in rows]
    return rows


def stage_publish(settings: Settings, targets: Sequence[str]) -> tuple[str, list[str]]:
    """Publish every target's outputs to its staging suite (<target>-staging): the new generation's name
    and what was added."""
    from ..publish.open import publisher
    from ..publish.outputs import uploads
    from ..publish.publisher import staging

    _, pub = publisher(settings)
    present = [t for t in targets if (settings.output_dir / t).is_dir()]
    found, stamps = uploads(settings, present, pub.seen_outputs("staged-outputs"))
    summary = pub.publish({staging(t): ups for t, ups in found.items()}, outputs=stamps, record="staged-outputs")
    return summary.generation, summary.added


def pool_files(settings: Settings, component: str, target: str, recipe: str) -> list[str]:
    """The pool paths of a build in out/ (its .debs and .dsc), as the publisher names them."""
    from ..publish import indices

    record = read_build_record(settings.output_dir / target / recipe / BUILD_RECORD)
    directory = indices.pool_dir(component, str(record["source"]))
    return [f"{directory}/{f}" for f in record["files"] if f.endswith((".deb", ".udeb", ".dsc"))]


def promote(settings: Settings, decisions: Sequence[Decision], run_id: str) -> tuple[str, list[str]]:
    """Serve what the decisions promote, in one generation: its name and what was added."""
    from ..publish.open import publisher

    repo, pub = publisher(settings)
    chosen: dict[str, list[str]] = {}
    for d in decisions:
        if d.promoted and d.package.version:
            chosen.setdefault(d.package.target, []).extend(
                pool_files(settings, repo.component, d.package.target, d.package.recipe))
    if not chosen:
        return "", []
    summary = pub.promote(chosen, run_id)
    return summary.generation, summary.added


def served_stanzas(settings: Settings, target: str) -> dict[str, list[str]]:
    """source -> the Packages stanzas the served suite has of it (binary packages for our architecture)."""
    from ..publish import tree
    from ..publish.settings import load_repo_settings

    state = tree.load_state(load_repo_settings(settings.root).path)
    out: dict[str, list[str]] = {}
    for rel, e in state["suites"].get(target, {}).get("packages", {}).items():
        if e["kind"] == "deb" and e["arch"] in (settings.architecture, "all"):
            out.setdefault(rel.split("/")[-2], []).append(str(e["stanza"]))
    return out


def served_versions(settings: Settings, targets: Sequence[str]) -> dict[tuple[str, str], str]:
    """(target, source) -> the version its served suite gives users (the highest of the source's
    versions there: what apt installs), from the publisher's state: true after a rollback too."""
    from debian.debian_support import Version

    from ..publish import tree
    from ..publish.settings import load_repo_settings

    state = tree.load_state(load_repo_settings(settings.root).path)
    out: dict[tuple[str, str], str] = {}
    for target in targets:
        for e in state["suites"].get(target, {}).get("packages", {}).values():
            key = (target, str(e["name"]))
            if e["kind"] == "dsc" and (key not in out or Version(str(e["version"])) > Version(out[key])):
                out[key] = str(e["version"])
    return out


def uninstallable(settings: Settings, decisions: Sequence[Decision],
                  warnings: list[str]) -> dict[tuple[str, str], str]:
    """(target, recipe) -> dose's reason, for each promoted package of ours that would not be installable
    in the suite the promotion makes (what stays served plus what is promoted, over the archive). A
    package that the served suite already has broken is a warning, not held against tonight's."""
    from .installable import broken, candidate

    held: dict[tuple[str, str], str] = {}
    for target in sorted({d.package.target for d in decisions}):
        promoted: dict[str, list[Path]] = {}
        owner: dict[str, tuple[str, str]] = {}
        for d in decisions:
            if d.package.target != target or not d.promoted or not d.package.version:
                continue
            record = read_build_record(settings.output_dir / target / d.package.recipe / BUILD_RECORD)
            debs = [settings.output_dir / target / d.package.recipe / f for f in record["files"]
                    if str(f).endswith(".deb")]
            promoted[str(record["source"])] = debs
            owner.update({p.name.split("_", 1)[0]: (target, d.package.recipe) for p in debs})
        served = {s: st for s, st in served_stanzas(settings, target).items() if s not in promoted}
        for name, why in sorted(broken(settings, target, candidate(settings, target, promoted, served)).items()):
            if name in owner:
                held.setdefault(owner[name], f"{name}: {why}")
            else:
                warnings.append(f"{target}: the served {name} is {why}")
    return held
