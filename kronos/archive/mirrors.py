"""Where an archive's mirror is: configuration, the machine's apt sources, debootstrap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from debian.deb822 import Deb822

from ..config import Archive
from ..errors import ConfigError
from ..run import run

APT_SOURCES = Path("/etc/apt/sources.list.d")
DEBOOTSTRAP = Path("/usr/share/debootstrap")
# Every Ubuntu suite script in debootstrap links to this family script.
UBUNTU_FAMILY_SCRIPT = "gutsy"


def _signed_by(keyring: Path, sources_dir: Path) -> Iterator[tuple[list[str], list[str]]]:
    """(suites, URIs) of each deb822 `deb` source on this machine signed by `keyring`, in file order."""
    for path in sorted(sources_dir.glob("*.sources")):
        with path.open() as f:
            for stanza in Deb822.iter_paragraphs(f):
                if "deb" not in stanza.get("Types", "").split():
                    continue
                if Path(stanza.get("Signed-By", "").strip()).name != keyring.name:
                    continue
                yield stanza.get("Suites", "").split(), stanza.get("URIs", "").split()


def from_apt_sources(keyring: Path, sources_dir: Path = APT_SOURCES) -> str | None:
    """The first deb822 source on this machine signed by `keyring` (not a -security suite)."""
    for suites, uris in _signed_by(keyring, sources_dir):
        if suites and all(s.endswith("-security") for s in suites):
            continue
        if uris:
            return str(uris[0]).rstrip("/")
    return None


def suite_from_apt_sources(keyring: Path, suite: str, sources_dir: Path | None = None) -> str | None:
    """The URI of the first deb822 source on this machine signed by `keyring` that lists `suite` (Debian's
    security suite lives on a mirror of its own)."""
    for suites, uris in _signed_by(keyring, sources_dir or APT_SOURCES):
        if uris and suite in suites:
            return str(uris[0]).rstrip("/")
    return None


def from_debootstrap(family: str, suite: str, arch: str, root: Path = DEBOOTSTRAP) -> str | None:
    """Ask debootstrap's suite script (Ubuntu) or its built-in default (Debian)."""
    script = root / "scripts" / suite
    if family == "ubuntu" and not script.exists():
        script = root / "scripts" / UBUNTU_FAMILY_SCRIPT
    if script.exists():
        shell = (
            'default_mirror() { echo "MIRROR $1"; }; '
            "command_not_found_handle() { :; }; "
            'ARCH="$1"; SUITE="$2"; . "$3" 2>/dev/null </dev/null'
        )
        out = run(["bash", "-c", shell, "kronos", arch, suite, str(script)], check=False)
        for line in out.stdout.decode().splitlines():
            if line.startswith("MIRROR "):
                return line.split(None, 1)[1].strip().rstrip("/")
    if family == "debian":
        main = Path("/usr/sbin/debootstrap")
        if main.exists():
            m = re.search(r'^DEF_MIRROR="([^"]+)"', main.read_text(errors="replace"), re.M)
            if m:
                return m.group(1).rstrip("/")
    return None


def resolve(archive: Archive, suite: str, arch: str) -> str:
    """The mirror URL to use for `suite` of `archive`."""
    if archive.mirror != "auto":
        return archive.mirror
    found = None
    if archive.keyring is not None:
        found = from_apt_sources(archive.keyring)
    found = found or from_debootstrap(archive.family, suite, arch)
    if not found:
        raise ConfigError(
            f"archive '{archive.name}': no mirror found in the apt sources or debootstrap's scripts;"
            f" set archives.{archive.name}.mirror in kronos.toml or KRONOS_MIRROR_{archive.name.upper()}"
        )
    return found
