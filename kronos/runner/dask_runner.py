"""The Dask runner: each BuildSpec becomes one Dask task on a `kronos worker` that has a free build slot.

What Dask gives: placement by resources (a worker offers `docker` slots, a build asks one), a task
whose worker is lost (killed, its engine gone) rescheduled on another worker, at most the scheduler's
allowed attempts; TLS; the dashboard. What stays here: the job's key (a function of the spec, so a retry
or a second coordinator's identical job is the same task), the base image shipped by content, and the
scheduler's loss, which ends the run with one line (exit 2). A package that fails to build is a result
(the worker returns it), so Dask never retries it."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import interrupt
from ..build import scratch
from ..cluster import Tls, require_tls
from ..engine import Engine
from ..errors import BuildError, KronosError
from ..executor.locks import KeyedLocks
from ..job import BuildResult, BuildSpec
from ..log import info
from ..store import FileRef, Store
from . import Runner
from .errors import SchedulerGone
from .worker import RESOURCE, TOPIC, build_task

WAIT_FOR_WORKERS = 60.0  # seconds a run waits for the first worker to join
_SHIPPING = KeyedLocks()


class DaskRunner(Runner):
    name = "dask"

    def __init__(self, store: Store, address: str, tls: Tls | None, cache: Path,
                 wait: float = WAIT_FOR_WORKERS) -> None:
        super().__init__(store)
        require_tls(address, tls, "kronos build --executor dask")
        from distributed import Client
        from distributed.security import Security

        for name in ("distributed", "distributed.client", "distributed.comm", "distributed.batched"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # Dask's own chatter stays out of the run's output
        security = None
        if tls is not None:
            security = Security(tls_ca_file=str(tls.ca), tls_client_cert=str(tls.cert),
                                tls_client_key=str(tls.key), require_encryption=True)
        self.address, self.cache = address, cache
        try:
            self.client = Client(address, security=security, timeout=30, set_as_default=False)
        except OSError as e:
            raise SchedulerGone(f"cannot reach the Dask scheduler at {address}: {e}") from None
        self._lock = threading.Lock()
        self._starts: dict[str, list[str]] = {}
        self._gone = False
        self.client.subscribe_topic(TOPIC, self._event)
        try:
            self.client.wait_for_workers(1, timeout=wait)
        except (TimeoutError, OSError):
            self.close()
            raise KronosError(f"no kronos worker joined the Dask scheduler at {address} within {wait:.0f} s"
                              " (kronos worker --scheduler ADDRESS)") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)

    def _event(self, event: Any) -> None:
        _, data = event
        if isinstance(data, dict) and data.get("event") == "started":
            with self._lock:
                self._starts.setdefault(str(data.get("key")), []).append(str(data.get("name")))
            info(f"{data.get('job')} started on worker {data.get('name')}")

    def starts(self, key: str) -> list[str]:
        """The workers a job started on, in order (more than one: the earlier ones were lost)."""
        with self._lock:
            return list(self._starts.get(key, ()))

    def slots(self) -> int:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return max(1, int(sum(w.get("resources", {}).get(RESOURCE, 0) for w in workers.values())))

    def ship(self, spec: BuildSpec, engine: Engine) -> BuildSpec:
        """The base image's archive in the store (engine.save_image, once per image content), named in spec."""
        image = spec.image
        index = self.store.root / "images" / f"{image.content}.json"
        with _SHIPPING.hold(image.content, across=self.cache / "locks"):
            archive: FileRef | None = None
            if index.is_file():
                with contextlib.suppress(ValueError, OSError):
                    archive = FileRef.from_data(json.loads(index.read_text()))
            if archive is None or not self.store.has(archive):
                with scratch(self.cache, "ship-") as tmp:
                    saved = tmp / f"{image.ref.replace('/', '_').replace(':', '_')}.docker.tar"
                    engine.save_image(image.ref, saved)
                    archive = self.store.put(saved)
                index.parent.mkdir(parents=True, exist_ok=True)
                index.write_text(json.dumps(archive.to_data()) + "\n")
        return replace(spec, image=replace(image, archive=archive))

    def run(self, spec: BuildSpec, log: Path) -> BuildResult:
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        if self._gone:
            raise SchedulerGone(f"the Dask scheduler at {self.address} went away mid-run")
        key = spec.job_key()
        future = self.client.submit(build_task, spec.to_data(), key=key, resources={RESOURCE: 1}, pure=False,
                                    retries=0)
        try:
            with interrupt.stoppable(future.cancel):  # Ctrl-C: the worker removes the job's containers
                data = future.result()
        except KilledWorker:
            lost = self.starts(key)
            raise BuildError(f"{spec.name}: {len(lost)} workers were lost while building it ({', '.join(lost)});"
                             " the scheduler gave up on it") from None
        except (FutureCancelledError, OSError) as e:
            interrupt.check()
            if "scheduler-connection-lost" in str(e) or self.client.status in ("closed", "closing") or \
                    isinstance(e, OSError):
                self._gone = True
                raise SchedulerGone(f"the Dask scheduler at {self.address} went away mid-run while {spec.name}"
                                    " was building; nothing of the unfinished builds was kept") from None
            raise KronosError(f"{spec.name}: its Dask task was cancelled ({e})") from None
        finally:
            with contextlib.suppress(Exception):
                future.release()
        result = BuildResult.from_data(data)
        started = self.starts(key)
        return replace(result, lost=tuple(started[:-1])) if len(started) > 1 else result

