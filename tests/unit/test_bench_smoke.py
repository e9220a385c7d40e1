"""bench.smoke's stages: dom0's boot split at its initramfs and systemd (from its kernel's stamps in the
serial log), each check's time, and together exactly QEMU's start to the last check."""

from __future__ import annotations

from bench.smoke import dom0_marks, stages

SERIAL = ("(XEN) [    3.264691] mcheck_poll: Machine check polling timer started.\n"
          "[   21.785348] Run /init as init process\n"
          "Begin: Loading essential drivers ... done.\n"
          "[   46.305408] systemd[1]: systemd 252.39-1~deb12u2 running in system mode (+PAM +AUDIT)\n")
TIMES = {"prepare": {"checks": 151.2},
         "since_qemu_start": {"xen-banner": 1.5, "dom0-kernel": 30.3, "dom0-ssh": 151.7, "checks-done": 302.9}}
CASES = [("test_xl_info_and_virt_caps", 16.8), ("test_live_migration_to_localhost", 132.7)]


def test_dom0_marks() -> None:
    assert dom0_marks(SERIAL) == {"init": 21.785348, "systemd": 46.305408}
    assert dom0_marks("") == {}


def test_stages_add_up_to_the_last_check() -> None:
    row = stages(TIMES, SERIAL, CASES)
    assert row == {"xen to its banner": 1.5, "xen to dom0's kernel": 28.8, "dom0 kernel to its initramfs": 21.8,
                   "dom0 initramfs to systemd": 24.5, "dom0 systemd to ssh": 75.1, "xl_info_and_virt_caps": 16.8,
                   "live_migration_to_localhost": 132.7, "harness (start, stop, collect)": 1.7}
    assert round(sum(row.values()), 1) == 302.9
    without = stages(TIMES, "", CASES)  # no stamps in the serial log: dom0's boot in one piece
    assert without["dom0 kernel to ssh"] == 121.4 and "dom0 systemd to ssh" not in without
