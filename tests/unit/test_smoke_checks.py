"""The smoke checks' harness without a VM: where shadow paging is read, that pytest runs the checks in a
child process with our fixtures, isolated from the project's configuration, into junit.xml and facts.json,
and that the checks as a whole have a time limit."""

from __future__ import annotations

import contextlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kronos.errors import SmokeError
from kronos.smoke import checks

from .smoke_fixture import XEN


def _build_json(path: Path, shadow: str | None, version: str = XEN) -> Path:
    config = {"CONFIG_PV": "y"} | ({"CONFIG_SHADOW_PAGING": shadow} if shadow else {})
    path.write_text(json.dumps({"version": version, "configuration": {"xen.config": config}}))
    return path


DEB = f"xen-hypervisor-4.17-amd64 {XEN}"


def test_shadow_paging_is_read_from_the_hypervisor_being_booted(tmp_path: Path) -> None:
    """The .config our .deb ships says it, whatever a build record of another version says (08f8d0d took
    build.json first, so another build's record decided for the hypervisor being booted)."""
    other = _build_json(tmp_path / "other.json", "y", version="4.17.5+72-g01140da4e8-1+deb12u0+kronos9")
    off = checks.shadow_paging({"CONFIG_SHADOW_PAGING": "n"}, DEB, XEN, other)
    assert off == checks.Shadow(False, f"the .config in {DEB}")
    on = checks.shadow_paging({"CONFIG_SHADOW_PAGING": "y"}, DEB, XEN, tmp_path / "missing.json")
    assert on == checks.Shadow(True, f"the .config in {DEB}")
    silent = _build_json(tmp_path / "silent.json", None)
    assert checks.shadow_paging({"CONFIG_SHADOW_PAGING": "y"}, DEB, XEN, silent).on
    with pytest.raises(SmokeError, match=rf"^{re.escape(DEB)} does not say whether shadow paging is on"
                                         r" \(CONFIG_SHADOW_PAGING is not in its .config\)$"):
        checks.shadow_paging({}, DEB, XEN, _build_json(tmp_path / "on.json", "y"))


def test_shadow_paging_of_the_same_version_in_build_json_must_agree(tmp_path: Path) -> None:
    same = _build_json(tmp_path / "same.json", "y")
    assert checks.shadow_paging({"CONFIG_SHADOW_PAGING": "y"}, DEB, XEN, same).on
    with pytest.raises(SmokeError, match=rf"^{re.escape(str(same))} records CONFIG_SHADOW_PAGING=y for xen"
                                         rf" {re.escape(XEN)}, but the hypervisor's .config in"
                                         rf" {re.escape(DEB)} has n: rebuild and publish xen$"):
        checks.shadow_paging({"CONFIG_SHADOW_PAGING": "n"}, DEB, XEN, same)


def context(run_dir: Path, port: int = 9, key: Path | None = None) -> checks.Context:
    return checks.Context(run_dir=run_dir, port=port, key=key or run_dir / "id_ed25519",
                          shadow=checks.Shadow(True, "test"), ours={"xen-utils-4.17": XEN},
                          gz_path="/boot/xen-4.17-amd64.gz", gz_sha256="0" * 64, build_id="9031d9ab")


def test_context_crosses_as_json(tmp_path: Path) -> None:
    c = context(tmp_path)
    assert checks.Context.from_json(c.to_json()) == c


