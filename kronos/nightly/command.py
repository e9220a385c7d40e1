"""`kronos nightly`: one night, from recipes to a promoted repository, recorded in out/nightly/<run>/.

Stages, in order (each timed in the report): refresh (every suite's InRelease downloaded and verified),
build (the graphs, incrementally; infrastructure failures retried), qa (the gates on every build;
errors judged again), staging (all outputs published to <target>-staging), smoke (the staging suite
booted, for the [nightly] smoke targets that build xen), promote (the served suites take what passed,
in one generation). Exit codes: 0 all promoted, 1 something failed and the rest was promoted, 2 the night
could not run (the report names the stage), 75 another nightly holds the lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import interrupt
from ..config import Settings
from ..engine import Engine
from ..errors import KronosError, os_error_line
from ..holding import held
from ..log import info, step
from . import report, stages
from .decide import Decision, Failure, GateResult, Package, decide
from .stages import Built

EXIT_GREEN, EXIT_FAILED, EXIT_COULD_NOT_RUN, EXIT_BUSY = 0, 1, 2, 75


class NightBusy(KronosError):
    exit_code = EXIT_BUSY


class NightFailed(KronosError):
    """Something failed or was held back; the rest was promoted."""

    exit_code = EXIT_FAILED


class NightCouldNotRun(KronosError):
    exit_code = EXIT_COULD_NOT_RUN


@dataclass
class Night:
    """What a night found, stage by stage (report.py writes it)."""

    run_id: str
    run_dir: Path
    targets: list[str]
    started: dt.datetime
    stages: list[dict[str, Any]] = field(default_factory=list)
    refresh: list[dict[str, Any]] = field(default_factory=list)
    moved: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # build deps changed under a rebuild
    outranked: list[dict[str, str]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    removed_images: list[str] = field(default_factory=list)
    before: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    after: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    built: Built = field(default_factory=Built)
    qa: list[Any] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    smoke: dict[str, dict[str, Any]] = field(default_factory=dict)
    generations: dict[str, str] = field(default_factory=dict)
    promoted: list[str] = field(default_factory=list)
    # (target, source) -> the version the served suite has, before the night and after its promotion
    served_before: dict[tuple[str, str], str] = field(default_factory=dict)
    served: dict[tuple[str, str], str] | None = None
    could_not_run: dict[str, str] | None = None
    stopped: str = ""
    jobs: int = 1

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        entry: dict[str, Any] = {"name": name, "result": "ok", "seconds": 0.0}
        self.stages.append(entry)
        try:
            with step(f"nightly: {name}"):
                yield
        except interrupt.Interrupted:
            entry["result"] = "stopped"
            raise
        except (KronosError, OSError) as e:
            entry["result"] = "could not run"
            line = os_error_line(e) if isinstance(e, OSError) and not isinstance(e, KronosError) else str(e)
            self.could_not_run = {"stage": name, "error": line}
            raise NightCouldNotRun(f"the night could not run: stage {name}: {line}") from e
        finally:
            entry["seconds"] = round(time.monotonic() - began, 1)


def new_run(settings: Settings, targets: list[str], jobs: int) -> Night:
    home = settings.output_dir / "nightly"
    home.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    run_id, n = stamp, 1
    while (home / run_id).exists():
        n += 1
        run_id = f"{stamp}-{n}"
    (home / run_id).mkdir()
    return Night(run_id, home / run_id, targets, started, jobs=jobs)


def packages(settings: Settings, night: Night) -> list[Package]:
    """The night's packages: every recipe of the targets that has a build row or a build in out/."""
    verdicts: dict[tuple[str, str], list[GateResult]] = {}
    for r in night.qa:
        if r.verdict is not None:
            v = r.verdict
            verdicts.setdefault((r.target, r.recipe), []).append(
                GateResult(r.gate, v.outcome.value, v.blocking, v.summary))
        else:
            blocking = settings.qa.gate(r.gate, r.target, r.recipe).blocking
            verdicts.setdefault((r.target, r.recipe), []).append(GateResult(r.gate, "error", blocking, r.reason))
    out = []
    for key in night.built.rows:  # every recipe of the targets (what a removed recipe left in out/ is not)
        row = night.built.rows.get(key)
        record = night.after.get(key, {})
        inputs = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
        siblings = {n.removeprefix("sibling/"): str(v.get("version", "")) for n, v in (inputs or {}).items()
                    if n.startswith("sibling/") and isinstance(v, dict)}
        build = row.state.value if row is not None else "up to date"
        if row is not None and row.state.value == "failed" and interrupt.stopping():
            build = "stopped"
        attempts = night.built.attempts.get(key, [])
        failure = None
        if build == "failed":
            failure = Failure(attempts[-1].failure) if attempts and attempts[-1].failure else Failure.PACKAGE
        elif len(attempts) > 1 and attempts[0].state == "failed":
            failure = Failure.FLAKY
        out.append(Package(key[0], key[1], build, str(record.get("version", "")), siblings,
                           tuple(str(f) for f in record.get("files", []) if str(f).endswith(".deb")),
                           tuple(verdicts.get(key, [])), failure))
    return out


