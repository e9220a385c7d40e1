"""The Docker backend, over the docker SDK (no registry: images are imported locally).

Every SDK call runs inside `DockerEngine.talking(operation)`: an error of the SDK or of the HTTP stack
beneath it (a dockerd that is not running, or dies mid-run) becomes one EngineError that names the
operation and the engine's address."""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import sys
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from .. import owner
from ..errors import EngineError, StorageError, os_error_line
from ..run import interactive
from .base import ContainerSpec, Engine, EngineContainer, Leftover

DEFAULT_HOST = "unix:///var/run/docker.sock"
START_HINT = "is dockerd running? (make starts it: dockerd --iptables=false --bridge=none)"
# what the SDK and the HTTP stack under it raise; ConnectionError: a socket reset while streaming
ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException, requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
    http.client.HTTPException, ConnectionError,
)


def transport_errors() -> tuple[type[BaseException], ...]:
    """What an ssh:// engine's transport raises besides (paramiko's: unreachable, refused, bad key);
    paramiko is loaded with the SDK for such engines only (kronos.engine.get_engine)."""
    ssh = sys.modules.get("paramiko")
    return (ssh.SSHException, ssh.ssh_exception.NoValidConnectionsError) if ssh is not None else ()


def reason(e: BaseException) -> str:
    """The innermost cause a user can act on: the engine's own explanation, an OS error's reason,
    else the message of the deepest exception in the chain."""
    if isinstance(e, docker.errors.APIError) and e.explanation:
        return f"{e.explanation} (HTTP {e.status_code})" if e.status_code else str(e.explanation)
    seen: set[int] = set()
    todo = [e]
    deepest = e
    while todo:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.strerror:
            return x.strerror
        deepest = x
        todo += [a for a in x.args if isinstance(a, BaseException)]
        todo += [c for c in (x.__cause__, x.__context__) if c is not None]
    text = str(deepest).strip().splitlines()
    return text[0] if text else deepest.__class__.__name__


class DockerContainer(EngineContainer):
    def __init__(self, raw: Any, engine: DockerEngine) -> None:
        self.raw = raw
        self.engine = engine
        self.name = str(raw.id)[:12]

    def put(self, local: Path, dest: str, owner: int | None = None) -> None:
        def chown(info: tarfile.TarInfo) -> tarfile.TarInfo:
            if owner is not None:
                info.uid = info.gid = owner
                info.uname = info.gname = ""
            # readable by every user in the container (apt's _apt reads a file: repository there),
            # whatever the host's umask or a private (0700) scratch directory made of the modes
            info.mode |= 0o755 if info.isdir() or info.mode & 0o100 else 0o644
            return info

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(local), arcname=local.name, filter=chown)
        with self.engine.talking(f"copying {local} into container {self.name} at {dest}"):
            self.raw.put_archive(dest, buf.getvalue())

    def run(self, log: Path) -> int:
        with self.engine.talking(f"starting container {self.name}"):
            self.raw.start()
        written = 0
        with log.open("ab") as out, self.engine.talking(f"reading the output of container {self.name}"):
            for chunk in self.raw.logs(stream=True, follow=True, stdout=True, stderr=True):
                written += self._write(out, log, chunk)
        with self.engine.talking(f"waiting for container {self.name}"):
            result = self.raw.wait()
        # a container that ends at once can end the follow before its output reached the log driver:
        # what the stream missed is read once more when the container has ended
        with log.open("ab") as out, self.engine.talking(f"reading the output of container {self.name}"):
            whole = self.raw.logs(stdout=True, stderr=True)
            if len(whole) > written:
                self._write(out, log, whole[written:])
        return int(result["StatusCode"])

    @staticmethod
    def _write(out: BinaryIO, log: Path, chunk: bytes) -> int:
        try:
            out.write(chunk)
            out.flush()
        except OSError as e:
            raise StorageError(f"cannot write the build log {log}: {os_error_line(e)}") from e
        return len(chunk)

    def get(self, path: str, local: Path) -> None:
        with self.engine.talking(f"copying {path} out of container {self.name}"):
            stream, _ = self.raw.get_archive(path)
            buf = io.BytesIO(b"".join(stream))
        local.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=buf) as tar:
            tar.extractall(local, filter="data")

    def commit(self, repository: str, tag: str) -> str:
        with self.engine.talking(f"committing container {self.name} as {repository}:{tag}"):
            image = self.raw.commit(repository=repository, tag=tag)
        return str(image.id)


