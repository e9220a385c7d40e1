"""The smoke checks' harness without a VM: what decides the migration check, and that pytest runs the
checks as a library with our fixtures, isolated from the project's configuration, into junit.xml and
facts.json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast

import pytest

from kronos.errors import SmokeError
from kronos.smoke import checks
from kronos.smoke.session import Booted


def _build_json(path: Path, shadow: str | None) -> Path:
    config = {"CONFIG_PV": "y"} | ({"CONFIG_SHADOW_PAGING": shadow} if shadow else {})
    path.write_text(json.dumps({"configuration": {"xen.config": config}}))
    return path


def test_shadow_paging_from_the_build_record_first(tmp_path: Path) -> None:
    on = checks.shadow_paging(_build_json(tmp_path / "on.json", "y"), {"CONFIG_SHADOW_PAGING": "n"})
    assert on == checks.Shadow(True, f"{tmp_path / 'on.json'} (xen.config)")
    off = checks.shadow_paging(_build_json(tmp_path / "off.json", "n"), {"CONFIG_SHADOW_PAGING": "y"})
    assert off == checks.Shadow(False, f"{tmp_path / 'off.json'} (xen.config)")


def test_shadow_paging_from_our_deb_when_the_build_record_is_silent(tmp_path: Path) -> None:
    silent = _build_json(tmp_path / "silent.json", None)
    assert checks.shadow_paging(silent, {"CONFIG_SHADOW_PAGING": "y"}).on
    assert not checks.shadow_paging(tmp_path / "missing.json", {"CONFIG_SHADOW_PAGING": "n"}).on
    with pytest.raises(SmokeError, match=r"says whether shadow paging is on$"):
        checks.shadow_paging(tmp_path / "missing.json", {})


class _Booted:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.ssh_config = run_dir / "ssh_config"


def test_checks_run_as_a_library_with_our_fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "checks_stand_in.py"
    module.write_text(
        "import pytest\n"
        "def test_sees_the_context(smoke, facts):\n"
        "    facts['virt_caps'] = ['pv', 'shadow']\n"
        "    assert smoke.shadow.on\n"
        "def test_skips_with_a_reason(facts):\n"
        "    facts.setdefault('skipped', {})['live-migration'] = 'because'\n"
        "    pytest.skip('because')\n"
        "def test_fails():\n"
        "    assert 1 == 2\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setattr(checks, "CHECKS", module)
    code, facts = checks.run(cast(Booted, _Booted(run_dir)), checks.Shadow(True, "test"))
    assert code == pytest.ExitCode.TESTS_FAILED
    assert facts == {"virt_caps": ["pv", "shadow"], "skipped": {"live-migration": "because"},
                     "shadow_paging": {"on": True, "source": "test"}}
    assert json.loads((run_dir / "facts.json").read_text()) == facts
    cases: dict[str, Any] = {c.get("name"): c for c in ET.parse(run_dir / "junit.xml").iter("testcase")}
    assert set(cases) == {"test_sees_the_context", "test_skips_with_a_reason", "test_fails"}
    assert cases["test_sees_the_context"].find("failure") is None
    assert cases["test_skips_with_a_reason"].find("skipped") is not None
    assert cases["test_fails"].find("failure") is not None


def test_the_real_checks_collect_in_order(tmp_path: Path) -> None:
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\n")
    names: list[str] = []

    class Collect:
        def pytest_collection_finish(self, session: pytest.Session) -> None:
            names.extend(item.name for item in session.items)

    code = pytest.main([str(checks.CHECKS), "--collect-only", "-q", "-c", str(ini), "--rootdir", str(tmp_path),
                        "-W", "error",
                        "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra"],
                       plugins=[checks.plugin(cast(checks.Context, None)), Collect()])
    assert code == pytest.ExitCode.OK
    assert names == [
        "test_xl_info_and_virt_caps", "test_xenstored_is_oxenstored", "test_our_packages_at_our_versions",
        "test_booted_hypervisor_is_the_file_from_our_deb", "test_xenapi_imports",
        "test_guest_boots_and_prints_its_marker", "test_ocaml_bindings_list_the_domains",
        "test_pause_and_unpause", "test_save_and_restore",
        "test_live_migration_to_localhost", "test_destroy_leaves_only_domain0"]


def test_run_directories_are_private_and_latest_follows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kronos.smoke.session import new_run_dir, ssh_config

    from .smoke_fixture import settings

    monkeypatch.setenv("KRONOS_NOW", "1796144400")
    s = settings(tmp_path / "project")
    first, second = new_run_dir(s, "bookworm"), new_run_dir(s, "bookworm")
    assert first.name == "20261201T170000Z" and second.name == "20261201T170000Z-2"
    assert first.stat().st_mode & 0o077 == 0
    assert (first.parent / "latest").resolve() == second
    config = ssh_config("dom0", 40022, tmp_path / "id_ed25519")
    assert "Port 40022\n" in config and "StrictHostKeyChecking no\n" in config
    assert "UserKnownHostsFile /dev/null\n" in config and f"IdentityFile {tmp_path / 'id_ed25519'}\n" in config
