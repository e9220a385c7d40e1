"""PyPI sdists, pinned by sha256, fetched as plain files from pip's configured indexes (no host names
here). Nothing of the sdist runs on the host: no pip download, no build backend, no metadata."""

from __future__ import annotations

from pathlib import Path

from ..cache import Cache
from ..errors import FetchError, VerifyError
from . import simple_index
from .simple_index import Link

SDIST = ".tar.gz"  # the sdist becomes the .orig.tar.gz as it is


def fetch(cache: Cache, name: str, version: str, sha256: str) -> Path:
    """The sdist of name==version from the cache or pip's indexes: the file whose bytes have sha256."""
    blob = cache.blob(sha256)
    if blob.exists():
        return blob
    what = f"pypi {name}=={version}"
    listing = simple_index.find(simple_index.configured(what), name)
    candidates = list({link.url: link for link in listing.links if is_sdist(link.filename, name, version)}.values())
    if not candidates:
        where = listing.where() or "nowhere: pip has no index and no find-links (pip config list)"
        raise FetchError(f"{what}: no {SDIST} sdist of this version at {where}")
    # the one the index lists with the pinned hash first; the others only to say what they are
    candidates.sort(key=lambda link: _rank(link, sha256))
    mismatches: list[VerifyError] = []
    failures: list[FetchError] = []
    for link in candidates:
        try:
            return cache.fetch(link.url, sha256, None, f"{what}: file {link.filename}")
        except VerifyError as e:
            mismatches.append(e)
        except FetchError as e:
            failures.append(e)
    raise (mismatches or failures)[0]


def _rank(link: Link, sha256: str) -> int:
    return 0 if link.sha256 == sha256 else 1 if link.sha256 is None else 2


def is_sdist(filename: str, name: str, version: str) -> bool:
    """Whether filename is an sdist of name==version (any spelling of the name, PEP 503)."""
    if not filename.endswith(SDIST):
        return False
    stem, tail = filename[: -len(SDIST)], f"-{version}"
    if not stem.lower().endswith(tail.lower()):
        return False
    return simple_index.normalize(stem[: -len(tail)]) == simple_index.normalize(name)


def sdist_name(name: str, version: str) -> str:
    return f"{name}-{version}{SDIST}"
