"""A Dask cluster of kronos on loopback for the tests and bench/distributed.py: a `kronos scheduler` and
`kronos worker`s, each worker with a dockerd of its own (its own socket, data root and exec root) beside
the machine's. It imports nothing of the test suite (the benchmark uses it too)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RUN = Path("/run/kronos-test")  # sockets: short paths (a unix socket's path has at most 107 bytes)
DATA = Path("/var/lib/kronos-test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(ready: object, what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)
    raise AssertionError(f"{what} not ready within {timeout} s: {log.read_text(errors='replace')[-3000:]}")


@dataclass
class Dockerd:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"unix://{RUN / self.name / 'docker.sock'}"

    def docker(self, *args: str) -> str:
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, check=True,
                              timeout=120).stdout


@contextlib.contextmanager
def dockerd(name: str, logs: Path) -> Iterator[Dockerd]:
    """A dockerd of its own, stopped and its data root removed at the end."""
    run, data = RUN / name, DATA / name
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    log = logs / f"dockerd-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["dockerd", "--host", f"unix://{run / 'docker.sock'}", "--data-root", str(data),
                                 "--exec-root", str(run / "exec"), "--pidfile", str(run / "docker.pid"),
                                 "--iptables=false", "--bridge=none"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    d = Dockerd(name, proc, log)

    def answers() -> bool:
        return subprocess.run(["docker", "-H", d.host, "info"], capture_output=True, check=False).returncode == 0

    try:
        _wait(answers, f"dockerd {name}", proc, log)
        yield d
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            ids = d.docker("ps", "-aq").split()
            if ids:
                d.docker("rm", "-f", *ids)
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)
        # dockerd leaves its default network namespace mounted under its exec root
        subprocess.run(["umount", str(run / "exec" / "netns" / "default")], capture_output=True, check=False)
        shutil.rmtree(run, ignore_errors=True)


@dataclass
class Cluster:
    root: Path  # the project the scheduler and workers run in (their settings: its kronos.toml)
    kronos: Path  # the program
    environ: dict[str, str]  # their environment
    address: str
    logs: Path
    engines: dict[str, Dockerd]
    scheduler: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    tls: dict[str, tuple[Path, Path, Path]] = field(default_factory=dict)  # party -> (CA, certificate, key)

    def tls_args(self, party: str) -> list[str]:
        """--tls-ca/--tls-cert/--tls-key of a party ("scheduler", "client", a worker's name), if any."""
        if party not in self.tls:
            return []
        ca, cert, key = self.tls[party]
        return ["--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]

    def env(self) -> dict[str, str]:
        return dict(self.environ)

    def start_scheduler(self) -> None:
        port = int(self.address.rsplit(":", 1)[1])
        log = self.logs / "scheduler.log"
        with log.open("ab") as out:
            self.scheduler = subprocess.Popen([str(self.kronos), "scheduler", "--port", str(port), "--attempts", "3",
                                               *self.tls_args("scheduler")],
                                              cwd=self.root, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)

        def listens() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        _wait(listens, "kronos scheduler", self.scheduler, log)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen([str(self.kronos), "worker", "--scheduler", self.address, "--name", name,
                                     "--docker-host", self.engines[name].host, "--slots", "1",
                                     "--work", str(self.logs.parent / f"work-{name}"), *self.tls_args(name)],
                                    cwd=self.root, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.workers[name] = proc
        _wait(lambda: "Registered to:" in log.read_text(errors="replace").split("Starting Worker plugin")[-1],
              f"kronos worker {name}", proc, log)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(60)

    def stop(self) -> None:
        for proc in [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]:
            if proc.poll() is None:
                self.kill(proc, signal.SIGTERM)


@contextlib.contextmanager
def cluster(root: Path, kronos: Path, env: dict[str, str], logs: Path, names: tuple[str, ...] = ("w1", "w2"),
            tls: dict[str, tuple[Path, Path, Path]] | None = None) -> Iterator[Cluster]:
    """A scheduler on a free loopback port and one worker per name, each on a dockerd of its own; with
    `tls` (each party's CA, certificate and key), over tls:// with mutual TLS."""
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        engines = {n: stack.enter_context(dockerd(f"{n}-{os.getpid()}", logs)) for n in names}
        scheme = "tls" if tls else "tcp"
        c = Cluster(root, kronos, env, f"{scheme}://127.0.0.1:{free_port()}", logs, {n: engines[n] for n in names},
                    tls=dict(tls or {}))
        stack.callback(c.stop)
        c.start_scheduler()
        for n in names:
            c.start_worker(n)
        yield c
