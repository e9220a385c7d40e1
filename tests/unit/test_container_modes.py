"""Files put into a container are readable there by every user: apt's _apt reads the local file:
repository of the build-deps phase, however private the host's scratch directory was."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from kronos.engine.docker import DockerContainer, DockerEngine


class Raw:
    id = "0123456789abcdef"

    def __init__(self) -> None:
        self.archives: list[tuple[str, bytes]] = []

    def put_archive(self, dest: str, data: bytes) -> bool:
        self.archives.append((dest, data))
        return True


def test_put_makes_private_files_readable(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        local = tmp_path / "local"
        local.mkdir()
        (local / "Packages").write_text("")
        (local / "tool").write_text("#!/bin/sh\n")
        (local / "tool").chmod(0o700)
    finally:
        os.umask(old)
    raw = Raw()
    DockerContainer(raw, DockerEngine(client=object())).put(local, "/kronos")
    [(dest, data)] = raw.archives
    assert dest == "/kronos"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        modes = {m.name: m.mode & 0o777 for m in tar.getmembers()}
    assert modes == {"local": 0o755, "local/Packages": 0o644, "local/tool": 0o755}
