"""QEMU (TCG) booting our Xen as a multiboot kernel with a PV dom0, as a context manager.

QEMU always goes when the block ends (SIGTERM, then SIGKILL), and when kronos itself dies, SIGKILL
included (run.die_with_parent). The serial console goes to a file; waits are staged, each with a named
timeout, and fail at once when the serial log shows a panic or QEMU has exited. Every failure is one
SmokeError line naming the stage and the serial log."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SmokeError
from ..log import info
from ..run import die_with_parent, spawn

QEMU = "qemu-system-x86_64"
HOST = "127.0.0.1"
# QEMU's user network, spelled out: dom0 takes 10.0.2.15 statically (dom0-customize.sh) instead of
# asking its DHCP server (no dhclient in dom0, nothing to wait for in networking.service)
NETWORK = "net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3"
# -cpu max crashes the PV dom0 under TCG (BUILD-HOST.md); qemu64 boots it
XEN_CMDLINE = ("console=com1", "com1=115200,8n1", "loglvl=all", "guest_loglvl=all", "noreboot",
               "console_timestamps=boot")
DOM0_CMDLINE = ("root=/dev/vda", "rw", "console=hvc0", "net.ifnames=0")
BANNER = re.compile(r"Xen version \d+\.\d+")
DOM0_KERNEL = re.compile(r"Linux version \d+\.\d+")
# Xen's and Linux's panics, a crashed dom0, and initramfs-tools giving up on the root file system (it would
# wait in a shell until the ssh timeout)
PANIC = re.compile(r"Panic on CPU \d+|Kernel panic - not syncing|[Dd]om(?:ain )?0 crashed|Dropping to a shell!")
POLL = 0.5


@dataclass(frozen=True)
class Timeouts:
    """Seconds each stage may take: the boot's counted from QEMU's start, the checks' from their start."""

    banner: float = 60.0  # Xen prints "Xen version ..."
    dom0_kernel: float = 120.0  # dom0's Linux prints "Linux version ..."
    ssh: float = 240.0  # dom0's sshd answers with its banner through the forwarded port
    checks: float = 900.0  # the whole run of the checks (every remote command also has its own timeout)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Timeouts:
        """Defaults, overridden by KRONOS_SMOKE_TIMEOUT_BANNER, _DOM0_KERNEL, _SSH, _CHECKS (seconds)."""
        env = os.environ if env is None else env
        values: dict[str, float] = {}
        for f in dataclasses.fields(cls):
            name = f"KRONOS_SMOKE_TIMEOUT_{f.name.upper()}"
            if env.get(name):
                try:
                    values[f.name] = float(env[name])
                except ValueError:
                    values[f.name] = -1.0
                if not values[f.name] > 0:
                    raise SmokeError(f"environment {name}: '{env[name]}' is not a positive number of seconds")
        return cls(**values)


@dataclass(frozen=True)
class VmSpec:
    xen: Path  # the hypervisor ELF (gunzipped from our .deb)
    kernel: Path  # dom0's vmlinuz
    initrd: Path  # dom0's initrd
    disk: Path  # dom0's root file system; booted with snapshot=on, so it stays as it is
    run_dir: Path  # serial.log and qemu.log go here
    port: int  # 127.0.0.1:port forwards to dom0's port 22
    dom0_args: tuple[str, ...] = ()  # more dom0 kernel command-line words (the run's ssh key)
    memory_mib: int = 3072
    cpus: int = 2
    dom0_mem: str = "1536M"
    qemu: str = QEMU

    @property
    def serial_log(self) -> Path:
        return self.run_dir / "serial.log"

    @property
    def qemu_log(self) -> Path:
        return self.run_dir / "qemu.log"


def _module(path: Path, args: tuple[str, ...] = ()) -> str:
    """One multiboot module for -initrd: "path args", commas doubled (QEMU separates modules by ",")."""
    for word in (str(path), *args):
        if not word or any(c.isspace() for c in word):
            raise SmokeError(f"a multiboot module word may not be empty or contain white space: {word!r}")
    return " ".join((str(path), *args)).replace(",", ",,")


