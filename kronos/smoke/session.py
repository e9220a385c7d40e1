"""One smoke run, as stages: read our repository, take Xen out of our .deb, make (or reuse) the dom0,
make the run's ssh key, boot QEMU and wait for Xen, dom0's kernel and dom0's sshd.

Everything a run leaves goes into its own directory (mode 0700: the run's private key is there):
serial.log, qemu.log, ssh_config, times.json (the seconds of each stage)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..archive.access import Archives
from ..cache import Cache
from ..clock import now
from ..config import Settings
from ..log import step
from ..publish.settings import load_repo_settings
from . import dom0, hypervisor, published, sshkey, vm


@dataclass
class Times:
    """Seconds per stage: the preparation stages by their duration, the VM's from QEMU's start."""

    prepare: dict[str, float] = field(default_factory=dict)
    vm: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.prepare[name] = round(time.monotonic() - start, 1)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"prepare": self.prepare, "since_qemu_start": self.vm}, indent=2) + "\n")


@dataclass(frozen=True)
class Booted:
    machine: vm.Vm
    key: sshkey.KeyPair
    repository: published.Published
    hypervisor: hypervisor.Hypervisor
    dom0: dom0.Dom0
    run_dir: Path
    ssh_config: Path  # for testinfra's paramiko backend: only this file, never ~/.ssh/config

    @property
    def port(self) -> int:
        return self.machine.spec.port


def new_run_dir(settings: Settings, target: str) -> Path:
    """out/smoke/<target>/<UTC time>, private; out/smoke/<target>/latest points at it."""
    home = settings.output_dir / "smoke" / target
    home.mkdir(parents=True, exist_ok=True)
    stamp = now().strftime("%Y%m%dT%H%M%SZ")
    run_dir = home / stamp
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = home / f"{stamp}-{n}"
    run_dir.mkdir(mode=0o700)
    latest = home / "latest"
    tmp = home / ".latest"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)
    return run_dir


def dom0_append(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """More dom0 kernel command-line words from KRONOS_SMOKE_DOM0_APPEND (debugging, and the test of a dom0
    that never boots: `root=/dev/vdz`); they come last, so they win."""
    env = os.environ if env is None else env
    return tuple(env.get("KRONOS_SMOKE_DOM0_APPEND", "").split())


def ssh_config(host: str, port: int, key: Path) -> str:
    """An ssh_config for the throwaway VM: its host key is new every run and recorded nowhere."""
    return (f"Host {host}\n  HostName {vm.HOST}\n  Port {port}\n  User root\n  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")


@contextlib.contextmanager
def booted(settings: Settings, target_name: str, run_dir: Path, times: Times, port: int | None = None,
           timeouts: vm.Timeouts | None = None, refresh: bool = False, suite: str = "") -> Iterator[Booted]:
    """Prepare and boot (our packages from `suite` of the repository, default the target's served suite);
    the block runs with dom0 reachable by ssh. QEMU is gone afterwards."""
    vm.require_qemu()  # before anything is made
    target = settings.target(target_name)
    arch = settings.architecture
    repo = load_repo_settings(settings.root)
    with step(f"Preparing the smoke VM for {target.name}"):
        with times.stage("repository"):
            ours = published.load(repo.path, suite or target.name, repo.keyring_name, repo.component, arch)
            ours.xen_hypervisor(arch)  # no xen: one line before anything is made
        with times.stage("hypervisor"):
            xen = hypervisor.extract(ours, arch, settings.cache_dir / "smoke" / "xen")
        with times.stage("dom0-image"):
            image = dom0.ensure(settings, Archives(settings, Cache(settings.cache_dir)), target, ours, refresh)
        key = sshkey.make(run_dir)
    chosen = port if port is not None else vm.free_port()
    config = run_dir / "ssh_config"
    config.write_text(ssh_config("dom0", chosen, key.private))
    spec = vm.VmSpec(xen=xen.elf, kernel=image.kernel, initrd=image.initrd, disk=image.image, run_dir=run_dir,
                     port=chosen, dom0_args=(key.cmdline_word(), *dom0_append()))
    with vm.running(spec, timeouts) as machine:
        try:
            with step(f"Booting Xen and dom0 in QEMU (ssh on {vm.HOST}:{chosen})"):
                machine.boot()
            yield Booted(machine, key, ours, xen, image, run_dir, config)
        finally:
            times.vm.update(machine.times)
