"""The engine interface. It knows images and containers, nothing of recipes or keys."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .. import interrupt, owner
from ..errors import KronosError


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    command: tuple[str, ...]
    network: str  # "host" (trusted phase) or "none" (the build)
    user: str = "root"
    workdir: str = "/"
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # None: the engine's default set; otherwise every capability is dropped but these
    capabilities: tuple[str, ...] | None = None
    no_new_privileges: bool = False  # setuid binaries and file capabilities grant nothing
    labels: tuple[tuple[str, str], ...] = ()  # what it is for (target, recipe, phase); the engine adds the run's
    # its weight when containers compete for the CPU (cgroup cpu shares, 1024 the engine's default); 0: the default
    cpu_shares: int = 0


@dataclass(frozen=True)
class Leftover:
    """A container some kronos made: its id and labels."""

    id: str
    labels: dict[str, str]


class EngineContainer(abc.ABC):
    """One container: push files, run its command to completion, pull files, commit."""

    @abc.abstractmethod
    def put(self, local: Path, dest: str, owner: int | None = None) -> None:
        """Copy local (a file or directory) to dest/<name> inside the container, owned by uid owner."""

    @abc.abstractmethod
    def run(self, log: Path) -> int:
        """Start the command, stream its output into log, return its exit code."""

    @abc.abstractmethod
    def get(self, path: str, local: Path) -> None:
        """Copy path (a directory) out of the container into local."""

    @abc.abstractmethod
    def commit(self, repository: str, tag: str) -> str:
        """Save the container's filesystem as an image; return the image id."""


class Engine(abc.ABC):
    registry: ClassVar[dict[str, type[Engine]]] = {}
    name: ClassVar[str] = ""

    def __init__(self, host: str | None = None) -> None:  # noqa: B027 (engines take their address)
        """An engine at host (its own default when None)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__()
        if cls.name:
            Engine.registry[cls.name] = cls

    @classmethod
    def create(cls, name: str, host: str | None = None) -> Engine:
        """The engine registered under name; host: its address (else the engine's own default)."""
        try:
            factory = cls.registry[name]
        except KeyError:
            raise KronosError(f"unknown engine '{name}' (known: {', '.join(sorted(cls.registry))})") from None
        return factory(host=host) if host else factory()

    @abc.abstractmethod
    def image_id(self, ref: str) -> str | None:
        """The id of image ref, or None when the engine does not have it."""

    @abc.abstractmethod
    def import_image(self, tarball: Path, repository: str, tag: str, labels: Mapping[str, str] | None = None) -> str:
        """Import a root filesystem tarball as repository:tag with labels; return the image id."""

    @abc.abstractmethod
    def image_labels(self, ref: str) -> dict[str, str] | None:
        """The labels of image ref, or None when the engine does not have it."""

    @abc.abstractmethod
    def save_image(self, ref: str, dest: Path) -> None:
        """Write image ref as the engine's image archive (what load_image takes) to dest."""

    @abc.abstractmethod
    def load_image(self, archive: Path) -> None:
        """Load an image archive that save_image wrote (its tags and labels come with it)."""

    @abc.abstractmethod
    def images(self, prefix: str) -> list[str]:
        """The repository:tag names of images whose repository starts with prefix."""

    @abc.abstractmethod
    def remove_image(self, ref: str) -> None:
        """Remove image ref (no error if missing)."""

    def shell(self, image: str, user: str, workdir: str) -> int:
        """An interactive shell (bash) in a throwaway container of image, with the caller's stdin,
        stdout and stderr; its exit code. Engines that cannot say so."""
        raise KronosError(f"the {self.name or 'current'} engine cannot open an interactive shell")

    @abc.abstractmethod
    def _create(self, spec: ContainerSpec) -> EngineContainer:
        """Create (not start) a container with spec's labels."""

    @abc.abstractmethod
    def containers(self) -> list[Leftover]:
        """Every container, running or not, that carries kronos's labels."""

    @abc.abstractmethod
    def remove_container(self, container_id: str) -> None:
        """Remove (kill) a container by id (no error if it is gone)."""

    @abc.abstractmethod
    def _remove(self, container: EngineContainer) -> None:
        """Remove a container, running or not."""

    @contextlib.contextmanager
    def container(self, spec: ContainerSpec) -> Iterator[EngineContainer]:
        """A fresh container from spec, removed when the block ends. When the block failed, that
        failure is the one reported (removing may fail too when the engine went away)."""
        interrupt.check()  # a stop was asked for: no new container
        c = self._create(dataclasses.replace(spec, labels=(*spec.labels, *owner.labels())))
        try:
            with interrupt.stoppable(lambda: self._remove(c)):  # a stop kills and removes it at once
                yield c
        except BaseException:
            with contextlib.suppress(KronosError):
                self._remove(c)
            raise
        self._remove(c)
