"""Packages and Sources stanzas from .debs and .dscs (python-debian), and their index files."""

from __future__ import annotations

import concurrent.futures
import ctypes
import gzip
import hashlib
import lzma
import multiprocessing
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822, Dsc
from debian.debfile import DebFile
from debian.debian_support import Version

from .fault import checkpoint

HASHES = ("md5", "sha256", "sha512")


@dataclass(frozen=True)
class Digest:
    size: int
    md5: str
    sha256: str
    sha512: str


def digest_bytes(data: bytes) -> Digest:
    return Digest(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(),
                  hashlib.sha512(data).hexdigest())


def digest_file(path: Path) -> Digest:
    hs = [hashlib.new(h) for h in HASHES]
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            for h in hs:
                h.update(chunk)
    return Digest(size, *(h.hexdigest() for h in hs))


def pool_dir(component: str, source: str) -> str:
    prefix = source[:4] if source.startswith("lib") and len(source) > 3 else source[:1]
    return f"pool/{component}/{prefix}/{source}"


def deb_stanza(path: Path, filename: str, d: Digest) -> Deb822:
    control = DebFile(str(path)).debcontrol()
    stanza = Deb822()
    for key, value in control.items():
        stanza[key] = value
    stanza.setdefault("Section", "misc")
    stanza.setdefault("Priority", "optional")
    stanza["Filename"] = filename
    stanza["Size"] = str(d.size)
    # SHA256 only, as Debian's archive does: apt checks the strongest hash a stanza has, and the
    # incompressible hex of more hashes doubles the time xz takes. Release lists SHA256 and SHA512.
    stanza["SHA256"] = d.sha256
    return stanza


def read_deb(job: tuple[Path, str]) -> tuple[Digest, str]:
    """(digest, Packages stanza) of one .deb named `filename` in the pool; a process pool maps this."""
    path, filename = job
    d = digest_file(path)
    return d, deb_stanza(path, filename, d).dump()


PARALLEL = 64  # fewer .debs than this are read in this process: starting workers costs more


def read_debs(jobs: list[tuple[Path, str]]) -> dict[Path, tuple[Digest, str]]:
    """read_deb over many .debs, on every core when there are enough to pay for the processes.

    The workers are spawned (a fresh interpreter, not a fork): they inherit no descriptor of this
    process, so never the publish lock, and they die with it (PR_SET_PDEATHSIG)."""
    if len(jobs) < PARALLEL or (os.cpu_count() or 1) < 2:
        return {job[0]: read_deb(job) for job in jobs}
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=ctx,
                                                initializer=_die_with, initargs=(os.getpid(),)) as pool:
        results = pool.map(read_deb, jobs, chunksize=max(1, min(32, len(jobs) // (4 * (os.cpu_count() or 1)))))
        first = next(results)
        checkpoint("reading .debs")  # the workers have started and are reading
        return dict(zip((j[0] for j in jobs), [first, *results], strict=True))


def _die_with(parent: int) -> None:
    """In a worker: be killed when the process that started it dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)


def dsc_stanza(path: Path, directory: str, files: dict[str, Digest]) -> Deb822:
    with path.open() as f:
        dsc = Dsc(f)
    stanza = Deb822()
    stanza["Package"] = dsc["Source"]
    for key, value in dsc.items():
        if key not in ("Source", "Files", "Checksums-Sha1", "Checksums-Sha256", "Hash"):
            stanza[key] = value
    stanza.setdefault("Section", "misc")
    stanza.setdefault("Priority", "optional")
    stanza["Directory"] = directory
    stanza["Files"] = "".join(f"\n {d.md5} {d.size} {name}" for name, d in sorted(files.items()))
    stanza["Checksums-Sha256"] = "".join(f"\n {d.sha256} {d.size} {name}" for name, d in sorted(files.items()))
    return stanza


def sort_key(stanza_text: str) -> tuple[str, Version, str]:
    s = Deb822(stanza_text)
    return (s["Package"], Version(s["Version"]), s.get("Architecture", ""))


def render(stanzas: list[str]) -> bytes:
    """The index: stanzas (already sorted by the caller) separated by blank lines."""
    return "\n".join(s.rstrip("\n") + "\n" for s in stanzas).encode()


COMPRESSIONS = (".gz", ".xz")


def compressed(data: bytes) -> dict[str, bytes]:
    """The plain index and its reproducible .gz (no name, no mtime) and .xz forms, made in parallel
    (zlib and lzma release the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        gz = pool.submit(gzip.compress, data, compresslevel=6, mtime=0)
        xz = pool.submit(lzma.compress, data, preset=1)
        return {"": data, ".gz": gz.result(), ".xz": xz.result()}