def qemu_argv(spec: VmSpec) -> list[str]:
    xen_args = (*XEN_CMDLINE, f"dom0_mem={spec.dom0_mem},max:{spec.dom0_mem}")
    modules = [_module(spec.kernel, (*DOM0_CMDLINE, *spec.dom0_args)), _module(spec.initrd)]
    return [
        spec.qemu,
        "-machine", "q35",
        "-accel", "tcg",
        "-cpu", "qemu64",
        "-m", str(spec.memory_mib),
        "-smp", str(spec.cpus),
        "-nodefaults",  # no default CD-ROM for dom0's udev to probe; every device we need is below
        "-display", "none",
        "-vga", "none",
        "-monitor", "none",
        "-parallel", "none",
        "-serial", f"file:{spec.serial_log}",
        "-no-reboot",
        "-kernel", str(spec.xen),
        "-append", " ".join(xen_args),
        "-initrd", ",".join(modules),
        "-drive", f"file={spec.disk},if=virtio,format=raw,snapshot=on",
        "-netdev", f"user,id=n0,{NETWORK},hostfwd=tcp:{HOST}:{spec.port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def check_port(port: int) -> None:
    """One error line when port cannot be bound on 127.0.0.1 (in use, or out of range)."""
    if not 0 < port < 65536:
        raise SmokeError(f"--port {port}: not a TCP port number")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as e:
            why = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e.strerror})"
            raise SmokeError(f"port {port} on {HOST} {why}; choose another with --port") from None


def ssh_answers(port: int, timeout: float = 2.0) -> bool:
    """Whether an ssh server greets through the forwarded port (QEMU accepts the connection itself and
    drops it when nothing listens in the guest, so only the banner counts)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


@dataclass
class Vm:
    """A running QEMU; the stage times (seconds since QEMU started) go to `times`."""

    spec: VmSpec
    process: subprocess.Popen[bytes]
    started: float
    timeouts: Timeouts
    times: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def serial(self) -> str:
        try:
            return self.spec.serial_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def panic(self) -> str | None:
        """The panic line in the serial log (and the line after it, which says why), if any."""
        lines = self.serial().splitlines()
        for i, line in enumerate(lines):
            if PANIC.search(line):
                following = [ln.strip() for ln in lines[i + 1:i + 3] if ln.strip()][:1]
                return " / ".join([line.strip(), *following])
        return None

    def _fail(self, stage: str, what: str) -> SmokeError:
        return SmokeError(f"smoke stage {stage}: {what} (serial log: {self.spec.serial_log})")

    def wait(self, stage: str, failure: str, timeout: float, ready: Callable[[], bool]) -> float:
        """Wait until ready() (checked every POLL s); fail at once on a panic or QEMU's exit, and when
        timeout seconds since QEMU's start have passed. Returns (and records) the seconds since start."""
        while True:
            if ready():
                took = self.clock() - self.started
                self.times[stage] = round(took, 1)
                info(f"{stage}: {took:.1f} s after QEMU started")
                return took
            panic = self.panic()
            if panic:
                raise self._fail(stage, f"panic in the serial log: {panic}")
            code = self.process.poll()
            if code is not None:
                why = last_line(self.spec.qemu_log)
                raise self._fail(stage, f"QEMU exited with status {code}" + (f": {why}" if why else ""))
            if self.clock() - self.started > timeout:
                raise self._fail(stage, f"{failure} within {timeout:g} s")
            time.sleep(POLL)

    def wait_banner(self) -> float:
        return self.wait("xen-banner", "Xen did not print its banner", self.timeouts.banner,
                         lambda: BANNER.search(self.serial()) is not None)

    def wait_dom0_kernel(self) -> float:
        return self.wait("dom0-kernel", "dom0's kernel did not start", self.timeouts.dom0_kernel,
                         lambda: DOM0_KERNEL.search(self.serial()) is not None)

    def wait_ssh(self) -> float:
        return self.wait("dom0-ssh", "dom0 ssh not up", self.timeouts.ssh, lambda: ssh_answers(self.spec.port))

    def boot(self) -> None:
        """All boot stages, in order."""
        self.wait_banner()
        self.wait_dom0_kernel()
        self.wait_ssh()


def require_qemu(qemu: str = QEMU) -> None:
    if shutil.which(qemu) is None:
        raise SmokeError(f"{qemu} not found; install qemu-system-x86 (make host does)")


@contextlib.contextmanager
def running(spec: VmSpec, timeouts: Timeouts | None = None) -> Iterator[Vm]:
    """QEMU for the block (not waited for: call Vm.boot()); gone afterwards, and if kronos dies."""
    require_qemu(spec.qemu)
    for path in (spec.xen, spec.kernel, spec.initrd, spec.disk):
        if not path.is_file():
            raise SmokeError(f"{path} is missing; cannot boot the smoke VM")
    check_port(spec.port)
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec.serial_log.unlink(missing_ok=True)
    with spawn(die_with_parent(qemu_argv(spec)), output=spec.qemu_log) as process:
        yield Vm(spec, process, time.monotonic(), timeouts or Timeouts())
