"""Debian source packages through the signed chain: InRelease -> Sources -> .dsc -> files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Dsc
from debian.debian_support import Version

from ..archive import indices
from ..archive.access import Archives
from ..cache import link_or_copy
from ..config import Archive
from ..errors import FetchError, VerifyError
from .dsc import plain_name


@dataclass(frozen=True)
class FetchedSource:
    package: str
    version: str
    dsc: Path  # in a directory holding all of the source package's files
    checksums: tuple[tuple[str, str], ...]  # (file name, sha256), from the signed index


def lookup(archives: Archives, archive: Archive, suite: str, package: str, version: str | None,
           components: tuple[str, ...]) -> tuple[str, dict[str, object]]:
    """The Sources stanza of package (at version, or the highest) in suite; returns (mirror, stanza)."""
    release = archives.release(archive, suite)
    candidates = []
    for component in components:
        if release.entry(f"{component}/source/Sources") is None and not any(
            release.entry(f"{component}/source/Sources{e}") for e in (".xz", ".gz")
        ):
            continue
        path, ext = release.index(archives.cache, f"{component}/source/Sources")
        candidates += indices.sources(indices.plain(path, ext), package)
    if version is not None:
        candidates = [c for c in candidates if c["Version"] == version]
    if not candidates:
        wanted = f"{package} {version}" if version else package
        raise FetchError(f"source package {wanted} is not in {archive.name} {suite} ({', '.join(components)})")
    best = max(candidates, key=lambda c: Version(c["Version"]))
    return release.mirror, dict(best)


def fetch(archives: Archives, archive: Archive, suite: str, package: str, version: str | None,
          components: tuple[str, ...], dest: Path) -> FetchedSource:
    """Download and verify the source package's files into dest."""
    mirror, stanza = lookup(archives, archive, suite, package, version, components)
    ver = str(stanza["Version"])
    directory = str(stanza["Directory"])
    files = stanza.get("Checksums-Sha256") or []
    if not files:
        raise VerifyError(f"{package} {ver} ({archive.name} {suite}): the Sources entry has no Checksums-Sha256")
    dest.mkdir(parents=True, exist_ok=True)
    checksums = []
    dsc_path = None
    for item in files:  # type: ignore[attr-defined]
        name = plain_name(str(item["name"]), f"{package} {ver} ({archive.name} {suite}) Sources entry")
        sha, size = item["sha256"], int(item["size"])
        what = f"{package} {ver} ({archive.name} {suite}): file {name}"
        blob = archives.cache.fetch(f"{mirror}/{directory}/{name}", sha, size, what)
        target = dest / name
        target.unlink(missing_ok=True)
        link_or_copy(blob, target)
        checksums.append((name, sha))
        if name.endswith(".dsc"):
            dsc_path = target
    if dsc_path is None:
        raise VerifyError(f"{package} {ver} ({archive.name} {suite}): the Sources entry lists no .dsc")
    with dsc_path.open() as f:
        dsc = Dsc(f)
    index_sums = dict(checksums)
    for item in dsc.get("Checksums-Sha256", []):
        if index_sums.get(item["name"]) != item["sha256"]:
            raise VerifyError(
                f"{package} {ver} ({archive.name} {suite}): {dsc_path.name} lists {item['name']} with a checksum"
                " that does not match the signed Sources index"
            )
    return FetchedSource(package, ver, dsc_path, tuple(checksums))
