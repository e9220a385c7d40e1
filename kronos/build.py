"""Stage 3: one package in clean containers — build deps with network, then the build without."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Dsc

from . import interrupt, layers, owner, sibling_repo
from .cache import sha256_file
from .config import Target
from .engine import ContainerSpec, Engine
from .errors import BuildError, FailedBuild
from .executor.locks import KeyedLocks
from .images import BUILDER_UID
from .kept import KEEP_LIST, failure, keep_list
from .keys import content_key
from .log import info, step
from .recipe import BuildOptions
from .source_package import dsc_files

DEPS_REPOSITORY = "kronos/deps"
FAILED_REPOSITORY = "kronos/failed"
# what apt and dpkg need as root in the deps phase: apt's sandbox drops to _apt (setuid/setgid) and
# kills its methods, dpkg chowns and chmods files it does not own and keeps setuid bits
DEPS_CAPABILITIES = layers.CAPABILITIES
_LAYERS = KeyedLocks()  # two builds with the same deps key: one makes the layer, the other reuses it
DEP_FIELDS = ("Build-Depends", "Build-Depends-Indep", "Build-Depends-Arch",
              "Build-Conflicts", "Build-Conflicts-Indep", "Build-Conflicts-Arch")


def image_name_part(name: str) -> str:
    """name as a part of a Docker repository name, which allows lowercase letters and digits joined by
    single separators: a recipe or source name may hold `+` (libstdc++) or `.-`, so anything else
    becomes `-` and a short digest of the name keeps two names apart (`libstdc++` -> `libstdc-1e5b...`)."""
    safe = "-".join(re.findall(r"[a-z0-9]+", name.lower()))
    if safe == name:
        return name
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}".lstrip("-")


def image_tag(version: str) -> str:
    """A Debian version as a Docker tag (letters, digits, `_`, `.`, `-`; not starting with `.` or `-`)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", version).lstrip(".-")[:128] or "_"


JOB_LABEL = f"{owner.PREFIX}.job"  # the job's key (job.BuildSpec.job_key): a cancelled job's containers


@dataclass(frozen=True)
class BuildJob:
    """One build where it runs: a BuildSpec (kronos/job.py) with its files at hand."""

    recipe: str
    target: Target
    options: BuildOptions
    image: str  # the base image's ref in this engine
    image_content: str  # its root filesystem's sha256 (images.CONTENT): what keys the deps layer
    dsc: Path
    version: str
    local_debs: tuple[Path, ...]  # the siblings' packages this one may install (sibling_repo)
    log: Path
    scripts: Path  # a directory with containers/install-build-deps.sh and build.sh
    extra_sources: str = ""  # apt's lines for the target's extra suites
    # the content keys of the builds that made local_debs: a build is a function of its key, so the
    # deps layer follows them, not the debs' bytes (which differ between two builds of one key, and
    # would make every dependent's layer again after a rebuild). None: key the layer on the bytes.
    local_key: str | None = None
    cpu_shares: int = 0  # its weight beside the engine's other containers (0: the engine's default)
    key: str = ""  # the job's key (JOB_LABEL)


def _labels(job: BuildJob, phase: str) -> tuple[tuple[str, str], ...]:
    return ((f"{owner.PREFIX}.target", job.target.name), (f"{owner.PREFIX}.recipe", job.recipe),
            (f"{owner.PREFIX}.version", job.version), (f"{owner.PREFIX}.phase", phase),
            *(((JOB_LABEL, job.key),) if job.key else ()))


