"""PyPI sdists, pinned by sha256: pip's configured index, no host names here."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..cache import Cache, sha256_file
from ..errors import FetchError, VerifyError
from ..run import run


def fetch(cache: Cache, name: str, version: str, sha256: str) -> Path:
    """The sdist of name==version from the cache or pip's index, checked against sha256."""
    blob = cache.blob(sha256)
    if blob.exists():
        return blob
    with tempfile.TemporaryDirectory(prefix="kronos-pip-") as tmp:
        proc = run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
             "--no-deps", "--disable-pip-version-check", "-d", tmp, f"{name}=={version}"],
            check=False,
        )
        files = sorted(p for p in Path(tmp).iterdir() if p.name.endswith((".tar.gz", ".zip", ".tar.xz")))
        if proc.returncode != 0 or not files:
            lines = [ln for ln in proc.stdout.decode(errors="replace").splitlines()
                     if ln.strip() and not ln.startswith(("[notice]", "WARNING"))]
            tail = [ln for ln in lines if ln.startswith("ERROR")][-1:] or lines[-1:] or ["no sdist"]
            raise FetchError(f"pypi {name}=={version}: cannot download the sdist: {tail[0]}")
        actual = sha256_file(files[0])
        if actual != sha256:
            raise VerifyError(
                f"pypi {name}=={version}: sha256 mismatch for {files[0].name}:"
                f" recipe pins {sha256}, got {actual}"
            )
        path, _ = cache.put(files[0])
        return path


def sdist_name(name: str, version: str) -> str:
    return f"{name}-{version}.tar.gz"
