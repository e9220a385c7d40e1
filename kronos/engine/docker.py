"""The Docker backend, over the docker SDK (no registry: images are imported locally)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import docker
import docker.errors

from ..errors import KronosError
from .base import ContainerSpec, Engine, EngineContainer


class DockerContainer(EngineContainer):
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def put(self, local: Path, dest: str, owner: int | None = None) -> None:
        def chown(info: tarfile.TarInfo) -> tarfile.TarInfo:
            if owner is not None:
                info.uid = info.gid = owner
                info.uname = info.gname = ""
            return info

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(local), arcname=local.name, filter=chown)
        self.raw.put_archive(dest, buf.getvalue())

    def run(self, log: Path) -> int:
        self.raw.start()
        with log.open("ab") as out:
            for chunk in self.raw.logs(stream=True, follow=True, stdout=True, stderr=True):
                out.write(chunk)
                out.flush()
        result = self.raw.wait()
        return int(result["StatusCode"])

    def get(self, path: str, local: Path) -> None:
        stream, _ = self.raw.get_archive(path)
        buf = io.BytesIO(b"".join(stream))
        local.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=buf) as tar:
            tar.extractall(local, filter="data")

    def commit(self, repository: str, tag: str) -> str:
        image = self.raw.commit(repository=repository, tag=tag)
        return str(image.id)


class DockerEngine(Engine):
    name = "docker"

    def __init__(self, client: Any = None) -> None:
        if client is None:
            try:
                client = docker.from_env()
                client.ping()
            except docker.errors.DockerException as e:
                raise KronosError(
                    f"cannot reach the Docker engine ({e.__class__.__name__}); start dockerd"
                    " (make does: dockerd --iptables=false --bridge=none)"
                ) from None
        self.client = client

    def image_id(self, ref: str) -> str | None:
        try:
            return str(self.client.images.get(ref).id)
        except docker.errors.ImageNotFound:
            return None

    def import_image(self, tarball: Path, repository: str, tag: str) -> str:
        self.client.api.import_image(src=str(tarball), repository=repository, tag=tag)
        found = self.image_id(f"{repository}:{tag}")
        if found is None:
            raise KronosError(f"docker import of {tarball} as {repository}:{tag} left no image")
        return found

    def images(self, prefix: str) -> list[str]:
        out = []
        for image in self.client.images.list():
            out += [t for t in image.tags if t.startswith(prefix)]
        return sorted(out)

    def remove_image(self, ref: str) -> None:
        try:
            self.client.images.remove(ref, force=True)
        except docker.errors.ImageNotFound:
            pass

    def _create(self, spec: ContainerSpec) -> EngineContainer:
        raw = self.client.containers.create(
            spec.image,
            command=list(spec.command),
            network_mode=spec.network,
            user=spec.user,
            working_dir=spec.workdir,
            environment=dict(spec.env),
            detach=True,
        )
        return DockerContainer(raw)

    def _remove(self, container: EngineContainer) -> None:
        assert isinstance(container, DockerContainer)
        try:
            container.raw.remove(force=True)
        except docker.errors.NotFound:
            pass
