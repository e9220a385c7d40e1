"""A small published tree (dists/<suite>/Release + Packages, pool, keyring) for the smoke stage's unit
tests: the same shape `kronos publish` writes, without signing (the smoke stage lets apt verify)."""

from __future__ import annotations

import gzip
import hashlib
import struct
import subprocess
from pathlib import Path

from kronos.config import Settings, load_settings

XEN = "4.17.5+72-g01140da4e8-1+deb12u0+kronos1"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
XEN_CONFIG = "CONFIG_X86_64=y\nCONFIG_SHADOW_PAGING=y\n# CONFIG_PV_SHIM is not set\nCONFIG_NR_CPUS=\"256\"\n"
BUILD_ID = "9031d9ab1eded743dd31291db87f4fb2e90630d0"


def elf32(notes: bytes, section: str = ".note") -> bytes:
    """An ELF32 like Xen's multiboot image: a null section, .text, .shstrtab and a SHT_NOTE section."""
    shstrtab = b"\0.text\0.shstrtab\0" + section.encode() + b"\0"
    text = b"\x90" * 16
    body = text + notes + shstrtab
    text_at, notes_at, strtab_at = 0x34, 0x34 + len(text), 0x34 + len(text) + len(notes)
    shoff = 0x34 + len(body)
    header = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x200000, 0, shoff, 0,
                                                                0x34, 0, 0, 40, 4, 2)

    def sh(name: int, kind: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIIIIIIIII", name, kind, 0, 0, offset, size, 0, 0, 4, 0)

    sections = (sh(0, 0, 0, 0) + sh(1, 1, text_at, len(text)) + sh(7, 3, strtab_at, len(shstrtab))
                + sh(17, 7, notes_at, len(notes)))
    return header + body + sections


def note(name: bytes, kind: int, desc: bytes) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)



XEN_ELF = elf32(note(b"GNU\0", 3, bytes.fromhex(BUILD_ID)))


def settings(root: Path) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kronos.toml").write_text(
        f'[archives.debian]\nmirror = "http://127.0.0.1:9/debian"\nsnapshot = true\nkeyring = "{DEBIAN_KEYRING}"\n'
    )
    return load_settings(root, env={"KRONOS_CACHE_DIR": str(root / ".cache")})


def hypervisor_deb(out: Path, gz: bytes | None = None, name: str = "xen-hypervisor-4.17-amd64") -> Path:
    """A real .deb (dpkg-deb -b) holding /boot/xen-4.17-amd64.gz and its .config."""
    tree = out / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "boot").mkdir()
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {XEN}\nArchitecture: amd64\nMaintainer: T <t@localhost>\nDescription: test\n")
    (tree / "boot" / "xen-4.17-amd64.gz").write_bytes(gzip.compress(XEN_ELF, mtime=0) if gz is None else gz)
    (tree / "boot" / "xen-4.17-amd64.config").write_text(XEN_CONFIG)
    deb = out / f"{name}_{XEN}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(tree), str(deb)], check=True,
                   stdout=subprocess.DEVNULL)
    return deb


def publish(root: Path, packages: dict[str, str], suite: str = "bookworm", origin: str | None = "Kronos",
            deb: Path | None = None) -> Path:
    """root/dists/<suite>/{Release, main/binary-amd64/Packages}, pool files and the keyring; returns root.
    packages: name -> version (the hypervisor's pool file is `deb` when given, else a stand-in)."""
    stanzas = []
    for name, version in packages.items():
        filename = f"pool/main/x/xen/{name}_{version}_amd64.deb"
        path = root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        if deb is not None and name.startswith("xen-hypervisor-"):
            path.write_bytes(deb.read_bytes())
        else:
            path.write_bytes(f"{name} {version}".encode())
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        stanzas.append(f"Package: {name}\nVersion: {version}\nArchitecture: amd64\nFilename: {filename}\n"
                       f"Size: {path.stat().st_size}\nSHA256: {digest}\n")
    index = root / "dists" / suite / "main" / "binary-amd64" / "Packages"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("\n".join(stanzas))
    digest = hashlib.sha256(index.read_bytes()).hexdigest()
    head = f"Origin: {origin}\nLabel: Kronos\n" if origin else ""
    (root / "dists" / suite / "Release").write_text(
        f"{head}Suite: {suite}\nCodename: {suite}\nDate: Tue, 01 Dec 2026 17:03:41 UTC\nSHA256:\n"
        f" {digest} {index.stat().st_size} main/binary-amd64/Packages\n")
    (root / "kronos-archive-keyring.pgp").write_bytes(b"not a real keyring")
    return root


def stack(version: str = XEN) -> dict[str, str]:
    """The packages of our bookworm stack the smoke dom0 needs."""
    names = ["xen-hypervisor-4.17-amd64", "xen-system-amd64", "xen-utils-4.17", "xen-utils-common",
             "xen-hypervisor-common", "libxenmisc4.17", "libxen-ocaml", "libxen-ocaml-dev"]
    out = dict.fromkeys(names, version)
    out["python3-xenapi"] = "26.21.1-1~bpo12+1"
    return out
