"""One build where it runs: a BuildSpec's files from the store, the base image into the engine when it
lacks it, the two-phase build (kronos/build.py), the outputs and the log back into the store. The same
function runs in `kronos build` (the local runner) and in a `kronos worker` (the Dask runner)."""

from __future__ import annotations

import time
from pathlib import Path

from .. import images
from ..build import Builder, BuildJob, scratch
from ..engine import Engine
from ..errors import BuildError, EngineError, FailedBuild
from ..executor.locks import KeyedLocks
from ..job import BuildResult, BuildSpec, Worker
from ..store import Store

_LOADING = KeyedLocks()  # one load of an image archive at a time per engine and image


def ensure_image(engine: Engine, store: Store, spec: BuildSpec, work: Path, locks: Path) -> bool:
    """The spec's base image in engine, loaded from its archive in the store when the engine lacks it;
    whether it was there already."""
    image = spec.image
    with _LOADING.hold(f"image:{image.content}", across=locks):
        if images.holds(engine, image.ref, image.content):
            return True
        if image.archive is None:
            raise EngineError(f"the engine at {getattr(engine, 'where', '?')} has no {image.ref} with root"
                              f" filesystem sha256 {image.content}, and the job ships none")
        archive = store.get(image.archive, work / "image", keep=False)  # loaded once, then the engine has it
        engine.load_image(archive)
        archive.unlink()
        if not images.holds(engine, image.ref, image.content):
            raise EngineError(f"loading {image.archive.name} gave no {image.ref} with root filesystem sha256"
                              f" {image.content}")
        return False


def execute(spec: BuildSpec, engine: Engine, store: Store, work_root: Path, log: Path, worker: Worker,
            locks: Path) -> BuildResult:
    """Build spec in engine; the log is written to `log` as it runs. A package that fails to build (or
    whose build deps cannot be installed) is a result, not an exception; what fails around it (the
    engine, the store) raises."""
    began = time.monotonic()
    with scratch(work_root, f"{spec.recipe}-") as work:
        held = ["base image"] if ensure_image(engine, store, spec, work, locks) else []
        fetched = {f: store.fetch(f, work / where) for where, files in (("src", spec.dsc),
                   ("siblings", spec.siblings), ("scripts", spec.scripts)) for f in files}
        held += [f.name for f, (_, had) in fetched.items() if had]
        dsc = [fetched[f][0] for f in spec.dsc]
        debs = tuple(fetched[f][0] for f in spec.siblings)
        job = BuildJob(spec.recipe, spec.target, spec.options, spec.image.ref, spec.image.content, dsc[0],
                       spec.version, debs, log, work / "scripts", spec.extra_sources, spec.local_key,
                       spec.cpu_shares, spec.job_key())
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        try:
            produced = Builder(engine, locks).build(job, work / "out")
        except FailedBuild as e:
            return BuildResult(spec.job_key(), worker, store.put(log), failure=str(e), kind="build", kept=e.image,
                               seconds=time.monotonic() - began, held=tuple(held))
        except BuildError as e:
            return BuildResult(spec.job_key(), worker, store.put(log), failure=str(e), kind="deps",
                               seconds=time.monotonic() - began, held=tuple(held))
        files = tuple(store.put(p) for p in produced)
        return BuildResult(spec.job_key(), worker, store.put(log), files, seconds=time.monotonic() - began,
                           held=tuple(held))
