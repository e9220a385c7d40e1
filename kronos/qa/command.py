"""`kronos qa`: every gate on every build in out/ (or the chosen ones), as jobs; a verdict is reused
when its key is stored, made and stored otherwise; one table at the end."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .. import images, interrupt
from ..archive.access import Archives
from ..cache import Cache
from ..clean import sweep
from ..config import Settings
from ..engine import Engine
from ..errors import ConfigError, KronosError
from ..executor import Job, Status, get_executor
from ..executor.locks import Once
from ..keys import content_key
from ..log import job as job_context
from ..records import BUILD_RECORD
from . import piuparts
from .autopkgtest import AutopkgtestGate
from .gate import Gate, Subject
from .lintian import LintianGate
from .piuparts import PiupartsGate, served_debs
from .policy import GATES
from .repro import ReproGate
from .verdict import FORMAT, Outcome, Verdict, VerdictStore

STYLE = {Outcome.PASS: "green", Outcome.FAIL: "bold red", Outcome.ERROR: "yellow", Outcome.ARCHIVE_FAILS: "magenta"}


def store(settings: Settings) -> VerdictStore:
    return VerdictStore(settings.output_dir / "qa")


def subjects(settings: Settings, targets: Sequence[str], only: Sequence[str]) -> list[Subject]:
    """The builds in out/ for targets (those with a build.json), only the `only` recipes when given."""
    found = []
    for name in targets:
        target = settings.target(name)
        base = settings.output_dir / name
        dirs = sorted(d for d in base.iterdir() if (d / BUILD_RECORD).exists()) if base.is_dir() else []
        found += [Subject.read(target, d) for d in dirs if not only or d.name in only]
    missing = [r for r in only if not any(s.recipe == r for s in found)]
    if missing:
        raise ConfigError(f"no build of {', '.join(missing)} in {settings.output_dir} for"
                          f" {', '.join(targets)}; run kronos build first")
    if not found:
        raise ConfigError(f"nothing built in {settings.output_dir} for {', '.join(targets)}; run kronos build first")
    return found


def make_gates(settings: Settings, engine: Engine, names: Sequence[str], chosen: Sequence[Subject]) -> list[Gate]:
    cache = Cache(settings.cache_dir)
    archives = Archives(settings, cache)
    gates: list[Gate] = []
    bases = _bases(settings, engine, archives, chosen)
    # target -> all of our .debs built for it (what a package's dependencies may need)
    ours = {name: [d for s in subjects(settings, [name], []) for d in s.debs]
            for name in {s.target.name for s in chosen}}
    if "lintian" in names:
        gates.append(LintianGate(engine, bases))
    if "piuparts" in names:
        gates.append(PiupartsGate(settings, archives, ours, _served(settings, chosen)))
    if "autopkgtest" in names:
        gates.append(AutopkgtestGate(settings, engine, archives, bases, ours))
    if "repro" in names:
        gates.append(ReproGate(settings, engine, archives))
    return gates


def _bases(settings: Settings, engine: Engine, archives: Archives,
           chosen: Sequence[Subject]) -> dict[str, Once[images.Image]]:
    """Each chosen target's base image, made once when a gate first needs it."""
    return {s.target.name: Once(functools.partial(images.ensure, settings, engine, archives, s.target))
            for s in chosen}


def _served(settings: Settings, chosen: Sequence[Subject]) -> dict[tuple[str, str], list[Path]]:
    from ..publish.settings import load_repo_settings

    try:
        repo = load_repo_settings(settings.root)
    except ConfigError:
        return {}  # no repository configured: nothing is served
    out: dict[tuple[str, str], list[Path]] = {}
    for target in {s.target.name for s in chosen}:
        for source, debs in served_debs(repo.path, target, settings.architecture).items():
            out[(target, source)] = debs
    return out


