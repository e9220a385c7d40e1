"""The smoke VM without QEMU: its exact command line, the staged waits against a serial log written by a
stand-in for QEMU, the port checks, and that the process dies with the block and with kronos."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from kronos.errors import SmokeError
from kronos.run import die_with_parent, spawn
from kronos.smoke import sshkey, vm


def _spec(tmp_path: Path, port: int = 2222, qemu: str = vm.QEMU) -> vm.VmSpec:
    files = {}
    for name in ("xen.elf", "vmlinuz", "initrd.img", "dom0.img"):
        files[name] = tmp_path / name
        files[name].write_bytes(b"x")
    return vm.VmSpec(xen=files["xen.elf"], kernel=files["vmlinuz"], initrd=files["initrd.img"],
                     disk=files["dom0.img"], run_dir=tmp_path / "run", port=port,
                     dom0_args=("kronos.ssh_key=ssh-ed25519:AAAA",), qemu=qemu)


def test_qemu_argv(tmp_path: Path) -> None:
    t = tmp_path
    assert vm.qemu_argv(_spec(tmp_path)) == [
        "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "qemu64", "-m", "3072", "-smp", "2",
        "-nodefaults", "-display", "none", "-vga", "none", "-monitor", "none", "-parallel", "none",
        "-serial", f"file:{t}/run/serial.log", "-no-reboot",
        "-kernel", f"{t}/xen.elf",
        "-append", "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot console_timestamps=boot"
                   " dom0_mem=1536M,max:1536M",
        "-initrd", f"{t}/vmlinuz root=/dev/vda rw console=hvc0 net.ifnames=0 kronos.ssh_key=ssh-ed25519:AAAA,"
                   f"{t}/initrd.img",
        "-drive", f"file={t}/dom0.img,if=virtio,format=raw,snapshot=on",
        "-netdev", "user,id=n0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,hostfwd=tcp:127.0.0.1:2222-:22",
        "-device", "virtio-net-pci,netdev=n0"]


def test_module_words() -> None:
    assert vm._module(Path("/a,b/vmlinuz"), ("x=1,2",)) == "/a,,b/vmlinuz x=1,,2"
    with pytest.raises(SmokeError, match=r"may not be empty or contain white space: '/my dir/vmlinuz'"):
        vm._module(Path("/my dir/vmlinuz"))


def test_die_with_parent_wraps_argv() -> None:
    assert die_with_parent(["qemu", Path("/x")]) == ["setpriv", "--pdeathsig", "KILL", "--", "qemu", "/x"]


def test_timeouts_from_env() -> None:
    assert vm.Timeouts.from_env({}) == vm.Timeouts(60.0, 120.0, 240.0)
    assert vm.Timeouts.from_env({"KRONOS_SMOKE_TIMEOUT_SSH": "30"}).ssh == 30.0
    assert vm.Timeouts.from_env({}).checks == 900.0
    assert vm.Timeouts.from_env({"KRONOS_SMOKE_TIMEOUT_CHECKS": "5"}).checks == 5.0
    for bad in ("soon", "0", "-5", "nan"):
        with pytest.raises(SmokeError, match=rf"^environment KRONOS_SMOKE_TIMEOUT_BANNER: '{bad}' is not a positive"):
            vm.Timeouts.from_env({"KRONOS_SMOKE_TIMEOUT_BANNER": bad})


def test_port_in_use_and_out_of_range() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SmokeError, match=rf"^port {port} on 127.0.0.1 is in use; choose another with --port$"):
            vm.check_port(port)
    vm.check_port(port)
    with pytest.raises(SmokeError, match=r"^--port 70000: not a TCP port number$"):
        vm.check_port(70000)
    assert vm.free_port() > 0


def _server(reply: bytes) -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()

    def serve() -> None:
        with s:
            conn, _ = s.accept()
            with conn:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    port: int = s.getsockname()[1]
    return port


def test_ssh_counts_only_a_banner() -> None:
    assert vm.ssh_answers(_server(b"SSH-2.0-OpenSSH_9.2p1\r\n"))
    assert not vm.ssh_answers(_server(b""))  # QEMU's forwarder accepts, then drops: not up
    assert not vm.ssh_answers(vm.free_port())


# --- a stand-in for QEMU: writes the serial log it is given, then sleeps or exits ------------------


def _fake_qemu(tmp_path: Path, serial: str, then: str = "time.sleep(60)", stderr: str = "") -> str:
    script = tmp_path / "fake-qemu"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys, time
        args = sys.argv[1:]
        path = args[args.index("-serial") + 1].removeprefix("file:")
        with open(path, "w") as f:
            f.write({serial!r})
        sys.stderr.write({stderr!r})
        {then}
        """))
    script.chmod(0o755)
    return str(script)


def _boot(tmp_path: Path, qemu: str, timeouts: vm.Timeouts, stage: str) -> vm.Vm:
    with vm.running(_spec(tmp_path, vm.free_port(), qemu), timeouts) as machine:
        getattr(machine, stage)()
        return machine


FAST = vm.Timeouts(banner=3, dom0_kernel=3, ssh=1)