def test_checks_run_in_a_child_with_our_fixtures(tmp_path: Path) -> None:
    module = tmp_path / "checks_stand_in.py"
    module.write_text(
        "import pytest\n"
        "def test_sees_the_context(smoke, facts):\n"
        "    facts['virt_caps'] = ['pv', 'shadow']\n"
        "    assert smoke.shadow.on and smoke.build_id == '9031d9ab'\n"
        "def test_skips_with_a_reason(facts):\n"
        "    facts.setdefault('skipped', {})['live-migration'] = 'because'\n"
        "    pytest.skip('because')\n"
        "def test_fails():\n"
        "    assert 1 == 2\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code, facts = checks.run(context(run_dir), "smoke of bookworm", 60, module)
    assert code == pytest.ExitCode.TESTS_FAILED
    assert facts == {"virt_caps": ["pv", "shadow"], "skipped": {"live-migration": "because"},
                     "shadow_paging": {"on": True, "source": "test"}}
    assert json.loads((run_dir / "facts.json").read_text()) == facts
    cases: dict[str, Any] = {c.get("name"): c for c in ET.parse(run_dir / "junit.xml").iter("testcase")}
    assert set(cases) == {"test_sees_the_context", "test_skips_with_a_reason", "test_fails"}
    assert cases["test_sees_the_context"].find("failure") is None
    assert cases["test_skips_with_a_reason"].find("skipped") is not None
    assert cases["test_fails"].find("failure") is not None
    assert "1 failed, 1 passed, 1 skipped" in (run_dir / "checks.log").read_text()


def _children_naming(run_dir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(run_dir).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


HANGS = "import time\ndef test_hangs():\n    time.sleep(120)\n"


def test_checks_that_hang_end_at_the_limit(tmp_path: Path) -> None:
    module = tmp_path / "checks_stand_in.py"
    module.write_text(HANGS)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    start = time.monotonic()
    with pytest.raises(SmokeError, match=r"^smoke of bookworm: the checks did not finish within 1.5 s \(a wedged"
                                         rf" guest or network\?\); stopped them, see {run_dir / 'checks.log'}$"):
        checks.run(context(run_dir), "smoke of bookworm", 1.5, module)
    assert time.monotonic() - start < 10
    assert _children_naming(run_dir) == [], "the checks outlived their limit"


def test_kronos_smoke_ends_hung_checks_and_tears_the_vm_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`kronos smoke` with checks that hang: one line naming the limit, the VM's block left (QEMU stopped),
    times.json written."""
    from kronos.smoke import command, vm

    from .smoke_fixture import settings

    module = tmp_path / "checks_stand_in.py"
    module.write_text(HANGS)
    monkeypatch.setattr(checks, "CHECKS", module)
    left: list[str] = []

    @contextlib.contextmanager
    def booted(settings: Any, target: str, run_dir: Path, times: Any, *args: Any) -> Iterator[Any]:
        xen = SimpleNamespace(package="xen-hypervisor-4.17-amd64", version=XEN, config={"CONFIG_SHADOW_PAGING": "y"},
                              gz_path="/boot/xen-4.17-amd64.gz", gz_sha256="0" * 64, build_id="9031d9ab")
        machine = SimpleNamespace(spec=SimpleNamespace(port=vm.free_port()), times={}, started=0.0,
                                  clock=time.monotonic)
        b = SimpleNamespace(machine=machine, key=SimpleNamespace(private=run_dir / "id_ed25519"), hypervisor=xen,
                            repository=SimpleNamespace(binary=lambda name: SimpleNamespace(version=XEN)),
                            dom0=SimpleNamespace(ours={"xen-utils-4.17": XEN}), run_dir=run_dir,
                            port=machine.spec.port)
        try:
            yield b
        finally:
            left.append("vm")

    monkeypatch.setattr(command, "booted", booted)
    s = settings(tmp_path / "project")
    start = time.monotonic()
    with pytest.raises(SmokeError, match=r"^smoke of bookworm: the checks did not finish within 2 s"):
        command.smoke(s, "bookworm", timeouts=vm.Timeouts(checks=2))
    assert 2 <= time.monotonic() - start < 20  # the stand-in hung until the limit
    assert left == ["vm"]
    run_dir = (s.output_dir / "smoke" / "bookworm" / "latest").resolve()
    assert "checks" in json.loads((run_dir / "times.json").read_text())["prepare"]
    assert _children_naming(run_dir) == []


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
        "test_running_hypervisor_is_ours", "test_xenapi_imports",
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
