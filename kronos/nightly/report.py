"""A night's record: out/nightly/<run>/report.json (schema: report.schema.json, SCHEMA_VERSION),
index.html beside it, and out/nightly/index.html listing the last nights. Night records beyond
[nightly] keep_nights are removed here."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..log import info
from .decide import PROMOTABLE, State
from .stages import keep_log, why_rebuilt
from .webhook import notify

if TYPE_CHECKING:
    from .command import Night

SCHEMA = Path(__file__).with_name("report.schema.json")
SCHEMA_VERSION = 1
REPORT = "report.json"


def _project(settings: Settings) -> dict[str, Any]:
    """The commit the night built and whether the tree had uncommitted changes."""
    from ..run import run

    def git(*args: str) -> str:
        try:
            done = run(["git", "-C", str(settings.root), *args], check=False, merge_stderr=False)
        except OSError:
            return ""
        return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None}


def previous(settings: Settings, run_id: str) -> dict[str, Any] | None:
    """The last report before run_id of a night that ran to its end (None on the first night)."""
    home = settings.output_dir / "nightly"
    for d in sorted((p for p in home.iterdir() if p.is_dir() and p.name < run_id and (p / REPORT).is_file()),
                    reverse=True):
        try:
            data = json.loads((d / REPORT).read_text())
        except (OSError, ValueError):
            continue
        if (isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION
                and data.get("result") in ("green", "failed")):  # a night that ran: not a stopped one
            return data
    return None


def _disk(settings: Settings) -> dict[str, Any]:
    from ..errors import KronosError
    from ..publish.settings import load_repo_settings
    from .housekeeping import disk

    try:
        repo: Path | None = load_repo_settings(settings.root).path
    except KronosError:
        repo = None
    return disk(settings.output_dir, settings.cache_dir, repo)


def replay(target: str, recipe: str) -> str:
    return f"kronos build --target {shlex.quote(target)} --only {shlex.quote(recipe)}"


def _gate_entries(settings: Settings, night: Night, target: str, recipe: str) -> list[dict[str, Any]]:
    from ..qa.command import store

    verdicts = store(settings)
    out = []
    for r in night.qa:
        if (r.target, r.recipe) != (target, recipe):
            continue
        v = r.verdict
        if v is None:
            out.append({"gate": r.gate, "outcome": "error", "blocking": True, "summary": r.reason, "seconds": 0.0,
                        "stored": False, "log": "", "tags": [], "reports": []})
            continue
        where = verdicts.directory(target, recipe, r.gate, v.key)
        log = keep_log(str(where / v.log), night.run_dir / "gates" / target / recipe / f"{r.gate}.log")
        tags: list[str] = []
        if r.gate == "lintian" and (where / "tags.txt").is_file():
            tags = sorted({_tag(line) for line in (where / "tags.txt").read_text().splitlines()
                           if line and "[overridden:" not in line})
        # the gate's own HTML reports (diffoscope's, for repro), beside the night's record as its logs are
        reports = [_rel(night, keep_log(str(where / f), night.run_dir / "gates" / target / recipe / r.gate
                                        / Path(f).name)) for f in v.files if f.endswith(".html")]
        out.append({"gate": r.gate, "outcome": v.outcome.value, "blocking": v.blocking, "summary": v.summary,
                    "seconds": v.seconds, "stored": v.reused, "log": _rel(night, log), "tags": tags,
                    "reports": reports})
    return out


def _tag(line: str) -> str:
    """`error: pkg: some-tag extra` -> `error some-tag` (what is new, not where)."""
    severity, _, rest = line.partition(": ")
    words = rest.split(": ", 1)[-1].split()
    return f"{severity} {words[0]}" if words else severity


def _rel(night: Night, path: str) -> str:
    return str(Path(path).relative_to(night.run_dir)) if path else ""


def packages(settings: Settings, night: Night, prev: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    before = {(p["target"], p["recipe"]): p for p in (prev or {}).get("packages", [])}
    out = []
    for d in night.decisions:
        p = d.package
        key = (p.target, p.recipe)
        row = night.built.rows.get(key)
        record = night.after.get(key, {})
        log = ""
        if row is not None and row.log:
            log = keep_log(row.log, night.run_dir / "logs" / p.target / f"{p.recipe}.log")
        attempts = [{"n": a.n, "state": a.state, "seconds": a.seconds, "log": _rel(night, a.log), "error": a.error,
                     "failure": a.failure} for a in night.built.attempts.get(key, [])]
        last = before.get(key)
        source = str(record.get("source", p.recipe))
        served_before = night.served_before.get((p.target, source))
        # a night that stopped before its promotion: users still get what was served before it
        served = (night.served_before if night.served is None else night.served).get((p.target, source))
        out.append({
            "target": p.target, "recipe": p.recipe, "source": source,
            "version": p.version, "previous_version": last["version"] if last else None,
            "served_before": served_before,
            "state": d.state.value, "promoted": d.promoted, "why": d.why or (row.reason if row else ""),
            "served": served,
            "failure": p.failure.value if p.failure else None,
            "rebuilt_because": why_rebuilt(night.before.get(key), record) if p.build == "built" else [],
            "archive_moved": night.moved.get(key, []),
            "seconds": row.seconds if row else 0.0, "log": _rel(night, log), "attempts": attempts,
            "gates": _gate_entries(settings, night, p.target, p.recipe), "replay": replay(p.target, p.recipe),
        })
    return out


def since(prev: Mapping[str, Any] | None, pkgs: list[dict[str, Any]]) -> dict[str, Any]:
    """What changed since the last night: newly failing, fixed, version changes, new lintian tags."""
    before = {(p["target"], p["recipe"]): p for p in (prev or {}).get("packages", [])}
    ok = {s.value for s in PROMOTABLE}
    newly, fixed, versions, tags = [], [], [], []
    for p in pkgs:
        last = before.get((p["target"], p["recipe"]))
        name = f"{p['target']}/{p['recipe']}"
        if last is None:
            continue
        if last["state"] in ok and p["state"] not in ok:
            newly.append({"package": name, "state": p["state"], "why": p["why"]})
        if last["state"] not in ok and p["state"] in ok:
            fixed.append({"package": name, "was": last["state"]})
        if last["version"] != p["version"]:
            versions.append({"package": name, "from": last["version"], "to": p["version"]})
        old = {t for g in last.get("gates", []) if g["gate"] == "lintian" for t in g.get("tags", [])}
        new = {t for g in p["gates"] if g["gate"] == "lintian" for t in g.get("tags", [])}
        tags += [{"package": name, "tag": t} for t in sorted(new - old)]
    return {"previous_run": (prev or {}).get("run"), "newly_failing": newly, "fixed": fixed,
            "version_changes": versions, "new_lintian_tags": tags}


def result_of(night: Night, pkgs: list[dict[str, Any]]) -> tuple[str, int]:
    if night.stopped:
        return "stopped", 130
    if night.could_not_run is not None:
        return "could not run", 2
    if any(not p["promoted"] for p in pkgs) or any(s.get("result") == "failed" for s in night.smoke.values()):
        return "failed", 1
    return "green", 0


def build(settings: Settings, night: Night) -> dict[str, Any]:
    prev = previous(settings, night.run_id)
    pkgs = packages(settings, night, prev)
    result, code = result_of(night, pkgs)
    ended = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    for p in pkgs:
        counts[p["state"]] = counts.get(p["state"], 0) + 1
    data = {
        "schema": "kronos-nightly-report", "schema_version": SCHEMA_VERSION, "run": night.run_id,
        "started": night.started.isoformat(timespec="seconds"), "ended": ended.isoformat(timespec="seconds"),
        "seconds": round((ended - night.started).total_seconds(), 1), "result": result, "exit_code": code,
        "could_not_run": night.could_not_run, "stopped": night.stopped or None, "jobs": night.jobs,
        "targets": night.targets, "project": _project(settings), "archive": night.refresh,
        "archive_outranks": night.outranked, "signing_keys": night.keys, "warnings": night.warnings,
        "removed_images": night.removed_images, "disk": _disk(settings),
        "stages": night.stages, "generations": night.generations, "promoted": night.promoted,
        "counts": counts, "packages": pkgs, "smoke": night.smoke, "since_last_night": since(prev, pkgs),
    }
    data["notification"] = notify(settings.nightly.webhook, settings.nightly.webhook_secret_env, data)
    return data


def write(settings: Settings, night: Night) -> dict[str, Any]:
    """report.json and index.html of the night, the nights' index, and the retention of night records."""
    from . import html

    data = build(settings, night)
    if str(data["notification"]["why"]).startswith("warning:"):
        info(f"nightly {night.run_id}: {data['notification']['why']}")
    tmp = night.run_dir / f".{REPORT}.new"
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(night.run_dir / REPORT)
    draw(night, data, nights(settings.output_dir / "nightly"))
    html.write_night(night.run_dir, data)
    home = settings.output_dir / "nightly"
    removed = retain(home, settings.nightly.keep_nights)
    html.write_index(home, nights(home))
    info(f"nightly {night.run_id}: {data['result']}; report {night.run_dir / 'index.html'}"
         + (f"; removed {len(removed)} old night record(s)" if removed else ""))
    return data


