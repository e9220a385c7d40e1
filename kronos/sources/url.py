"""Upstream tarballs at a URL, pinned by sha256: downloaded through the cache like every file kronos
fetches (retried when the network fails on the way, refused when its bytes differ from the pin),
and made the .orig as they are."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from ..cache import Cache, probe
from ..errors import FetchError

COMPRESSIONS = {".tar.gz": "gz", ".tgz": "gz", ".tar.xz": "xz", ".tar.bz2": "bz2"}


def compression(url: str) -> str:
    """The .orig's compression (gz, xz, bz2), from the name the URL gives the tarball (the recipe
    refuses another name: kronos.recipe.TARBALL_SUFFIXES)."""
    path = urllib.parse.urlsplit(url).path
    return next(c for suffix, c in COMPRESSIONS.items() if path.endswith(suffix))


def fetch(cache: Cache, url: str, sha256: str, what: str) -> Path:
    """The tarball at url whose bytes have sha256, from the cache or downloaded; `what` (the recipe)
    begins the error line of a failed download or a mismatch, which names the URL."""
    return cache.fetch(url, sha256, None, f"{what}: url")


def reachable(cache: Cache, url: str, sha256: str) -> str:
    """"" when the tarball is in the cache or url answers an HTTP HEAD, else the answer (a 404) or
    the network's failure; nothing is downloaded."""
    if cache.blob(sha256).exists():
        return ""
    try:
        return probe(url).why
    except FetchError as e:
        return str(e)