@contextlib.contextmanager
def scratch(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary directory under parent, removed when the block ends."""
    parent.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def stage_files(files: list[Path], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, dest / f.name)
    return dest


class Builder:
    """Builds jobs in one engine; `locks`: the directory of the lock files its layers are made under."""

    def __init__(self, engine: Engine, locks: Path) -> None:
        self.engine = engine
        self.locks = locks
        self._failed_layers: dict[str, BuildError] = {}  # made once in a run: a failure is not tried again

    @staticmethod
    def env(job: BuildJob) -> dict[str, str]:
        """The build's environment: the recipe's, its profiles, DEB_BUILD_OPTIONS (parallel=<cores> unless
        set: a build alone has every core, and the engine's CPU shares weigh builds side by side)."""
        build_opts = list(job.options.options)
        if not any(o.startswith("parallel=") for o in build_opts):
            build_opts.append(f"parallel={os.cpu_count() or 1}")
        env = dict(job.options.env)
        env["KRONOS_PROFILES"] = ",".join(job.options.profiles)
        env["DEB_BUILD_OPTIONS"] = " ".join(build_opts)
        return env

    def deps_key(self, job: BuildJob) -> str:
        with job.dsc.open() as f:
            dsc = Dsc(f)
        return content_key({
            "image": job.image_content,
            "fields": {k: dsc.get(k, "") for k in DEP_FIELDS},
            "profiles": self.env(job)["KRONOS_PROFILES"],
            "extra": job.extra_sources,
            "local": job.local_key or sorted((d.name, sha256_file(d)) for d in job.local_debs),
            "script": sha256_file(job.scripts / "install-build-deps.sh"),
        })

    def deps_image(self, job: BuildJob, work: Path) -> str:
        """The build-deps layer for job: reused when its key is known, else made and committed."""
        key = self.deps_key(job)[:16]
        ref = f"{DEPS_REPOSITORY}-{job.target.name}:{key}"
        with _LAYERS.hold(ref, across=self.locks):
            if ref in self._failed_layers:
                raise self._failed_layers[ref]
            try:
                return self._deps_image(job, work, key, ref)
            except BuildError as e:
                self._failed_layers[ref] = e
                raise

    def _deps_image(self, job: BuildJob, work: Path, key: str, ref: str) -> str:
        if self.engine.image_id(ref):
            info(f"build-deps layer {ref} is up to date")
            return ref
        with step(f"Installing build dependencies ({ref})"):
            src = stage_files(dsc_files(job.dsc), work / "deps" / "src")
            env = self.env(job)
            env["KRONOS_EXTRA_SOURCES"] = job.extra_sources
            env["KRONOS_EXTRA_SUITES"] = " ".join(job.target.extra_suites)
            spec = ContainerSpec(image=job.image, command=("/bin/sh", "/kronos/install-build-deps.sh"),
                                 network="host", env=tuple(sorted(env.items())), capabilities=DEPS_CAPABILITIES,
                                 labels=_labels(job, "build-deps"), cpu_shares=job.cpu_shares)
            with self.engine.container(spec) as c:
                c.put(job.scripts / "install-build-deps.sh", "/kronos")
                c.put(src, "/kronos")
                if job.local_debs:
                    c.put(sibling_repo.make(job.local_debs, work / "deps" / "local"), "/kronos")
                code = c.run(job.log)
                if code != 0:
                    interrupt.check()
                    raise BuildError(
                        f"{job.recipe} {job.version} ({job.target.name}): build dependencies"
                        f" cannot be installed (exit {code}); log: {job.log}"
                    )
                c.commit(f"{DEPS_REPOSITORY}-{job.target.name}", key)
        return ref

    def build(self, job: BuildJob, out: Path) -> list[Path]:
        """Build job's binary packages into out; return the files produced."""
        with scratch(out.parent, ".build-") as work:
            deps = self.deps_image(job, work)
            with step(f"Building {job.recipe} {job.version} for {job.target.name} (no network)"):
                src = stage_files(dsc_files(job.dsc), work / "build" / "src")
                spec = ContainerSpec(image=deps, command=("/bin/sh", "/build/build.sh"), network="none",
                                     user="builder", workdir="/build",
                                     env=tuple(sorted(self.env(job).items())),
                                     capabilities=(), no_new_privileges=True, labels=_labels(job, "build"),
                                 cpu_shares=job.cpu_shares)
                with self.engine.container(spec) as c:
                    c.put(job.scripts / "build.sh", "/build", owner=BUILDER_UID)
                    c.put(src, "/build", owner=BUILDER_UID)
                    keeps = job.options.keep
                    if keeps:
                        listed = work / "build" / KEEP_LIST
                        listed.write_text(keep_list(keeps))
                        c.put(listed, "/build", owner=BUILDER_UID)
                    code = c.run(job.log)
                    if code != 0:
                        interrupt.check()  # stopped, not failed: nothing to keep
                        tag = image_tag(job.version)
                        repo = (f"{FAILED_REPOSITORY}-{image_name_part(job.target.name)}"
                                f"-{image_name_part(job.recipe)}")
                        c.commit(repo, tag)
                        why = failure(job.log) if keeps else None
                        raise FailedBuild(
                            f"{job.recipe} {job.version} failed to build on {job.target.name}"
                            f" (exit {code}{': ' + why if why else ''}); log: {job.log}; build tree kept, shell:"
                            f" docker run --rm -it -u builder -w /build/pkg {repo}:{tag} bash",
                            f"{repo}:{tag}",
                        )
                    c.get("/build/out", work / "result")
            produced = []
            out.mkdir(parents=True, exist_ok=True)
            for f in sorted((work / "result" / "out").iterdir()):
                shutil.move(str(f), out / f.name)
                produced.append(out / f.name)
            return produced
