"""`kronos smoke`: one run in its own directory (out/smoke/<target>/<time>): boot, run the checks, keep
the artefacts (serial.log, qemu.log, xl-dmesg.txt, guest-console.log, junit.xml, facts.json) and the
time of each stage (times.json) whatever happens."""

from __future__ import annotations

import time
from pathlib import Path

from ..config import Settings
from ..errors import SmokeError
from ..log import info, step
from . import checks, ssh, vm
from .session import Booted, Times, booted, new_run_dir

ARTEFACTS = {"xl-dmesg.txt": ["xl", "dmesg"],
             "guest-console.log": ["sh", "-c", "tail -n +1 /var/log/xen/console/*.log 2>/dev/null || true"]}


def collect(b: Booted) -> None:
    """The hypervisor's log and the guests' consoles, from dom0 into the run directory (bounded: each ssh
    step has its timeout). A dom0 that does not answer any more is said, not raised: the checks' own
    failure is the run's."""
    try:
        with ssh.session(b.port, b.key.private) as client:
            for name, argv in ARTEFACTS.items():
                result = ssh.run(client, argv, timeout=60, check=False)
                (b.run_dir / name).write_text(result.stdout + result.stderr)
    except SmokeError as e:
        info(f"could not collect the logs from dom0: {e}")


def context(b: Booted, shadow: checks.Shadow) -> checks.Context:
    """What the checks are given, as plain data."""
    xen = b.hypervisor
    ours = {name: b.repository.binary(name).version for name in sorted(b.dom0.ours)}
    return checks.Context(run_dir=b.run_dir, port=b.port, key=b.key.private, shadow=shadow, ours=ours,
                          gz_path=xen.gz_path, gz_sha256=xen.gz_sha256, build_id=xen.build_id)


def smoke(settings: Settings, target: str, port: int | None = None, keep: bool = False,
          timeouts: vm.Timeouts | None = None, refresh: bool = False, suite: str = "") -> Path:
    """Boot, check, tear down; returns the run directory. A failed check is one SmokeError line. suite:
    the repository's suite to take our packages from (default: the target's served suite)."""
    settings.target(target)  # an unknown target is one line before a run directory is made
    timeouts = timeouts or vm.Timeouts.from_env()
    if port is not None:
        vm.check_port(port)
    run_dir = new_run_dir(settings, target)
    times = Times()
    info(f"smoke run {run_dir}")
    try:
        with booted(settings, target, run_dir, times, port, timeouts, refresh,
                    suite) as b:
            xen = b.hypervisor
            shadow = checks.shadow_paging(xen.config, f"{xen.package} {xen.version}", xen.version,
                                          settings.output_dir / target / "xen" / "build.json")
            try:
                with step("Checking dom0 and a PV guest (pytest + testinfra)"), times.stage("checks"):
                    code, facts = checks.run(context(b, shadow), f"smoke of {target}", timeouts.checks)
                b.machine.times["checks-done"] = round(b.machine.clock() - b.machine.started, 1)
            finally:
                collect(b)
            info(f"virt_caps: {' '.join(facts.get('virt_caps', []))}; shadow paging per {shadow.source}:"
                 f" {'on' if shadow.on else 'off'}")
            for what, reason in facts.get("skipped", {}).items():
                info(f"skipped {what}: {reason}")
            if keep:
                info(f"kept running: ssh -F {b.ssh_config} dom0 (Ctrl-C ends it)")
                while b.machine.process.poll() is None:
                    time.sleep(1)
            if code != 0:
                raise SmokeError(f"smoke checks failed (pytest exit code {code}); see {run_dir / 'junit.xml'}")
    finally:
        times.write(run_dir / "times.json")
    return run_dir
