"""Debian source packages through the signed chain: InRelease -> Sources -> .dsc -> files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822, Dsc, Sources
from debian.debian_support import Version

from ..archive import indices
from ..archive.access import Archives
from ..cache import link_or_copy, sha256_file
from ..config import Archive
from ..errors import FetchError, NotServed, VerifyError
from ..log import info
from .dsc import plain_name
from .index_dsc import made_dsc


@dataclass(frozen=True)
class FetchedSource:
    package: str
    version: str
    dsc: Path  # in a directory holding all of the source package's files
    checksums: tuple[tuple[str, str], ...]  # (file name, sha256), from the signed index
    # the .dsc was made from this Sources index (the mirror does not serve it); None: downloaded
    dsc_made_from: str | None = None


@dataclass(frozen=True)
class Listing:
    """Where a Sources stanza was found: the mirror, and the index (by its sha256 in the InRelease)."""

    mirror: str
    index: str  # "<archive> <suite> <component>/source/Sources<ext> sha256 <hex>"


def find(archives: Archives, archive: Archive, suite: str, package: str, version: str | None,
         components: tuple[str, ...]) -> tuple[Listing, Sources]:
    """The Sources stanza of package (at version, or the highest) in suite, and where it was listed."""
    release = archives.release(archive, suite)
    candidates: list[tuple[Sources, str]] = []
    for component in components:
        stem = f"{component}/source/Sources"
        if release.entry(stem) is None and not any(release.entry(stem + e) for e in (".xz", ".gz")):
            continue
        path, ext = release.index(archives.cache, stem)
        sha = (release.entry(stem + ext) or ("?", 0))[0]
        where = f"{archive.name} {suite} {stem}{ext} sha256 {sha}"
        candidates += [(c, where) for c in indices.sources(indices.plain(path, ext), package)]
    if version is not None:
        candidates = [c for c in candidates if c[0]["Version"] == version]
    if not candidates:
        wanted = f"{package} {version}" if version else package
        raise FetchError(f"source package {wanted} is not in {archive.name} {suite} ({', '.join(components)})")
    best, where = max(candidates, key=lambda c: Version(c[0]["Version"]))
    return Listing(release.mirror, where), best


def fetch(archives: Archives, archive: Archive, suite: str, package: str, version: str | None,
          components: tuple[str, ...], dest: Path) -> FetchedSource:
    """Download and verify the source package's files into dest. A .dsc the mirror does not serve (HTTP
    404) is made from the signed stanza (index_dsc), once every other file it lists has been fetched."""
    listing, stanza = find(archives, archive, suite, package, version, components)
    mirror = listing.mirror
    ver = str(stanza["Version"])
    directory = str(stanza["Directory"])
    files = stanza.get("Checksums-Sha256") or []
    if not files:
        raise VerifyError(f"{package} {ver} ({archive.name} {suite}): the Sources entry has no Checksums-Sha256")
    dest.mkdir(parents=True, exist_ok=True)
    checksums = []
    dsc_path = None
    made_from = None
    # the .dsc last: when the mirror lacks it, it is made from the stanza once the rest are here
    for item in sorted(files, key=lambda i: str(i["name"]).endswith(".dsc")):
        name = plain_name(str(item["name"]), f"{package} {ver} ({archive.name} {suite}) Sources entry")
        sha, size = item["sha256"], int(item["size"])
        what = f"{package} {ver} ({archive.name} {suite}): file {name}"
        target = dest / name
        target.unlink(missing_ok=True)
        try:
            blob = archives.cache.fetch(f"{mirror}/{directory}/{name}", sha, size, what)
        except NotServed as e:
            if not name.endswith(".dsc") or len(files) < 2:  # a .dsc alone: nothing to make it of
                raise
            target.write_bytes(made_from_stanza(stanza, name))
            made_from = f"{listing.index} (the mirror does not serve {name}: {e.answer})"
            info(f"{package} {ver}: {name} made from the signed Sources index ({listing.index.split(' sha256')[0]})")
            checksums.append((name, sha256_file(target)))
            dsc_path = target
            continue
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
    return FetchedSource(package, ver, dsc_path, tuple(checksums), made_from)


def made_from_stanza(stanza: Sources, dsc_name: str) -> bytes:
    """The .dsc of a Sources stanza (index_dsc.made_dsc over its raw fields)."""
    return made_dsc(Deb822(stanza.dump()), dsc_name)
