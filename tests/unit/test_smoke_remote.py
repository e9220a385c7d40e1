"""The remote checks themselves (checks/test_dom0.py) against a scripted dom0: what they do with the
outputs of a guest that crashed after migrating, restarted, or never moved, and of a running Xen that is
not the build of our .deb. No VM: the dom0 answers each command from a script."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kronos.smoke.checks import test_dom0 as remote

from .smoke_fixture import BUILD_ID


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str = ""


def _console(*counters: int, up: int = 1) -> str:
    return "KRONOS-GUEST-UP\n" * up + "".join(f"KRONOS-GUEST-ALIVE {n}\n" for n in counters)


def _listing(domid: int, state: str = "-b----") -> str:
    return ("Name                                        ID   Mem VCPUs\tState\tTime(s)\n"
            "Domain-0                                     0  1536     2     r-----     123.4\n"
            f"kronos-guest                             {domid:>5}   128     1     {state}       3.1\n")


class Dom0:
    """A testinfra host that answers the guest's commands from a script: before `xl migrate` the guest is
    domid 3 with counters 1..30; after it, `after_console` and `after_listing`."""

    def __init__(self, after_console: str, after_listing: str, xl_info: str = "") -> None:
        self.migrated = False
        self.before = _console(*range(1, 31))
        self.after_console, self.after_listing = after_console, after_listing
        self.xl_info = xl_info
        self.commands: list[str] = []

    def run(self, command: str, *args: str) -> Result:
        cmd = command % tuple(shlex.quote(a) for a in args)
        self.commands.append(cmd)
        console = self.after_console if self.migrated else self.before
        if "xl migrate" in cmd:
            self.migrated = True
            return Result(0, "migration target: Ready to receive domain.\nMigration successful.\n")
        if "until [" in cmd or "for i in" in cmd:  # the waits for more liveness lines
            return Result(0, "")
        if "grep -c" in cmd:
            return Result(0, f"{console.count('KRONOS-GUEST-ALIVE')}\n")
        if "xl domid" in cmd:
            return Result(0, "3\n")
        if "xl list" in cmd:
            return Result(0, self.after_listing if self.migrated else _listing(3))
        if "xl info" in cmd:
            return Result(0, self.xl_info)
        if "sha256sum" in cmd:
            return Result(0, f"{'0' * 64}  /boot/xen-4.17-amd64.gz\n")
        if "cat /var/log/xen/console" in cmd:
            return Result(0, console)
        return Result(0, "")


def _smoke(tmp_path: Path) -> Any:
    return SimpleNamespace(shadow=SimpleNamespace(on=True, source="test"), run_dir=tmp_path, build_id=BUILD_ID,
                           gz_path="/boot/xen-4.17-amd64.gz", gz_sha256="0" * 64)


def _migrate(tmp_path: Path, dom0: Dom0) -> None:
    remote.test_live_migration_to_localhost(dom0, _smoke(tmp_path), {}, "kronos-guest")


def test_a_migrated_guest_that_runs_on_passes(tmp_path: Path) -> None:
    dom0 = Dom0(_console(*range(1, 36)), _listing(4))
    _migrate(tmp_path, dom0)
    assert dom0.migrated
    assert (tmp_path / "migration.txt").read_text().startswith("domid before: 3\n")


def test_a_guest_that_crashed_after_migrating_fails(tmp_path: Path) -> None:
    """on_crash = "preserve" keeps it listed: being listed is not running (08f8d0d passed it)."""
    with pytest.raises(AssertionError, match=r"crashed after the migration \(state ----c-\)"):
        _migrate(tmp_path, Dom0(_console(*range(1, 31)), _listing(4, "----c-")))


def test_a_guest_whose_counter_restarts_fails(tmp_path: Path) -> None:
    """A guest that booted again prints new liveness lines too, counting from 1 (08f8d0d passed it)."""
    after = _console(*range(1, 31)) + _console(1, 2, 3)
    with pytest.raises(AssertionError, match=r"liveness counter restarted: KRONOS-GUEST-ALIVE 1 after 30"):
        _migrate(tmp_path, Dom0(after, _listing(4)))


def test_a_guest_that_kept_its_domid_fails(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"still has domid 3: it did not move"):
        _migrate(tmp_path, Dom0(_console(*range(1, 36)), _listing(3)))


def _xl_info(build_id: str) -> str:
    return f"host                   : dom0\nxen_major              : 4\nbuild_id               : {build_id}\n"


def test_a_running_xen_that_is_another_build_fails(tmp_path: Path) -> None:
    """dom0's /boot holds our .deb's file (the same sha256), but the Xen that runs reports another
    build-id: not ours (08f8d0d compared the files on disk only)."""
    check = remote.test_running_hypervisor_is_ours
    check(Dom0("", "", _xl_info(BUILD_ID)), _smoke(tmp_path), {})
    other = "0a7f35c1ee31e3a1d2b4d5c6e7f80912a3b4c5d6"
    with pytest.raises(AssertionError, match=rf"the running Xen's build_id {other} is not {BUILD_ID}"):
        check(Dom0("", "", _xl_info(other)), _smoke(tmp_path), {})
