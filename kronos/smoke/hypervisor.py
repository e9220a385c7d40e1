"""Xen out of our xen-hypervisor .deb: /boot/xen-<series>-<arch>.gz gunzipped is the ELF that QEMU
boots as a multiboot kernel. Kept in the cache under the .deb's sha256, so it is extracted once."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..cache import atomic_path, sha256_file
from ..errors import SmokeError
from ..run import run
from .published import Published

FORMAT = 2  # 2: the build-id note
SHT_NOTE = 7
NT_GNU_BUILD_ID = 3


@dataclass(frozen=True)
class Hypervisor:
    package: str
    version: str
    elf: Path  # what QEMU boots (-kernel)
    gz_path: str  # the file's path in the .deb and in dom0: /boot/xen-4.17-amd64.gz
    gz_sha256: str  # the sha256 of that file as the .deb ships it (dom0 must have the same)
    config: dict[str, str]  # /boot/xen-<series>-<arch>.config: CONFIG_* = value ("n" for "is not set")
    build_id: str  # the ELF's GNU build-id note (hex; "" when it has none): what `xl info` reports as build_id


def parse_config(text: str) -> dict[str, str]:
    """A Kconfig .config as a mapping; `# CONFIG_X is not set` reads as "n"."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[2:-len(" is not set")]] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip('"')
    return out


def elf_build_id(image: bytes) -> str:
    """The GNU build-id note of an ELF image (32- or 64-bit, little-endian), as hex; "" when it has none.
    Read from its SHT_NOTE sections (Xen's multiboot ELF keeps the note in a section named `.note`)."""
    if image[:4] != b"\x7fELF" or image[5:6] != b"\x01":
        raise SmokeError("not a little-endian ELF image")
    is64 = image[4:5] == b"\x02"
    try:
        if is64:
            shoff, = struct.unpack_from("<Q", image, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", image, 0x3A)
        else:
            shoff, = struct.unpack_from("<I", image, 0x20)
            shentsize, shnum = struct.unpack_from("<HH", image, 0x2E)
        for i in range(shnum):
            at = shoff + i * shentsize
            if is64:
                sh_type, = struct.unpack_from("<I", image, at + 4)
                offset, size = struct.unpack_from("<QQ", image, at + 0x18)
            else:
                sh_type, = struct.unpack_from("<I", image, at + 4)
                offset, size = struct.unpack_from("<II", image, at + 0x10)
            if sh_type != SHT_NOTE:
                continue
            pos, end = offset, offset + size
            while pos + 12 <= end:
                namesz, descsz, note_type = struct.unpack_from("<III", image, pos)
                name_at = pos + 12
                desc_at = name_at + (namesz + 3) // 4 * 4
                if note_type == NT_GNU_BUILD_ID and image[name_at:name_at + namesz] == b"GNU\x00":
                    return image[desc_at:desc_at + descsz].hex()
                pos = desc_at + (descsz + 3) // 4 * 4
    except struct.error:
        raise SmokeError("a truncated ELF image (its section headers or notes run past its end)") from None
    return ""


def _member(tar: tarfile.TarFile, path: str, deb: Path) -> bytes:
    for name in (path.lstrip("/"), "." + path):
        try:
            f = tar.extractfile(name)
        except KeyError:
            continue
        if f is not None:
            return f.read()
    raise SmokeError(f"{deb} has no {path}: is it Debian's xen-hypervisor package?")


def extract(published: Published, arch: str, cache_root: Path) -> Hypervisor:
    """The hypervisor of our repository for arch, taken from its .deb (checked against Packages)."""
    binary = published.xen_hypervisor(arch)
    series = published.xen_series(arch)
    deb = published.root / binary.filename
    if not deb.is_file():
        raise SmokeError(f"{deb} is missing from the published pool; run kronos publish")
    if sha256_file(deb) != binary.sha256:
        raise SmokeError(f"{deb} does not match the repository's Packages (sha256); run kronos publish again")
    gz_path = f"/boot/xen-{series}-{arch}.gz"
    slot = cache_root / binary.sha256
    elf = slot / f"xen-{series}-{arch}"
    meta = slot / "hypervisor.json"
    if not (elf.is_file() and meta.is_file()) or json.loads(meta.read_text()).get("format") != FORMAT:
        tar_bytes = run(["dpkg-deb", "--fsys-tarfile", deb], merge_stderr=False).stdout
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            gz = _member(tar, gz_path, deb)
            config = _member(tar, f"/boot/xen-{series}-{arch}.config", deb).decode(errors="replace")
        try:
            image = gzip.decompress(gz)
        except (OSError, EOFError) as e:
            raise SmokeError(f"{deb}: {gz_path} is not a gzip file ({e})") from None
        if image[:4] != b"\x7fELF":
            raise SmokeError(f"{deb}: {gz_path} does not hold an ELF image")
        try:
            build_id = elf_build_id(image)
        except SmokeError as e:
            raise SmokeError(f"{deb}: {gz_path}: {e}") from None
        with atomic_path(elf) as tmp:
            tmp.write_bytes(image)
        record = {"format": FORMAT, "package": binary.name, "version": binary.version, "gz_path": gz_path,
                  "gz_sha256": hashlib.sha256(gz).hexdigest(), "config": parse_config(config), "build_id": build_id}
        with atomic_path(meta) as tmp:
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    record = json.loads(meta.read_text())
    return Hypervisor(package=record["package"], version=record["version"], elf=elf, gz_path=record["gz_path"],
                      gz_sha256=record["gz_sha256"], config=record["config"], build_id=record["build_id"])

