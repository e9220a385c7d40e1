"""A build job as data: everything that builds one package needs, with no path into the coordinator's disk.

The coordinator (`kronos build`) keeps what must stay central: sources through the signed chain, the
content key, the ledger and the choice of version, out/, publishing. It hands a BuildSpec to a runner
(this process, or a `kronos worker` through Dask), which builds it in its own engine and answers with
a BuildResult: the outputs by sha256 in the artefact store (kronos/store.py), the log, who built it.
Both travel as plain JSON-able dicts (to_data / from_data), so what a worker runs is exactly what the
coordinator decided, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import Target
from .keys import content_key
from .recipe import BuildOptions, Keep
from .store import FileRef

JOB_FORMAT = 1


@dataclass(frozen=True)
class BaseImage:
    """The target's base image: the tag engines know it by, its content (the root filesystem's sha256),
    and the engine's archive of it in the store for engines that lack it (None: not shipped)."""

    target: str
    ref: str
    content: str
    archive: FileRef | None = None


@dataclass(frozen=True)
class BuildSpec:
    recipe: str
    target: Target
    version: str
    key: str  # the build's content key (build.json's "key")
    options: BuildOptions  # the recipe's build options for this target
    dsc: tuple[FileRef, ...]  # the .dsc first, then its files
    siblings: tuple[FileRef, ...]  # the siblings' .debs it may install
    local_key: str | None  # the siblings' keys: what the deps layer follows (build.BuildJob)
    image: BaseImage
    scripts: tuple[FileRef, ...]  # containers/install-build-deps.sh and build.sh
    extra_sources: str  # apt's lines for the target's extra suites (the deps phase)
    cpu_shares: int = 0  # its weight beside other builds on one engine (0: the engine's default)

    @property
    def name(self) -> str:
        return f"{self.target.name}/{self.recipe}"

    def job_key(self) -> str:
        """The job's identity wherever it runs (Dask's task key): a function of everything in it, so a
        retry or a second coordinator asking for the same build is the same job."""
        return f"kronos-build-{self.target.name}-{self.recipe}-{content_key(self.to_data())[:24]}"

    def to_data(self) -> dict[str, Any]:
        return {
            "format": JOB_FORMAT, "recipe": self.recipe, "version": self.version, "key": self.key,
            "target": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.target).items()},
            "options": {"profiles": list(self.options.profiles), "options": list(self.options.options),
                        "env": [list(kv) for kv in self.options.env],
                        "keep": [{"name": k.name, "path": k.path, "kconfig": list(k.kconfig)}
                                 for k in self.options.keep]},
            "dsc": [f.to_data() for f in self.dsc], "siblings": [f.to_data() for f in self.siblings],
            "local_key": self.local_key,
            "image": {"target": self.image.target, "ref": self.image.ref, "content": self.image.content,
                      "archive": self.image.archive.to_data() if self.image.archive else None},
            "scripts": [f.to_data() for f in self.scripts], "extra_sources": self.extra_sources,
            "cpu_shares": self.cpu_shares,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> BuildSpec:
        """The spec a coordinator sent; ValueError when it is not one (or of another format)."""
        if not isinstance(data, dict) or data.get("format") != JOB_FORMAT:
            raise ValueError(f"not a kronos build job of format {JOB_FORMAT}")
        try:
            t = data["target"]
            fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in t.items()}
            target = Target(**fields)
            o = data["options"]
            options = BuildOptions(tuple(o["profiles"]), tuple(o["options"]), tuple((k, v) for k, v in o["env"]),
                                   tuple(Keep(k["name"], k["path"], tuple(k["kconfig"])) for k in o["keep"]))
            i = data["image"]
            image = BaseImage(i["target"], i["ref"], i["content"],
                              FileRef.from_data(i["archive"]) if i["archive"] else None)
            return cls(str(data["recipe"]), target, str(data["version"]), str(data["key"]), options,
                       tuple(FileRef.from_data(f) for f in data["dsc"]),
                       tuple(FileRef.from_data(f) for f in data["siblings"]), data["local_key"], image,
                       tuple(FileRef.from_data(f) for f in data["scripts"]), str(data["extra_sources"]),
                       int(data["cpu_shares"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"a malformed kronos build job: {e}") from None


@dataclass(frozen=True)
class Worker:
    """Who built it: a name, an address, and with TLS the certificate's subject."""

    name: str
    address: str = ""
    identity: str = ""
    engine: str = ""

    def to_data(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class BuildResult:
    """What a runner answers: the outputs and log by sha256 in the store, or why the build failed
    (`failure`: the message, with the runner's log path; `kept`: the image of the failed build tree)."""

    job: str
    worker: Worker
    log: FileRef | None
    files: tuple[FileRef, ...] = ()
    failure: str = ""
    kind: str = ""  # "build" (the package failed to build), "deps" (its build deps) or "" when it built
    kept: str = ""
    seconds: float = 0.0
    held: tuple[str, ...] = field(default_factory=tuple)  # inputs the worker already had (names)
    lost: tuple[str, ...] = ()  # workers that were lost while building it before this one (the coordinator's)

    def to_data(self) -> dict[str, Any]:
        return {"job": self.job, "worker": self.worker.to_data(), "log": self.log.to_data() if self.log else None,
                "files": [f.to_data() for f in self.files], "failure": self.failure, "kind": self.kind,
                "kept": self.kept, "seconds": self.seconds, "held": list(self.held)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> BuildResult:
        try:
            w = data["worker"]
            return cls(str(data["job"]), Worker(w.get("name", ""), w.get("address", ""), w.get("identity", ""),
                                                w.get("engine", "")),
                       FileRef.from_data(data["log"]) if data["log"] else None,
                       tuple(FileRef.from_data(f) for f in data["files"]), str(data["failure"]), str(data["kind"]),
                       str(data["kept"]), float(data["seconds"]), tuple(str(h) for h in data["held"]))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"a malformed kronos build result: {e}") from None
