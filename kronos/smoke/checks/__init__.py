"""The checks of a booted smoke VM: pytest with testinfra over paramiko, in a child process with a limit.

`run()` writes what the checks are given (`Context`: plain data, context.json) into the run directory
and runs `python -m kronos.smoke.checks` there under an overall time limit: a wedged guest or network
ends the run with one line, never hangs it. The child runs test_dom0.py through a plugin (fixtures
`smoke`, `dom0`, `facts`), isolated from the project's own pytest configuration, and writes junit.xml
and facts.json (virt_caps, versions, what was skipped and why) into the run directory; its output is
checks.log there.

The decisions the remote checks make (migration, the running hypervisor) are plain functions in
verdicts.py, tested against recorded and fabricated command outputs."""

from __future__ import annotations

import json
import sys
import time
import types
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ...errors import SmokeError
from ...log import info
from ...run import die_with_parent, spawn

CHECKS = Path(__file__).with_name("test_dom0.py")
SHADOW = "CONFIG_SHADOW_PAGING"


@dataclass(frozen=True)
class Shadow:
    """Whether the hypervisor being booted has shadow paging (live migration of PV guests needs it)."""

    on: bool
    source: str  # where that was read


def shadow_paging(deb_config: Mapping[str, str], deb: str, version: str, build_json: Path) -> Shadow:
    """From the .config our .deb ships beside the hypervisor being booted (deb: what to call it). The
    build's record (build.json, "configuration" -> "xen.config") is compared with it only when it is the
    record of that same version; a record that disagrees is an error, one of another version is ignored."""
    if SHADOW not in deb_config:
        raise SmokeError(f"{deb} does not say whether shadow paging is on ({SHADOW} is not in its .config)")
    on = deb_config[SHADOW] == "y"
    source = f"the .config in {deb}"
    if build_json.is_file():
        record = json.loads(build_json.read_text())
        recorded = record.get("configuration", {}).get("xen.config", {})
        if record.get("version") == version and SHADOW in recorded and (recorded[SHADOW] == "y") != on:
            raise SmokeError(f"{build_json} records {SHADOW}={recorded[SHADOW]} for xen {version}, but the"
                             f" hypervisor's .config in {deb} has {deb_config[SHADOW]}: rebuild and publish xen")
    return Shadow(on, source)


@dataclass(frozen=True)
class Context:
    """What the checks are given (plain data: it crosses into the child process as context.json)."""

    run_dir: Path
    port: int  # dom0's ssh on 127.0.0.1
    key: Path  # the run's private key, the only one offered
    shadow: Shadow
    ours: dict[str, str]  # our packages dom0 installs -> the repository's version
    gz_path: str  # the hypervisor's file in our .deb and in dom0: /boot/xen-4.17-amd64.gz
    gz_sha256: str  # that file's sha256 as our .deb ships it
    build_id: str  # the build-id note of the hypervisor in our .deb ("" when it has none)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data.update(run_dir=str(self.run_dir), key=str(self.key))
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Context:
        data = json.loads(text)
        data.update(run_dir=Path(data["run_dir"]), key=Path(data["key"]), shadow=Shadow(**data["shadow"]))
        return cls(**data)


def plugin(context: Context) -> types.ModuleType:
    """A pytest plugin (a module object) with the checks' fixtures: `smoke`, `facts`, `dom0`."""
    module = types.ModuleType("kronos_smoke_fixtures")

    @pytest.fixture(scope="session")
    def smoke() -> Context:
        return context

    @pytest.fixture(scope="session")
    def facts() -> dict[str, Any]:
        return context.facts

    @pytest.fixture(scope="session")
    def dom0() -> Iterator[Any]:
        from ..ssh import testinfra_host

        host = testinfra_host(context.port, context.key)  # the run's key only: no ~/.ssh, no agent
        yield host
        client = host.backend.__dict__.get("client")
        if client is not None:
            client.close()

    module.smoke = smoke  # type: ignore[attr-defined]
    module.facts = facts  # type: ignore[attr-defined]
    module.dom0 = dom0  # type: ignore[attr-defined]
    return module


def main(argv: list[str]) -> int:
    """The child: `python -m kronos.smoke.checks <context.json> [<checks file>]`; pytest's exit code."""
    context = Context.from_json(Path(argv[0]).read_text())
    checks = Path(argv[1]) if len(argv) > 1 else CHECKS
    run_dir = context.run_dir
    ini = run_dir / "pytest.ini"
    ini.write_text("[pytest]\n")
    context.facts["shadow_paging"] = {"on": context.shadow.on, "source": context.shadow.source}
    try:
        return int(pytest.main(
            [str(checks), "-c", str(ini), "--rootdir", str(checks.parent), "-p", "no:cacheprovider",
             "-p", "no:pytest11.testinfra", "-o", "junit_family=xunit2",
             f"--junitxml={run_dir / 'junit.xml'}", "-ra", "-v"],
            plugins=[plugin(context)],
        ))
    finally:
        (run_dir / "facts.json").write_text(json.dumps(context.facts, indent=2, sort_keys=True) + "\n")


def run(context: Context, what: str, limit: float, checks: Path | None = None) -> tuple[int, dict[str, Any]]:
    """Run the checks (test_dom0.py unless given) in a child process (it dies with kronos); returns pytest's
    exit code and the facts they recorded (facts.json). what names the run in the error line ("smoke of
    bookworm"). Past limit seconds the child is stopped and that is one SmokeError line."""
    checks = checks or CHECKS
    run_dir = context.run_dir
    (run_dir / "context.json").write_text(context.to_json())
    (run_dir / "facts.json").unlink(missing_ok=True)
    output = run_dir / "checks.log"
    argv = die_with_parent([sys.executable, "-m", "kronos.smoke.checks", run_dir / "context.json", checks])
    deadline = time.monotonic() + limit
    with spawn(argv, output=output, stop_timeout=5.0) as child:
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        code = child.poll()
    if code is None:
        raise SmokeError(f"{what}: the checks did not finish within {limit:g} s (a wedged guest or network?);"
                         f" stopped them, see {output}")
    info(output.read_text(errors="replace").rstrip())
    try:
        facts: dict[str, Any] = json.loads((run_dir / "facts.json").read_text())
    except (OSError, ValueError):
        facts = {}
    return code, facts
