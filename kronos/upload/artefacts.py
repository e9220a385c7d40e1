"""Source-only upload artefacts: .dsc + files, a source .buildinfo and .changes, signed like debsign."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import BuildInfo, Changes, Deb822

from ..run import run
from ..source_package import dsc_files
from .plan import Candidate, UploadError

# (field, checksum key, hashlib name) of the file lists in each format
CHANGES_SUMS = (("Files", "md5sum", "md5"), ("Checksums-Sha1", "sha1", "sha1"),
                ("Checksums-Sha256", "sha256", "sha256"))
BUILDINFO_SUMS = (("Checksums-Md5", "md5", "md5"), ("Checksums-Sha1", "sha1", "sha1"),
                  ("Checksums-Sha256", "sha256", "sha256"))


@dataclass(frozen=True)
class Artefacts:
    directory: Path
    dsc: Path
    buildinfo: Path
    changes: Path


def refresh_checksums(control: Deb822, fields: tuple[tuple[str, str, str], ...], files: Iterable[Path]) -> None:
    """Set the size and checksums of files (by name) in control's file lists, in place."""
    wanted = {f.name: f.read_bytes() for f in files}
    for field, key, algo in fields:
        for entry in control.get(field, []):
            data = wanted.get(entry["name"])
            if data is not None:
                entry["size"] = str(len(data))
                entry[key] = hashlib.new(algo, data).hexdigest()


def prepare(c: Candidate, changed_by: str, dest: Path, work: Path) -> Artefacts:
    """Copy the .dsc and its files into dest; make the source .buildinfo and .changes there (unsigned)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in dsc_files(c.dsc):
        shutil.copyfile(f, dest / f.name)
    tree = work / "tree"
    run(["dpkg-source", "-x", dest / c.dsc.name, tree])
    buildinfo = dest / f"{c.name}_source.buildinfo"
    changes = dest / f"{c.name}_source.changes"
    run(["dpkg-genbuildinfo", "--build=source", f"-u{dest}", f"-O{buildinfo}"], cwd=tree)
    # -sd: the archive has the orig already (a PPA upload of the target's own source); -sa: include it
    orig = "-sd" if c.orig_in_archive else "-sa"
    run(["dpkg-genchanges", "-S", orig, f"-e{changed_by}", f"-u{dest}", f"-O{changes}"], cwd=tree)
    return Artefacts(dest, dest / c.dsc.name, buildinfo, changes)


def read_changes(path: Path) -> Changes:
    with path.open() as f:
        return Changes(f)


def source_only(changes: Changes, path: Path, distribution: str) -> None:
    """A source-only upload for distribution: Architecture source, no binary packages listed."""
    binaries = [e["name"] for e in changes.get("Files", []) if e["name"].endswith((".deb", ".udeb", ".ddeb"))]
    if changes.get("Architecture") != "source" or binaries:
        what = binaries[0] if binaries else f"Architecture: {changes.get('Architecture')}"
        raise UploadError(f"{path.name} is not a source-only upload ({what})")
    if changes.get("Distribution") != distribution:
        raise UploadError(
            f"{path.name}: Distribution is '{changes.get('Distribution')}', the target wants '{distribution}'"
            " (debian/changelog of the build output; rebuild it)"
        )


def sign(a: Artefacts, clearsign: Callable[[bytes], bytes]) -> None:
    """What debsign does: sign the .dsc, fix its sums in the .buildinfo, sign that, fix both in the
    .changes, sign the .changes."""
    a.dsc.write_bytes(clearsign(a.dsc.read_bytes()))
    with a.buildinfo.open() as f:
        info = BuildInfo(f)
    refresh_checksums(info, BUILDINFO_SUMS, [a.dsc])
    a.buildinfo.write_bytes(clearsign(info.dump().encode()))
    changes = read_changes(a.changes)
    refresh_checksums(changes, CHANGES_SUMS, [a.dsc, a.buildinfo])
    a.changes.write_bytes(clearsign(changes.dump().encode()))