def judge(settings: Settings, gate: Gate, subject: Subject, verdicts: VerdictStore) -> Verdict:
    """The stored verdict for the gate's key, else a new one, stored."""
    policy = settings.qa.gate(gate.name, subject.target.name, subject.recipe)
    began, started = time.monotonic(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def verdict(key: str, inputs: dict[str, Any], outcome: Outcome, summary: str, details: Any = None,
                files: tuple[str, ...] = ()) -> Verdict:
        return Verdict(gate.name, subject.target.name, subject.recipe, subject.version, subject.key, key, outcome,
                       summary, policy.blocking, started, round(time.monotonic() - began, 1), f"{gate.name}.log",
                       inputs, details or {}, files)

    with verdicts.workdir(subject.target.name) as work:
        log = work / f"{gate.name}.log"
        try:
            inputs = gate.inputs(subject)
        except KronosError as e:
            interrupt.check()
            log.write_text(f"{e}\n")
            key = content_key({"build": subject.key, "gate": gate.name, "error": str(e), "at": started})
            v = verdict(key, {}, Outcome.ERROR, str(e))
            verdicts.record(v, work)
            return v
        key = content_key({"build": subject.key, "gate": gate.name, "policy": policy.key(), "inputs": inputs,
                           "format": FORMAT})
        kept = verdicts.find(subject.target.name, subject.recipe, gate.name, key)
        if kept is not None:
            return kept
        try:
            found = gate.judge(subject, policy, work, log)
        except KronosError as e:
            interrupt.check()  # a stopped gate is no verdict
            with log.open("a") as f:
                f.write(f"{e}\n")
            v = verdict(key, inputs, Outcome.ERROR, str(e))
            verdicts.record(v, work)
            return v
        interrupt.check()
        v = verdict(key, inputs, found.outcome, found.summary, found.details, found.files)
        verdicts.record(v, work)
        return v


@dataclass(frozen=True)
class Row:
    target: str
    recipe: str
    gate: str
    verdict: Verdict | None
    reason: str = ""  # no verdict: why (stopped, not started)


def run_qa(settings: Settings, engine: Engine, targets: Sequence[str], only: Sequence[str],
           gate_names: Sequence[str], jobs: int) -> list[Row]:
    for name in gate_names:
        if name not in GATES:
            raise ConfigError(f"unknown gate '{name}' (gates: {', '.join(GATES)})")
    chosen = subjects(settings, targets, only)
    sweep(engine)
    if "piuparts" in gate_names:
        piuparts.sweep()
    gates = make_gates(settings, engine, gate_names, chosen)
    verdicts = store(settings)
    work = []
    for s in chosen:
        for g in gates:
            def call(g: Gate = g, s: Subject = s) -> Verdict:
                with job_context(f"{s.target.name}/{s.recipe}/{g.name}"):
                    return judge(settings, g, s, verdicts)
            work.append(Job(f"{s.target.name}/{s.recipe}/{g.name}", call))
    results = get_executor("local", jobs).run(work)
    rows = []
    for s in chosen:
        for g in gates:
            r = results[f"{s.target.name}/{s.recipe}/{g.name}"]
            if r.status is Status.DONE and isinstance(r.value, Verdict):
                rows.append(Row(s.target.name, s.recipe, g.name, r.value))
            else:
                why = f"stopped by {interrupt.name()}" if interrupt.stopping() else (r.reason or str(r.error))
                rows.append(Row(s.target.name, s.recipe, g.name, None, why))
    return rows


def show(console: Console, rows: Sequence[Row], verdicts: VerdictStore) -> None:
    for target in dict.fromkeys(r.target for r in rows):
        table = Table(title=f"{target}: QA", title_justify="left", box=None, pad_edge=False)
        for column in ("recipe", "gate", "verdict", "version", "time", "summary"):
            table.add_column(column, justify="right" if column == "time" else "left", overflow="fold")
        for r in (r for r in rows if r.target == target):
            v = r.verdict
            if v is None:
                table.add_row(r.recipe, r.gate, "[yellow]no verdict[/]", "", "", r.reason)
                continue
            mark = "" if v.blocking else " (not blocking)"
            again = " (stored)" if v.reused else ""
            table.add_row(r.recipe, r.gate, f"[{STYLE[v.outcome]}]{v.outcome.value}[/]{mark}", v.version,
                          f"{v.seconds:.1f}s{again}", v.summary)
        console.print(table)
    overrides: dict[tuple[str, str, str], int] = {}  # (gate, tag, reason) -> how many verdicts it applied to
    for r in rows:
        if r.verdict is not None:
            said = r.verdict.details.get("overridden", {})
            for tag, reason in (said.items() if isinstance(said, dict) else ()):
                overrides[(r.gate, tag, reason)] = overrides.get((r.gate, tag, reason), 0) + 1
    for (gate, tag, reason), n in sorted(overrides.items()):
        console.print(f"{gate} override of ours: {tag} on {n} build(s): {reason}", markup=False)
    for r in rows:
        if r.verdict is not None and r.verdict.outcome is not Outcome.PASS:
            where = verdicts.directory(r.target, r.recipe, r.gate, r.verdict.key)
            console.print(f"{r.target}/{r.recipe} {r.gate}: {r.verdict.outcome.value}: {r.verdict.summary};"
                          f" log: {where / r.verdict.log}", markup=False)
    counts = {o.value: sum(1 for r in rows if r.verdict and r.verdict.outcome is o) for o in Outcome}
    counts["no verdict"] = sum(1 for r in rows if r.verdict is None)
    stored = sum(1 for r in rows if r.verdict and r.verdict.reused)
    console.print(", ".join(f"{n} {o}" for o, n in counts.items() if n or o in ("pass", "fail"))
                  + f" ({stored} of {len(rows)} stored from an earlier run)", markup=False)


def failure(rows: Sequence[Row]) -> KronosError | None:
    """What a QA run that found something blocking raises, or None."""
    failed = sum(1 for r in rows if r.verdict and r.verdict.blocking and r.verdict.outcome is Outcome.FAIL)
    errors = sum(1 for r in rows if r.verdict is None or (r.verdict.blocking and r.verdict.outcome is Outcome.ERROR))
    if not failed and not errors:
        return None
    return KronosError(f"QA: {failed} failed, {errors} could not be judged (error) in blocking gates;"
                       " see the table above")
