"""A tree with its own debian/ (a directory or a tarball): built as it is, like `sbuild` in the tree.

The tree's debian/changelog gives the source name and version, debian/source/format the format:
native (the tree is the source) or `3.0 (quilt)` (the .orig is the configured one, else
`<source>_<upstream>.orig.tar.{gz,xz,bz2}` next to the tree).
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from debian.changelog import Changelog, ChangelogParseError
from debian.deb822 import Deb822
from debian.debian_support import Version

from ..cache import sha256_file
from ..errors import FetchError
from ..run import run

ORIG_COMPRESSIONS = ("gz", "xz", "bz2")
NATIVE = "3.0 (native)"
QUILT = "3.0 (quilt)"


@dataclass(frozen=True)
class OwnTree:
    """A tree unpacked into `tree`, with what its debian/ says."""

    source: str
    version: str
    format: str
    tree: Path
    orig: Path | None  # quilt: the upstream tarball (copied beside the tree)


def source_format(tree: Path) -> str:
    """debian/source/format (1.0 when absent, as dpkg-source reads it)."""
    path = tree / "debian" / "source" / "format"
    return path.read_text().strip() if path.exists() else "1.0"


def is_native(fmt: str, version: str) -> bool:
    """Whether a tree of this format and version is its own source (no .orig): `3.0 (native)`, or
    1.0 with a version without a Debian revision."""
    if fmt == NATIVE:
        return True
    if fmt == QUILT:
        return False
    if fmt == "1.0":
        return Version(version).debian_revision is None
    raise FetchError(f"debian/source/format '{fmt}' is not one kronos builds (3.0 (native), 3.0 (quilt), 1.0)")


def orig_names(source: str, version: str) -> list[str]:
    """The names dpkg-source looks for as the upstream tarball of source at version."""
    upstream = Version(version).upstream_version
    return [f"{source}_{upstream}.orig.tar.{c}" for c in ORIG_COMPRESSIONS]


def read_changelog(tree: Path, given: Path) -> tuple[str, str]:
    """(source, version) of the newest entry of tree/debian/changelog; `given` names the tree in errors."""
    path = tree / "debian" / "changelog"
    if not (tree / "debian").is_dir():
        raise FetchError(f"local source {given}: no debian/ directory (looked for {given}/debian); a tree built"
                         " without [packaging] brings its own debian/")
    if not path.is_file():
        raise FetchError(f"local source {given}: no debian/changelog (looked for {given}/debian/changelog)")
    try:
        with path.open(encoding="utf-8") as f:
            changelog = Changelog(f, max_blocks=1, strict=True)
        return str(changelog.package), str(changelog.version)
    except (ChangelogParseError, ValueError, UnicodeDecodeError) as e:
        raise FetchError(f"local source {given}: debian/changelog cannot be read: {e}") from None


def unpack(path: Path, dest: Path) -> None:
    """Copy a directory (without .git) or unpack a tarball (its one top directory) into dest."""
    if not path.exists():
        raise FetchError(f"local source {path}: does not exist")
    if path.is_dir():
        shutil.copytree(path, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        return
    if not tarfile.is_tarfile(path):
        raise FetchError(f"local source {path}: not a directory or a tarball")
    dest.mkdir(parents=True)
    run(["tar", "-xf", str(path), "-C", str(dest), "--strip-components=1", "--exclude=.git"])


def find_orig(path: Path, source: str, version: str, configured: Path | None) -> Path:
    """The configured .orig, else the sibling tarball named as dpkg-source expects; one error naming
    what was looked at."""
    if configured is not None:
        if not configured.is_file():
            raise FetchError(f"local source {path}: the configured orig {configured} does not exist")
        return configured
    looked = [path.parent / n for n in orig_names(source, version)]
    found = next((p for p in looked if p.is_file()), None)
    if found is None:
        raise FetchError(f"local source {path}: 3.0 (quilt) needs its upstream tarball; none of"
                         f" {', '.join(str(p) for p in looked)} exists (or set orig in the recipe)")
    return found


def prepare(path: Path, configured_orig: Path | None, dest: Path) -> OwnTree:
    """Unpack the tree into dest/tree and, for a non-native format, copy its .orig into dest."""
    tree = dest / "tree"
    unpack(path, tree)
    source, version = read_changelog(tree, path)
    fmt = source_format(tree)
    if is_native(fmt, version):
        return OwnTree(source, version, fmt, tree, None)
    found = find_orig(path, source, version, configured_orig)
    suffix = found.name.rsplit(".", 1)[-1]
    if not found.name.endswith(tuple(f".tar.{c}" for c in ORIG_COMPRESSIONS)):
        raise FetchError(f"local source {path}: the orig {found} is not a .tar.gz, .tar.xz or .tar.bz2")
    orig = dest / f"{source}_{Version(version).upstream_version}.orig.tar.{suffix}"
    shutil.copyfile(found, orig)
    return OwnTree(source, version, fmt, tree, orig)


def digests(own: OwnTree) -> dict[str, str]:
    """Every file of the tree (and the orig) by name -> sha256, for the content key."""
    out = {f"tree/{p.relative_to(own.tree).as_posix()}": sha256_file(p)
           for p in sorted(own.tree.rglob("*")) if p.is_file() and not p.is_symlink()}
    out.update({f"tree-link/{p.relative_to(own.tree).as_posix()}": str(p.readlink())
                for p in sorted(own.tree.rglob("*")) if p.is_symlink()})
    if own.orig is not None:
        out["source/orig"] = sha256_file(own.orig)
    return out


def control(tree: Path) -> list[Deb822]:
    """The paragraphs of tree/debian/control."""
    path = tree / "debian" / "control"
    if not path.is_file():
        raise FetchError(f"{tree}: no debian/control")
    with path.open(encoding="utf-8") as f:
        return list(Deb822.iter_paragraphs(f))
