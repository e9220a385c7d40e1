"""What the remote checks decide, on recorded and fabricated command outputs: the live migration (proven
by the guest itself) and whether the running hypervisor is ours (its build_id against our .deb's)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kronos.errors import SmokeError
from kronos.smoke import hypervisor
from kronos.smoke.checks import verdicts

from .smoke_fixture import BUILD_ID as OURS
from .smoke_fixture import elf32 as _elf32
from .smoke_fixture import note as _note

GUEST = "kronos-guest"


def _console(*counters: int, up: int = 1) -> str:
    return "KRONOS-GUEST-UP\n" * up + "".join(f"KRONOS-GUEST-ALIVE {n}\n" for n in counters)


def _listing(domid: int, state: str = "-b----", name: str = GUEST) -> str:
    return ("Name                                        ID   Mem VCPUs\tState\tTime(s)\n"
            "Domain-0                                     0  1536     2     r-----     123.4\n"
            f"{name:<40} {domid:>5}   128     1     {state}       3.1\n")


BEFORE = _console(*range(1, 31))


def test_a_guest_that_moved_and_kept_counting_passes() -> None:
    after = BEFORE + "KRONOS-GUEST-ALIVE 31\nKRONOS-GUEST-ALIVE 32\nKRONOS-GUEST-ALIVE 33\n"
    assert verdicts.migration(GUEST, 3, BEFORE, after, _listing(4)) == []


def test_the_order_of_the_console_logs_does_not_matter() -> None:
    """The new domain may log into a file that sorts before the old one (guest-kronos-guest--incoming.log)."""
    after = "KRONOS-GUEST-ALIVE 31\nKRONOS-GUEST-ALIVE 32\n" + BEFORE
    assert verdicts.migration(GUEST, 3, BEFORE, after, _listing(4)) == []


# recorded on the real stack (2026-12-07, xen 4.17.5+72-g01140da4e8-1+deb12u0+kronos2 in QEMU): after
# `xl migrate` the new domain logs into guest-kronos-guest--incoming.log, which `cat guest-kronos-guest*.log`
# puts first; the old log ends with the guest freezing for the suspend
OLD_LOG = ("[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)\n"
           "KRONOS-GUEST-UP\n" + "".join(f"KRONOS-GUEST-ALIVE {n}\n" for n in range(1, 30))
           + "[   81.487553] Freezing user space processes\n[   81.496347] OOM killer disabled.\n")
INCOMING_LOG = ("[   81.526297] xen:grant_table: Grant tables using version 1 layout\n"
                "[   82.190716] OOM killer enabled.\n[   82.191199] Restarting tasks ... done.\n"
                "KRONOS-GUEST-ALIVE 30\nKRONOS-GUEST-ALIVE 31\nKRONOS-GUEST-ALIVE 32\n")


def test_the_recorded_migration_passes() -> None:
    before = OLD_LOG.split("[   81.4")[0]
    assert verdicts.migration(GUEST, 2, before, INCOMING_LOG + OLD_LOG, _listing(3)) == []


def test_a_guest_that_crashed_after_migrating_fails() -> None:
    """on_crash = "preserve": the crashed guest stays listed, under its new domid."""
    after = BEFORE + "KRONOS-GUEST-ALIVE 31\n"
    assert verdicts.migration(GUEST, 3, BEFORE, after, _listing(4, "----c-")) == [
        "kronos-guest (domid 4) crashed after the migration (state ----c-)"]


def test_a_counter_that_restarts_at_1_fails() -> None:
    after = BEFORE + _console(1, 2, 3)
    assert verdicts.migration(GUEST, 3, BEFORE, after, _listing(4)) == [
        "kronos-guest's liveness counter restarted: KRONOS-GUEST-ALIVE 1 after 30 (it booted again)",
        "kronos-guest printed KRONOS-GUEST-UP again after the migration: it booted again"]
    # the counter alone, without the boot marker
    assert verdicts.migration(GUEST, 3, BEFORE, BEFORE + "KRONOS-GUEST-ALIVE 1\n", _listing(4)) == [
        "kronos-guest's liveness counter restarted: KRONOS-GUEST-ALIVE 1 after 30 (it booted again)"]


def test_the_same_domid_fails() -> None:
    after = BEFORE + "KRONOS-GUEST-ALIVE 31\n"
    assert verdicts.migration(GUEST, 3, BEFORE, after, _listing(3)) == [
        "kronos-guest still has domid 3: it did not move to a new domain"]


def test_a_guest_that_went_silent_or_is_gone_fails() -> None:
    assert verdicts.migration(GUEST, 3, BEFORE, BEFORE, _listing(4)) == [
        "kronos-guest printed no liveness line after the migration (the last was 30)"]
    assert verdicts.migration(GUEST, 3, BEFORE, BEFORE + "KRONOS-GUEST-ALIVE 31\n",
                              _listing(5, name="kronos-guest--incoming")) == [
        "kronos-guest is not listed after the migration"]
    assert verdicts.migration(GUEST, 3, "", "KRONOS-GUEST-ALIVE 1\n", _listing(4)) == [
        "kronos-guest printed no liveness line before the migration"]


def test_xl_list() -> None:
    assert verdicts.xl_list(_listing(7, "--p---")) == {
        "Domain-0": verdicts.Domain("Domain-0", 0, "r-----"), GUEST: verdicts.Domain(GUEST, 7, "--p---")}
    assert verdicts.xl_list(_listing(7, "----c-"))[GUEST].crashed


# --- the running hypervisor --------------------------------------------------------------------------------

DEB = "our .deb's /boot/xen-4.17-amd64.gz"


def test_a_running_xen_with_our_build_id_is_ours() -> None:
    assert verdicts.running_hypervisor({"xen_major": "4", "build_id": OURS}, OURS, DEB) == []


def test_a_running_xen_whose_build_id_differs_fails() -> None:
    """Same files on disk or not: the running Xen says which build it is (08f8d0d compared two files)."""
    other = "0a7f35c1ee31e3a1d2b4d5c6e7f80912a3b4c5d6"
    assert verdicts.running_hypervisor({"build_id": other}, OURS, DEB) == [
        f"the running Xen's build_id {other} is not {OURS}, the build-id of the hypervisor in {DEB}"]
    assert verdicts.running_hypervisor({"xen_major": "4"}, OURS, DEB) == [
        "xl info reports no build_id: the running Xen does not say which build it is"]
    assert verdicts.running_hypervisor({"build_id": OURS}, "", DEB) == [
        f"the hypervisor in {DEB} has no build-id note: nothing to compare the running Xen with"]


def test_build_id_note_of_an_elf32() -> None:
    build_id = bytes.fromhex(OURS)
    # another note first (Xen's own), then GNU's build-id
    image = _elf32(_note(b"Xen\0", 0x12, b"\1\2\3") + _note(b"GNU\0", 3, build_id))
    assert hypervisor.elf_build_id(image) == OURS
    assert hypervisor.elf_build_id(_elf32(_note(b"Xen\0", 3, build_id))) == ""  # not GNU's
    with pytest.raises(SmokeError, match=r"^a truncated ELF image"):
        hypervisor.elf_build_id(image[:0x40])
    with pytest.raises(SmokeError, match=r"^not a little-endian ELF image$"):
        hypervisor.elf_build_id(b"MZ" + image)


def test_build_id_note_of_an_elf64_agrees_with_readelf() -> None:
    """This interpreter's own ELF64 file, against what binutils' readelf says of it."""
    import subprocess
    import sys

    exe = Path(sys.executable).resolve()
    out = subprocess.run(["readelf", "-n", str(exe)], capture_output=True, text=True, check=True).stdout
    expected = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Build ID:" in line]
    assert hypervisor.elf_build_id(exe.read_bytes()) == (expected[0] if expected else "")


def test_the_hypervisor_carries_its_build_id(tmp_path: Path) -> None:
    from .smoke_fixture import hypervisor_deb, publish, stack

    image = _elf32(_note(b"GNU\0", 3, bytes.fromhex(OURS)))
    deb = hypervisor_deb(tmp_path, gz=gzip.compress(image, mtime=0))
    from kronos.smoke import published

    root = publish(tmp_path / "repo", stack(), deb=deb)
    p = published.load(root, "bookworm", "kronos-archive-keyring.pgp")
    assert hypervisor.extract(p, "amd64", tmp_path / "cache").build_id == OURS
