"""The upload ledger: which versions of each source went to a target, so uploads only go up."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from debian.debian_support import Version

from ..cache import atomic_path
from ..errors import corrupt, load_json
from .plan import UploadError


def require_newer(history: list[str], source: str, version: str, target: str) -> None:
    """Refuse version unless it is greater (dpkg order) than every version in history."""
    if not history:
        return
    last = max(history, key=Version)
    if Version(version) <= Version(last):
        same = "was already uploaded" if Version(version) == Version(last) else f"is older than {last}, the last upload"
        raise UploadError(
            f"{source} {version} {same} to {target}; uploads must be strictly increasing"
            f" (build a newer version: kronos build --target {target} --rebuild)"
        )


class UploadLedger:
    """out/ledger/uploads/<target>.json: {source: [uploaded versions]}; kept by `kronos clean`."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self.uploads: dict[str, list[str]] = {}
        self._load()

    def _load(self) -> None:
        self.uploads = {}
        if not self.path.exists():
            return
        fix = "fix it by hand or restore it from a backup (without it, a version could be uploaded twice)"
        data = load_json(self.path, "the upload ledger", fix)
        if not isinstance(data, dict) or not all(
                isinstance(vs, list) and all(isinstance(v, str) for v in vs) for vs in data.values()):
            raise corrupt(self.path, "the upload ledger", "it is not an object of {source: [versions]}", fix)
        for source, versions in data.items():
            for v in versions:
                try:
                    Version(v)
                except ValueError:
                    raise corrupt(self.path, "the upload ledger", f"{source}: {v!r} is not a Debian version",
                                  fix) from None
        self.uploads = {str(k): list(vs) for k, vs in data.items()}

    @classmethod
    def for_target(cls, output_dir: Path, target: str) -> UploadLedger:
        return cls(output_dir / "ledger" / "uploads" / f"{target}.json", target)

    def last(self, source: str) -> str | None:
        history = self.uploads.get(source, [])
        return str(max(history, key=Version)) if history else None

    def require_newer(self, source: str, version: str) -> None:
        require_newer(self.uploads.get(source, []), source, version, self.target)

    def record(self, source: str, version: str) -> None:
        """Add version (checked first) and write the ledger atomically."""
        self.require_newer(source, version)
        self.uploads.setdefault(source, []).append(version)
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.uploads, indent=2, sort_keys=True) + "\n")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One upload per target at a time (the kernel drops the lock if the holder dies)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._load()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