class DockerEngine(Engine):
    name = "docker"

    def __init__(self, client: Any = None, host: str | None = None) -> None:
        # docker.from_env() reads DOCKER_HOST; the error lines name the same address
        self.where = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        if client is None:
            with self.talking("connecting"):
                client = docker.DockerClient(base_url=host) if host else docker.from_env()
                client.ping()
        self.client = client

    @contextlib.contextmanager
    def talking(self, operation: str) -> Iterator[None]:
        """Run SDK calls; their errors become one EngineError naming `operation` and the engine."""
        try:
            yield
        except ENGINE_ERRORS + transport_errors() as e:
            answered = isinstance(e, docker.errors.APIError) and e.response is not None
            hint = "" if answered else f"; {START_HINT}"
            raise EngineError(f"Docker engine at {self.where}: {operation} failed: {reason(e)}{hint}") from e

    def image_id(self, ref: str) -> str | None:
        with self.talking(f"looking up image {ref}"):
            try:
                return str(self.client.images.get(ref).id)
            except docker.errors.ImageNotFound:
                return None

    def import_image(self, tarball: Path, repository: str, tag: str, labels: Mapping[str, str] | None = None) -> str:
        changes = [f"LABEL {k}={v}" for k, v in sorted((labels or {}).items())]
        with self.talking(f"importing {tarball} as {repository}:{tag}"):
            self.client.api.import_image(src=str(tarball), repository=repository, tag=tag, changes=changes or None)
        found = self.image_id(f"{repository}:{tag}")
        if found is None:
            raise EngineError(f"Docker engine at {self.where}: importing {tarball} as {repository}:{tag}"
                              " left no image")
        return found

    def image_labels(self, ref: str) -> dict[str, str] | None:
        with self.talking(f"looking up image {ref}"):
            try:
                return dict(self.client.images.get(ref).labels or {})
            except docker.errors.ImageNotFound:
                return None

    def save_image(self, ref: str, dest: Path) -> None:
        with self.talking(f"saving image {ref}"), dest.open("wb") as out:
            for chunk in self.client.images.get(ref).save(named=True):
                out.write(chunk)

    def load_image(self, archive: Path) -> None:
        with self.talking(f"loading image archive {archive}"), archive.open("rb") as f:
            self.client.images.load(f)

    def images(self, prefix: str) -> list[str]:
        out = []
        with self.talking("listing images"):
            for image in self.client.images.list():
                out += [t for t in image.tags if t.startswith(prefix)]
        return sorted(out)

    def remove_image(self, ref: str) -> None:
        with self.talking(f"removing image {ref}"):
            try:
                self.client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass

    def shell_argv(self, image: str, user: str, workdir: str, tty: bool) -> list[str]:
        """The docker CLI command of shell() (the SDK has no interactive attach that passes a tty)."""
        return ["docker", "run", "--rm", "-i", *(["-t"] if tty else []), "-u", user, "-w", workdir, image, "bash"]

    def shell(self, image: str, user: str, workdir: str) -> int:
        return interactive(self.shell_argv(image, user, workdir, sys.stdin.isatty()))

    def _create(self, spec: ContainerSpec) -> EngineContainer:
        privileges: dict[str, Any] = {}
        if spec.capabilities is not None:
            privileges["cap_drop"] = ["ALL"]
            privileges["cap_add"] = list(spec.capabilities)
        if spec.no_new_privileges:
            privileges["security_opt"] = ["no-new-privileges"]
        with self.talking(f"creating a container from {spec.image}"):
            raw = self.client.containers.create(
                spec.image,
                command=list(spec.command),
                network_mode=spec.network,
                user=spec.user,
                working_dir=spec.workdir,
                environment=dict(spec.env),
                labels=dict(spec.labels),
                detach=True,
                **({"cpu_shares": spec.cpu_shares} if spec.cpu_shares else {}),
                **privileges,
            )
        return DockerContainer(raw, self)

    def containers(self) -> list[Leftover]:
        with self.talking("listing containers"):
            # a container another kronos removes between the listing and its inspection is not an error
            found = self.client.containers.list(all=True, filters={"label": owner.PID}, ignore_removed=True)
        return [Leftover(str(c.id)[:12], dict(c.labels)) for c in found]

    def remove_container(self, container_id: str) -> None:
        with self.talking(f"removing container {container_id}"):
            try:
                self.client.containers.get(container_id).remove(force=True)
            except docker.errors.NotFound:
                pass

    def _remove(self, container: EngineContainer) -> None:
        assert isinstance(container, DockerContainer)
        with self.talking(f"removing container {container.name}"):
            try:
                container.raw.remove(force=True)
            except docker.errors.NotFound:
                pass
