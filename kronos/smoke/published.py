"""What our published repository (`kronos publish` output) offers one target: its Release, its binary
packages (the highest version of each) and the keyring that signs it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Packages, Release
from debian.debian_support import Version

from ..cache import sha256_file
from ..errors import SmokeError

# Debian's xen ships the hypervisor as xen-hypervisor-<series>-<arch> and the tools as xen-utils-<series>
_HYPERVISOR = re.compile(r"^xen-hypervisor-(\d+\.\d+)-(\w+)$")


@dataclass(frozen=True)
class Binary:
    """One binary package of the repository (its highest version)."""

    name: str
    version: str
    filename: str  # relative to the repository root (pool/...)
    sha256: str


@dataclass(frozen=True)
class Published:
    root: Path
    suite: str
    origin: str
    label: str
    codename: str
    packages_index: str  # the Packages index's path relative to dists/<suite>
    packages_sha256: str  # as the Release lists it (and the file has)
    keyring: Path
    binaries: Mapping[str, Binary]

    def binary(self, name: str) -> Binary:
        try:
            return self.binaries[name]
        except KeyError:
            raise SmokeError(
                f"no {name} in the repository {self.root} (suite {self.suite}); build and publish it:"
                f" kronos build --target {self.suite} && kronos publish"
            ) from None

    def deb(self, name: str) -> Path:
        return self.root / self.binary(name).filename

    def xen_hypervisor(self, arch: str) -> Binary:
        """The hypervisor package (xen-hypervisor-<series>-<arch>); the highest series if several."""
        found = [(Version(m.group(1) + "-0"), b) for b in self.binaries.values()
                 if (m := _HYPERVISOR.match(b.name)) and m.group(2) == arch]
        if not found:
            raise SmokeError(
                f"no xen in the repository {self.root} (suite {self.suite}: no xen-hypervisor-*-{arch} in"
                f" {self.packages_index}); build and publish it: kronos build --target {self.suite}"
                " --only xen && kronos publish"
            )
        return max(found, key=lambda vb: vb[0])[1]

    def xen_series(self, arch: str) -> str:
        """`4.17` for xen-hypervisor-4.17-amd64."""
        m = _HYPERVISOR.match(self.xen_hypervisor(arch).name)
        assert m is not None
        return m.group(1)


def load(root: Path, suite: str, keyring_name: str, component: str = "main", arch: str = "amd64") -> Published:
    """Read dists/<suite> of the published tree at root; every missing piece is one SmokeError."""
    dists = root / "dists" / suite
    release_path = dists / "Release"
    if not release_path.is_file():
        raise SmokeError(f"no published suite {suite} in {root} ({release_path} is missing); run kronos publish")
    keyring = root / keyring_name
    if not keyring.is_file():
        raise SmokeError(f"the published repository {root} has no keyring {keyring_name}; run kronos publish")
    with release_path.open() as f:
        release = Release(f)
    if not release.get("Origin"):
        raise SmokeError(f"{release_path} has no Origin: apt cannot pin the repository; run kronos publish")
    index = f"{component}/binary-{arch}/Packages"
    listed = {entry["name"]: entry["sha256"] for entry in release.get("SHA256", [])}
    if index not in listed:
        raise SmokeError(f"{release_path} lists no {index}; run kronos publish")
    packages_path = dists / index
    if not packages_path.is_file() or sha256_file(packages_path) != listed[index]:
        raise SmokeError(f"{packages_path} does not match its Release (sha256); run kronos publish again")
    binaries: dict[str, Binary] = {}
    with packages_path.open() as f:
        for stanza in Packages.iter_paragraphs(f, use_apt_pkg=False):
            b = Binary(stanza["Package"], stanza["Version"], stanza["Filename"], stanza["SHA256"])
            old = binaries.get(b.name)
            if old is None or Version(b.version) > Version(old.version):
                binaries[b.name] = b
    return Published(
        root=root, suite=suite, origin=release["Origin"], label=release.get("Label", ""),
        codename=release.get("Codename", suite), packages_index=index, packages_sha256=listed[index],
        keyring=keyring, binaries=binaries,
    )
