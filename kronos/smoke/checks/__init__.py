"""The checks of a booted smoke VM: pytest with testinfra over paramiko, run as a library.

`run()` hands the booted VM to the checks in test_dom0.py through a plugin module (fixtures `smoke`,
`dom0`, `facts`), isolated from the project's own pytest configuration, and writes junit.xml and
facts.json (virt_caps, versions, what was skipped and why) into the run directory."""

from __future__ import annotations

import json
import os
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ...errors import SmokeError
from ..session import Booted

CHECKS = Path(__file__).with_name("test_dom0.py")


@dataclass(frozen=True)
class Shadow:
    """What our build says about the hypervisor's shadow paging (live migration of PV guests needs it)."""

    on: bool
    source: str  # where that was read


def shadow_paging(build_json: Path, deb_config: dict[str, str]) -> Shadow:
    """From the build's recorded configuration (build.json, "configuration" -> "xen.config"), else from
    the .config our .deb ships beside the hypervisor."""
    if build_json.is_file():
        config = json.loads(build_json.read_text()).get("configuration", {}).get("xen.config", {})
        if "CONFIG_SHADOW_PAGING" in config:
            return Shadow(config["CONFIG_SHADOW_PAGING"] == "y", f"{build_json} (xen.config)")
    if "CONFIG_SHADOW_PAGING" in deb_config:
        return Shadow(deb_config["CONFIG_SHADOW_PAGING"] == "y", "the hypervisor's .config in our .deb")
    raise SmokeError(f"neither {build_json} nor our xen .deb says whether shadow paging is on")


@dataclass
class Context:
    """What the checks are given."""

    booted: Booted
    shadow: Shadow
    facts: dict[str, Any]


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
        import testinfra

        # only the run's ssh_config: never ~/.ssh/config, no agent
        host = testinfra.get_host("paramiko://dom0", ssh_config=str(context.booted.ssh_config))
        yield host
        client = host.backend.__dict__.get("client")
        if client is not None:
            client.close()

    module.smoke = smoke  # type: ignore[attr-defined]
    module.facts = facts  # type: ignore[attr-defined]
    module.dom0 = dom0  # type: ignore[attr-defined]
    return module


def run(booted: Booted, shadow: Shadow) -> tuple[int, dict[str, Any]]:
    """Run the checks; returns pytest's exit code and the facts they recorded (also in facts.json)."""
    run_dir = booted.run_dir
    ini = run_dir / "pytest.ini"
    ini.write_text("[pytest]\n")
    context = Context(booted, shadow, {"shadow_paging": {"on": shadow.on, "source": shadow.source}})
    saved = os.environ.pop("SSH_AUTH_SOCK", None)
    try:
        code = pytest.main(
            [str(CHECKS), "-c", str(ini), "--rootdir", str(CHECKS.parent), "-p", "no:cacheprovider",
             "-p", "no:pytest11.testinfra", "-o", "junit_family=xunit2",
             f"--junitxml={run_dir / 'junit.xml'}", "-ra", "-v"],
            plugins=[plugin(context)],
        )
    finally:
        if saved is not None:
            os.environ["SSH_AUTH_SOCK"] = saved
        (run_dir / "facts.json").write_text(json.dumps(context.facts, indent=2, sort_keys=True) + "\n")
    return int(code), context.facts
