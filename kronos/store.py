"""The artefact store: files by their sha256, the one way files move between the coordinator (the
`kronos build` process) and whatever builds (this process, or `kronos worker`s on other machines).

A build's inputs (the .dsc and its files, the siblings' .debs, the container scripts, a base image
saved by the engine) go in before the build; its outputs and log come back the same way, named by
sha256 in the build's result, and are checked against it before they enter out/. A file already
present is never copied again: a worker that already has a .deb, or a coordinator that sends the same
sibling to ten builds, costs one stat. For more than one machine the store is a directory they all
mount (NFS or any shared filesystem) at a path each is told (`kronos.store`, `kronos worker --store`);
nothing of it sits in a process's memory or in the Dask scheduler's.

    <store>/sha256/<first two hex digits>/<sha256>     the blobs (read-only, never rewritten)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cache import sha256_file
from .errors import StorageError, VerifyError


@dataclass(frozen=True)
class FileRef:
    """A file by name and content: what a job names instead of a path."""

    name: str
    sha256: str
    size: int

    def to_data(self) -> dict[str, object]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_data(cls, data: object) -> FileRef:
        if not isinstance(data, dict) or not {"name", "sha256", "size"} <= data.keys():
            raise ValueError(f"not a file reference: {data!r}")
        name, sha, size = data["name"], data["sha256"], data["size"]
        if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a file name: {name!r}")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a sha256: {sha!r}")
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"not a size: {size!r}")
        return cls(name, sha, size)


class Store:
    """The store at root; `local`: a worker's own copy of the blobs it has read (on its own disk), so a
    file it already holds by sha256 is not read from a shared store again."""

    def __init__(self, root: Path, local: Path | None = None) -> None:
        self.root = root
        self.local = local

    def blob(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, ref: FileRef) -> bool:
        return self.blob(ref.sha256).is_file()

    def put(self, path: Path, name: str | None = None) -> FileRef:
        """path into the store (unless its content is there already); its reference."""
        sha = sha256_file(path)
        ref = FileRef(name or path.name, sha, path.stat().st_size)
        blob = self.blob(sha)
        if blob.is_file():
            return ref
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".in-", dir=blob.parent)
            os.close(fd)
            try:
                try:  # same filesystem: a second name for the same bytes (blobs are never written to)
                    os.unlink(tmp)
                    os.link(path, tmp)
                except OSError:
                    shutil.copyfile(path, tmp)
                os.chmod(tmp, 0o644)
                os.replace(tmp, blob)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        except OSError as e:
            raise StorageError(f"cannot put {path} into the artefact store {self.root}: {e.strerror or e}") from None
        return ref

    def get(self, ref: FileRef, dest_dir: Path, keep: bool = True) -> Path:
        """ref's content as dest_dir/<name>, checked against its sha256 (keep: in the local copy too)."""
        return self.fetch(ref, dest_dir, keep)[0]

    def fetch(self, ref: FileRef, dest_dir: Path, keep: bool = True) -> tuple[Path, bool]:
        """get(), and whether the local copy held it already (nothing was read from the store)."""
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / ref.name
        if self.local is None or not keep:
            self._copy(self.blob(ref.sha256), dest, ref)
            return dest, False
        mine = self.local / ref.sha256[:2] / ref.sha256
        held = mine.is_file()
        if not held:
            mine.parent.mkdir(parents=True, exist_ok=True)
            tmp = mine.with_name(f".in-{os.getpid()}-{mine.name}")
            self._copy(self.blob(ref.sha256), tmp, ref)
            os.replace(tmp, mine)
        self._copy(mine, dest, ref)
        return dest, held

    def _copy(self, blob: Path, dest: Path, ref: FileRef) -> None:
        if not blob.is_file():
            raise StorageError(f"the artefact store {self.root} has no {ref.name} (sha256 {ref.sha256})")
        shutil.copyfile(blob, dest)
        actual = sha256_file(dest)
        if actual != ref.sha256:
            dest.unlink()
            raise VerifyError(f"{ref.name} from the artefact store {self.root}: sha256 {actual}, expected {ref.sha256}")
