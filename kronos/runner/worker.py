"""`kronos worker`: Dask's own worker with Kronos's plugin, building jobs in its own engine.

The plugin holds what a build needs on this machine (the engine, the artefact store, a work directory),
removes the containers a killed worker left behind when it starts, and removes a job's containers as
soon as the scheduler takes the job away (the coordinator was stopped, or cancelled the run). The task
(`build_task`) is plain data in, plain data out: a BuildSpec's dict, a BuildResult's dict; files move
through the store, never through the scheduler. The task waits on the engine, not on Python work, so
the worker's event loop stays free to answer heartbeats during builds that take hours."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from .. import clean, owner
from ..build import JOB_LABEL
from ..cluster import Tls
from ..engine import Engine, get_engine
from ..errors import KronosError
from ..job import BuildSpec, Worker
from ..store import Store
from .execute import execute

PLUGIN = "kronos"
TOPIC = "kronos-build"  # the events a task logs: {"job", "key", "name", "event": "started"}
RESOURCE = "docker"  # what a worker offers (one unit per build slot) and each build asks one of


def certificate_identity(cert: Path) -> str:
    """The subject of a PEM certificate (RFC 4514): who a worker is under mutual TLS."""
    from cryptography import x509

    return str(x509.load_pem_x509_certificate(cert.read_bytes()).subject.rfc4514_string())


class KronosPlugin(WorkerPlugin):
    """The worker plugin: setup, teardown, and each task's transitions."""

    name = PLUGIN

    def __init__(self, docker_host: str | None, store: Path, work: Path, identity: str = "") -> None:
        self.docker_host, self.store_root, self.work, self.identity = docker_host, store, work, identity
        self.engine: Engine | None = None
        self.worker = Worker("")

    def setup(self, worker: Any) -> None:
        self.engine = get_engine(host=self.docker_host)
        self.worker = Worker(str(worker.name), str(worker.address), self.identity,
                             str(getattr(self.engine, "where", "")))
        self.work.mkdir(parents=True, exist_ok=True)
        clean.sweep(self.engine)  # the containers of a worker that was killed on this engine

    def teardown(self, worker: Any) -> None:
        """The worker stops: its running builds' containers go with it."""
        if self.engine is not None:
            self._remove(lambda labels: labels.get(owner.RUN) == dict(owner.labels())[owner.RUN])

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if start == "executing" and finish not in ("memory", "error"):  # cancelled or taken away
            threading.Thread(target=self._remove, args=(lambda labels: labels.get(JOB_LABEL) == str(key),),
                             name="kronos-cancel", daemon=True).start()

    def _remove(self, which: Any) -> None:
        assert self.engine is not None
        with contextlib.suppress(KronosError):
            for found in self.engine.containers():
                if which(found.labels):
                    self.engine.remove_container(found.id)


def build_task(data: dict[str, Any]) -> dict[str, Any]:
    """One build on this worker (run by Dask in one of the worker's threads)."""
    from distributed import get_worker

    dask_worker = get_worker()
    plugin = dask_worker.plugins[PLUGIN]
    assert isinstance(plugin, KronosPlugin) and plugin.engine is not None
    spec = BuildSpec.from_data(data)
    key = spec.job_key()
    dask_worker.log_event(TOPIC, {"job": spec.name, "key": key, "name": plugin.worker.name, "event": "started"})
    log = plugin.work / "logs" / f"{key}.build"
    try:
        store = Store(plugin.store_root, local=plugin.work / "held")  # what it read once, it has
        result = execute(spec, plugin.engine, store, plugin.work, log, plugin.worker,
                         plugin.work / "locks")
    finally:
        log.unlink(missing_ok=True)
    return result.to_data()


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def schedule(host: str, port: int, attempts: int, tls: Tls | None) -> None:
    """Run a Dask scheduler (for `kronos scheduler`): a job whose worker was lost is given to another
    worker at most `attempts` times in all (Dask's allowed-failures)."""
    import dask.config
    from distributed import Scheduler
    from distributed.security import Security

    security = None
    if tls is not None:
        security = Security(tls_ca_file=str(tls.ca), tls_scheduler_cert=str(tls.cert),
                            tls_scheduler_key=str(tls.key), require_encryption=True)
    protocol = "tls" if tls is not None else "tcp"
    with dask.config.set({"distributed.scheduler.allowed-failures": attempts - 1}):
        async with Scheduler(host=host, port=port, protocol=protocol, security=security, dashboard=False,
                             allowed_failures=attempts - 1) as s:
            await s.finished()


def run_scheduler(host: str, port: int, attempts: int, tls: Tls | None) -> None:
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(schedule(host, port, attempts, tls))


async def serve(scheduler: str, docker_host: str | None, slots: int, store: Path, work: Path, name: str,
                tls: Tls | None) -> None:
    """Run a Dask worker until it is stopped (or its scheduler goes for good)."""
    from distributed import Worker as DaskWorker
    from distributed.security import Security

    security = None
    identity = ""
    if tls is not None:
        security = Security(tls_ca_file=str(tls.ca), tls_worker_cert=str(tls.cert), tls_worker_key=str(tls.key),
                            require_encryption=True)
        identity = certificate_identity(tls.cert)
    plugin = KronosPlugin(docker_host, store, work, identity)
    async with DaskWorker(scheduler, nthreads=slots, resources={RESOURCE: slots}, name=name, security=security,
                          plugins=(plugin,), local_directory=str(work / "dask"), memory_limit=0) as w:
        await w.finished()


def run_worker(scheduler: str, docker_host: str | None, slots: int, store: Path, work: Path, name: str,
               tls: Tls | None) -> None:
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(serve(scheduler, docker_host, slots, store, work, name, tls))