def draw(night: Night, data: Mapping[str, Any], earlier: list[dict[str, Any]]) -> None:
    """timeline.svg and build-times.svg in the run directory (pictures.py)."""
    from . import pictures

    spans = [(f"{r.target}/{r.recipe}", r.started, r.started + r.seconds, r.state.value)
             for r in night.built.rows.values() if r.started > 0 and r.state.value in ("built", "failed")]
    pictures.timeline(night.run_dir / "timeline.svg", spans, f"nightly {night.run_id}: the builds across the job"
                      f" slots ({night.jobs} job(s))")
    others = [n for n in earlier if n.get("run") != data["run"]]
    pictures.history(night.run_dir / "build-times.svg", [dict(data), *others])


def nights(home: Path) -> list[dict[str, Any]]:
    out = []
    for d in sorted((p for p in home.iterdir() if p.is_dir() and (p / REPORT).is_file()), reverse=True):
        try:
            out.append(json.loads((d / REPORT).read_text()))
        except (OSError, ValueError):
            continue
    return out


def retain(home: Path, keep: int) -> list[str]:
    runs = sorted(p for p in home.iterdir() if p.is_dir() and p.name[:1].isdigit())
    gone = runs[:-keep] if len(runs) > keep else []
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return [d.name for d in gone]


STATES = [s.value for s in State]
