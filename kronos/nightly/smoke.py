"""The night's smoke: each [nightly] smoke target whose staging suite has xen is booted from staging
(kronos smoke --suite <target>-staging). A verdict is keyed by what it booted (the dom0 image's key,
the hypervisor's sha256, the staging suite's Packages) and a green one is reused while those are
unchanged. When a smoke fails, every package of ours that dom0 installs and that changed since the
last green smoke of that target is held back."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import interrupt
from ..cache import sha256_file
from ..config import Settings
from ..errors import KronosError, SmokeError
from ..keys import content_key
from ..log import info

if TYPE_CHECKING:
    from .command import Night

_CHECKS_FAILED = re.compile(r"^smoke checks failed")


def junit_cases(path: Path) -> list[dict[str, str]]:
    """Each JUnit test case: its name and result (passed, failed, error, skipped) and the message."""
    if not path.is_file():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        result, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                result = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                message = (found.get("message") or "").splitlines()[0] if found.get("message") else ""
                break
        out.append({"name": f"{case.get('classname', '')}::{case.get('name', '')}", "result": result,
                    "message": message[:300]})
    return out


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _record(run_dir: Path | None, result: str, why: str = "") -> dict[str, Any]:
    rec: dict[str, Any] = {"result": result, "why": why, "run_dir": str(run_dir or ""), "cases": [],
                           "times": {}, "virt_caps": [], "artefacts": []}
    if run_dir is not None and run_dir.is_dir():
        rec["cases"] = junit_cases(run_dir / "junit.xml")
        rec["times"] = _read(run_dir / "times.json")
        rec["virt_caps"] = list(_read(run_dir / "facts.json").get("virt_caps", []))
        rec["artefacts"] = sorted(p.name for p in run_dir.iterdir() if p.is_file() and p.name != "ssh_config")
    return rec


def smoke_key(settings: Settings, target: str, suite: str) -> tuple[str, set[str]]:
    """What a smoke of suite boots, as one key, and the names of the binaries of ours dom0 installs."""
    from ..archive.access import Archives
    from ..cache import Cache
    from ..publish.settings import load_repo_settings
    from ..smoke import dom0, published

    repo = load_repo_settings(settings.root)
    arch = settings.architecture
    ours = published.load(repo.path, suite, repo.keyring_name, repo.component, arch)
    hyp = ours.xen_hypervisor(arch)
    key, _ = dom0.dom0_key(settings, Archives(settings, Cache(settings.cache_dir)), settings.target(target), ours)
    names = set(dom0.expected_versions(ours, arch)) | {hyp.name}
    # the checks themselves too: stricter checks are run, not answered by a verdict of the old ones
    checks = Path(dom0.__file__).with_name("checks")
    code = {p.name: sha256_file(p) for p in sorted(checks.iterdir()) if p.suffix in (".py", ".ml")}
    return content_key({"dom0": key, "hypervisor": hyp.sha256, "packages": ours.packages_sha256,
                        "checks": code}), names


def smoke_staging(settings: Settings, night: Night, targets: list[str], retries: int,
                  ) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Smoke every chosen target; (target -> why its smoke failed, target -> the recipes dom0 installs
    that changed since its last green smoke). Each target's record goes into night.smoke."""
    from ..publish.publisher import staging
    from ..smoke.command import smoke

    failed: dict[str, str] = {}
    changed: dict[str, set[str]] = {}
    home = settings.output_dir / "nightly" / "smoke"
    for target in [t for t in settings.nightly.smoke if t in targets]:
        suite = staging(target)
        try:
            key, names = smoke_key(settings, target, suite)
        except KronosError as e:
            why = f"no xen in {suite}: nothing to boot" if "no xen in the repository" in str(e) else str(e)
            night.smoke[target] = _record(None, "not run", why)
            info(f"smoke of {target}: not run: {why}")
            continue
        mine = {p.recipe: p.version for p in (d.package for d in night.decisions if d.package.target == target)
                if any(b.split("_", 1)[0] in names for b in p.binaries)}
        green = _read(home / target / "green.json")
        changed[target] = {r for r, v in mine.items() if green.get("versions", {}).get(r) != v}
        kept = _read(home / target / f"{key[:24]}.json")
        if kept.get("result") == "passed":
            night.smoke[target] = {**kept, "reused": True}
            info(f"smoke of {target}: passed, stored (nothing it boots changed since {kept.get('at', '?')})")
            continue
        rec: dict[str, Any] = {}
        for attempt in range(1, retries + 2):
            try:
                rec = _record(smoke(settings, target, suite=suite), "passed")
            except SmokeError as e:
                interrupt.check()
                package_fault = bool(_CHECKS_FAILED.match(str(e)))
                rec = _record(_latest(settings, target), "failed", str(e))
                rec["failure"] = "package" if package_fault else "infrastructure"
                if not package_fault and attempt <= retries:
                    info(f"smoke of {target} failed for the infrastructure ({e}); again (attempt {attempt + 1})")
                    continue
            rec["attempts"] = attempt
            break
        rec.update(key=key, at=night.run_id, reused=False)
        home.joinpath(target).mkdir(parents=True, exist_ok=True)
        (home / target / f"{key[:24]}.json").write_text(json.dumps(rec, indent=1, sort_keys=True))
        night.smoke[target] = rec
        if rec["result"] == "passed":
            (home / target / "green.json").write_text(json.dumps({"at": night.run_id, "versions": mine}))
            if rec.get("attempts", 1) > 1:
                rec["failure"] = "flaky"
        else:
            failed[target] = str(rec["why"])
    return failed, changed


def _latest(settings: Settings, target: str) -> Path | None:
    latest = settings.output_dir / "smoke" / target / "latest"
    return latest.resolve() if latest.exists() else None
