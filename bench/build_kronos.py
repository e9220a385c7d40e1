"""The kronos side of build_overhead: its configuration, `kronos build --rebuild` runs and their phases."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, BenchError, tail, timed

DONE_RE = re.compile(r"^\s*done (?P<title>.*) \((?P<secs>\d+(?:\.\d+)?)s\)\s*$")
ARTEFACTS_RE = re.compile(r"^\s*\d+ binary artefacts in (?P<dir>/\S.*?)\s*$")
SUMMARY_RE = re.compile(r"^(?P<target>\S+)\s+(?P<recipe>\S+)\s+(?P<version>\S+)\s+(?P<state>built|up to date)\s*$")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def kronos_config() -> dict[str, Any]:
    """kronos/defaults.toml overridden by kronos.toml (what kronos itself reads)."""
    cfg: dict[str, Any] = {}
    for p in (ROOT / "kronos" / "defaults.toml", ROOT / "kronos.toml"):
        if p.exists():
            with p.open("rb") as f:
                cfg = _merge(cfg, tomllib.load(f))
    return cfg


@dataclass
class KronosRun:
    wall: float
    log: Path
    phases: dict[str, float] = field(default_factory=dict)
    deps_cached: bool = False
    built: list[str] = field(default_factory=list)
    out_dir: Path | None = None


def run_kronos(exe: str, target: str, recipe: str, log: Path) -> KronosRun:
    """`kronos build --target T --only R --rebuild` in the repository root, timed; its phases from the log."""
    argv = [exe, "build", "--target", target, "--only", recipe, "--rebuild"]
    env = dict(os.environ)
    env.pop("KRONOS_DEBUG", None)
    env["TERM"] = "dumb"
    wall, rc = timed(argv, log, env=env, cwd=ROOT)
    text = log.read_bytes().decode(errors="replace")
    if rc != 0:
        raise BenchError(f"kronos build failed (exit {rc}); log: {log}\n{tail(text, 25)}")
    run = KronosRun(wall, log)
    for line in text.splitlines():
        if m := DONE_RE.match(line):
            title = m["title"]
            secs = float(m["secs"])
            if title.startswith("Target "):
                run.phases["target"] = secs
            elif title.startswith("Installing build dependencies"):
                run.phases["deps"] = secs
            elif title.startswith(f"Building {recipe} "):
                run.phases["build"] = secs
            elif title.startswith(f"{recipe} ") and title.endswith(f" for {target}"):
                run.phases["recipe"] = secs
            elif title.startswith("Building base image"):
                run.phases["image"] = secs
        elif "build-deps layer" in line and "is up to date" in line:
            run.deps_cached = True
        elif m := ARTEFACTS_RE.match(line):
            if Path(m["dir"]).name == recipe:
                run.out_dir = Path(m["dir"])
        elif (m := SUMMARY_RE.match(line)) and m["state"] == "built":
            run.built.append(m["recipe"])
    if recipe not in run.built:
        raise BenchError(f"kronos did not rebuild {recipe} (log: {log}); is it a recipe for {target}?")
    return run


def kronos_build_settings(out_dir: Path, recipe: str) -> tuple[list[str], str]:
    """(profiles, DEB_BUILD_OPTIONS) kronos used: from its build log, else from recipe.toml."""
    for log in sorted(out_dir.glob("*.build")):
        for line in log.read_text(errors="replace").splitlines():
            m = re.match(r"^kronos: DEB_BUILD_OPTIONS=(.*) profiles=(\S+)\s*$", line)
            if m:
                profiles = [] if m[2] == "none" else m[2].split(",")
                return profiles, m[1].strip()
    with (ROOT / "recipes" / recipe / "recipe.toml").open("rb") as f:
        build = tomllib.load(f).get("build", {})
    opts = [str(o) for o in build.get("options", [])]
    if not any(o.startswith("parallel=") for o in opts):
        opts.append(f"parallel={os.cpu_count() or 1}")
    return [str(p) for p in build.get("profiles", [])], " ".join(opts)