def run(settings: Settings, engine: Engine, targets: Sequence[str], jobs: int) -> Night:
    """One night under the nightly lock; raises NightBusy (75), NightCouldNotRun (2) or NightFailed (1),
    after the night's record is written."""
    for t in targets:
        settings.target(t)
    home = settings.output_dir / "nightly"
    home.mkdir(parents=True, exist_ok=True)
    with held(home / ".lock", home / ".holder", 0, "the nightly lock", "one nightly at a time", NightBusy):
        night = new_run(settings, list(targets), jobs)
        info(f"nightly {night.run_id}: {night.run_dir}")
        try:
            _stages(settings, engine, night)
        except interrupt.Interrupted as e:
            night.stopped = str(e)
            raise
        finally:
            report.write(settings, night)
        return night


def summary(night: Night) -> list[str]:
    """The lines that end a night's output: what was held back and why, then one summing up."""
    held = [d for d in night.decisions if not d.promoted]
    lines = [f"{d.package.target}/{d.package.recipe}: {d.state.value}{': ' + d.why if d.why else ''}" for d in held]
    counts: dict[str, int] = {}
    for d in night.decisions:
        counts[d.state.value] = counts.get(d.state.value, 0) + 1
    said = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    if not counts.get("built"):
        said += " (nothing was rebuilt)"
    for t, r in sorted(night.smoke.items()):
        said += f"; smoke of {t}: {r.get('result')}{' (stored)' if r.get('reused') else ''}"
    lines.append(f"nightly {night.run_id}: {said}; report {night.run_dir / 'index.html'}")
    return lines


def check(night: Night) -> None:
    """NightFailed (exit 1) when something was held back or a smoke failed."""
    held = [d for d in night.decisions if not d.promoted]
    smoke_failed = [t for t, r in night.smoke.items() if r.get("result") == "failed"]
    if held or smoke_failed:
        raise NightFailed(f"nightly {night.run_id}: {len(held)} package(s) held back or failed"
                          f"{'; smoke failed on ' + ', '.join(smoke_failed) if smoke_failed else ''};"
                          f" see {night.run_dir / 'index.html'}")


def _stages(settings: Settings, engine: Engine, night: Night) -> None:
    targets = night.targets
    retries = settings.nightly.retries
    with night.stage("refresh"):
        night.served_before = stages.served_versions(settings, targets)
        night.refresh = stages.refresh(settings, targets)
    night.before = stages.records(settings, targets)
    with night.stage("build"):
        night.built = stages.build(settings, engine, targets, night.jobs, retries, night.run_dir)
    interrupt.check()
    night.after = stages.records(settings, targets)
    night.moved = stages.moved(settings, night.before, night.after, night.built)
    with night.stage("qa"):
        night.qa = stages.judge(settings, engine, night.built, night.jobs, retries)
    interrupt.check()
    pkgs = packages(settings, night)
    night.decisions = decide(pkgs)
    with night.stage("staging"):
        night.generations["staging"], _ = stages.stage_publish(settings, targets)
    with night.stage("smoke"):
        from .smoke import smoke_staging

        failed, changed = smoke_staging(settings, night, targets, retries)
    night.decisions = decide(pkgs, failed, changed)
    with night.stage("installability"):
        held: dict[tuple[str, str], str] = {}
        for _ in range(5):  # holding one back can break another that needs it
            more = stages.uninstallable(settings, night.decisions, night.warnings)
            if set(more) <= set(held):
                break
            held.update(more)
            night.decisions = decide(pkgs, failed, changed, held)
        night.warnings = list(dict.fromkeys(night.warnings))
    with night.stage("promote"):
        night.generations["promoted"], night.promoted = stages.promote(settings, night.decisions, night.run_id)
        night.served = stages.served_versions(settings, targets)
    morning(settings, engine, night)


def morning(settings: Settings, engine: Engine, night: Night) -> None:
    """The release manager's questions: where the archive outranks us, which keys expire soon; and the
    images of failed builds that are no longer needed go. None of it fails the night: what cannot be
    answered is a warning in the report."""
    from . import housekeeping
    from . import morning as m
    from .decide import State

    failing = [(d.package.target, d.package.recipe) for d in night.decisions if d.state is State.FAILED]
    try:
        night.removed_images = housekeeping.failed_images(engine, failing)
    except KronosError as e:
        night.warnings.append(f"could not remove the images of earlier failed builds: {e}")

    ours = {(d.package.target, str(night.after.get((d.package.target, d.package.recipe), {}).get("source", ""))):
            d.package.version for d in night.decisions if d.package.version}
    try:
        night.outranked = m.outranked(settings, {k: v for k, v in ours.items() if k[1]})
    except (KronosError, OSError) as e:
        night.warnings.append(f"could not compare our versions with the archive's: {e}")
    try:
        night.keys = m.signing_keys(settings)
    except (KronosError, OSError) as e:
        night.warnings.append(f"could not read the signing keys: {e}")
    night.warnings += [f"signing key {k['fingerprint']} expires in {k['days_left']} day(s) ({k['expires']})"
                       for k in night.keys if k["soon"]]