def test_banner_then_dom0_kernel(tmp_path: Path) -> None:
    qemu = _fake_qemu(tmp_path, "(XEN) [    0.000000] Xen version 4.17.5 (root@) (gcc)\nLinux version 6.1.0-41\n")
    machine = _boot(tmp_path, qemu, FAST, "wait_dom0_kernel")
    assert set(machine.times) == {"dom0-kernel"}
    assert machine.process.poll() is not None, "QEMU outlived the block"


def test_panic_fails_at_once(tmp_path: Path) -> None:
    qemu = _fake_qemu(tmp_path, "(XEN) Xen version 4.17.5\n[    3.1] Kernel panic - not syncing: VFS: Unable to"
                                " mount root fs on unknown-block(0,0)\n\n[    3.2] CPU: 0 PID: 1\n")
    start = time.monotonic()
    with pytest.raises(SmokeError, match=r"^smoke stage dom0-ssh: panic in the serial log: \[    3.1\] Kernel panic"
                                         r" - not syncing: VFS: Unable to mount root fs on unknown-block\(0,0\) /"
                                         r" \[    3.2\] CPU: 0 PID: 1 \(serial log: .*/run/serial.log\)$"):
        _boot(tmp_path, qemu, vm.Timeouts(ssh=60), "wait_ssh")
    assert time.monotonic() - start < 10


def test_initramfs_giving_up_fails_at_once(tmp_path: Path) -> None:
    qemu = _fake_qemu(tmp_path, "Xen version 4.17.5\nALERT!  /dev/vdz does not exist.  Dropping to a shell!\n")
    with pytest.raises(SmokeError, match=r"^smoke stage dom0-ssh: panic in the serial log: ALERT!  /dev/vdz does not"
                                         r" exist.  Dropping to a shell! \(serial log: "):
        _boot(tmp_path, qemu, vm.Timeouts(ssh=60), "wait_ssh")


def test_timeout_names_the_stage_and_the_serial_log(tmp_path: Path) -> None:
    qemu = _fake_qemu(tmp_path, "SeaBIOS\n")
    with pytest.raises(SmokeError, match=r"^smoke stage xen-banner: Xen did not print its banner within 1 s"
                                         r" \(serial log: .*/run/serial.log\)$"):
        _boot(tmp_path, qemu, vm.Timeouts(banner=1), "wait_banner")
    qemu = _fake_qemu(tmp_path, "Xen version 4.17.5\nLinux version 6.1\n")
    with pytest.raises(SmokeError, match=r"^smoke stage dom0-ssh: dom0 ssh not up within 1 s"):
        _boot(tmp_path, qemu, FAST, "boot")


def test_qemu_exit_is_reported_with_its_last_line(tmp_path: Path) -> None:
    qemu = _fake_qemu(tmp_path, "", then="sys.exit(1)",
                      stderr="qemu-system-x86_64: -netdev user: Could not set up host forwarding rule\n")
    with pytest.raises(SmokeError, match=r"^smoke stage xen-banner: QEMU exited with status 1: qemu-system-x86_64:"
                                         r" -netdev user: Could not set up host forwarding rule \(serial log: "):
        _boot(tmp_path, qemu, FAST, "wait_banner")


def test_missing_qemu_and_files(tmp_path: Path) -> None:
    with pytest.raises(SmokeError, match=r"^kronos-no-such-qemu not found; install qemu-system-x86 \(make host"):
        vm.running(_spec(tmp_path, qemu="kronos-no-such-qemu")).__enter__()
    spec = _spec(tmp_path, qemu="true")
    spec.initrd.unlink()
    with pytest.raises(SmokeError, match=r"initrd.img is missing; cannot boot the smoke VM$"):
        vm.running(spec).__enter__()


# --- the process goes with the block, and with kronos ---------------------------------------------


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_spawn_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    with spawn(["sh", "-c", "trap '' TERM; echo ready; sleep 60"], output=tmp_path / "out.log",
               stop_timeout=0.5) as proc:
        while b"ready" not in (tmp_path / "out.log").read_bytes():
            time.sleep(0.05)
    assert proc.returncode == -signal.SIGKILL


def test_child_dies_when_kronos_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""\
            import sys, time
            from pathlib import Path
            from kronos.run import die_with_parent, spawn
            with spawn(die_with_parent(["sleep", "300"]), output=Path({str(tmp_path / 'log')!r})) as p:
                print(p.pid, flush=True)
                time.sleep(300)
            """)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(0.3)  # setpriv has exec'd sleep by now
    assert not _gone(child, 0.1)
    parent.kill()
    parent.wait()
    assert _gone(child, 5), "the child outlived its SIGKILLed parent"


# --- the run's key pair ---------------------------------------------------------------------------


def test_key_pair_and_its_command_line_word(tmp_path: Path) -> None:
    pair = sshkey.make(tmp_path)
    assert pair.private.stat().st_mode & 0o077 == 0
    assert pair.public.startswith("ssh-ed25519 AAAA") and pair.public.count(" ") == 1
    word = pair.cmdline_word()
    assert word == "kronos.ssh_key=ssh-ed25519:" + pair.public.split()[1]
    assert " " not in word and "," not in word
    assert sshkey.make(tmp_path).public != pair.public
    with pytest.raises(SmokeError, match="unexpected public key"):
        sshkey.parse_public("ssh-rsa AAAA x")
