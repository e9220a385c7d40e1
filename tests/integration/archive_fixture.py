"""A tiny signed Debian-style archive for tests, built for real and served on loopback.

    build_archive(dest, gpg)   -> Archive: one native source package, indexed by
                                  dpkg-scansources, a Release with SHA256 entries and a
                                  clearsigned InRelease (ed25519, SHA512)
    GpgHome                    -> an ephemeral GnuPG home (short path under /tmp) with the
                                  archive's signing key and a second key not in the keyring
    sign_with_unknown_key()    (a) InRelease signed by a key the keyring does not hold
    unsign()                   (a') InRelease is the plain Release, not signed at all
    tamper_signed_text()       (b) one byte of the signed text changed -> BADSIG
    tamper_dsc()               (c) the .dsc in the pool changed after indexing
    dsc_disagrees_with_index() (c') the .dsc lists its tarball with another sha256 than the index
    delete_pool_file()         (d) a file the index lists is gone -> HTTP 404
    serve(directory)           -> a ThreadingHTTPServer on 127.0.0.1 (a context manager)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import lzma
import os
import shutil
import subprocess
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from debian.deb822 import Release

SUITE = "kronostest"
COMPONENT = "main"
PACKAGE = "kronos-hello"
VERSION = "1.0"
SIGNER = "Kronos Test Archive <archive@example.invalid>"
STRANGER = "Somebody Else <stranger@example.invalid>"


def _run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


class GpgHome:
    """An ephemeral GnuPG home with a signing key and a stranger's key; close() kills its agent."""

    def __init__(self) -> None:
        # Short: gpg-agent's socket lives in the home and socket paths max out near 100 chars.
        self.home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))
        self.home.chmod(0o700)
        try:
            self.signer = self._new_key(SIGNER)
            self.stranger = self._new_key(STRANGER)
        except BaseException:
            self.close()
            raise

    def gpg(self, *args: str) -> str:
        return _run(["gpg", "--batch", "--quiet", "--no-tty", *args], env={"GNUPGHOME": str(self.home)})

    def _new_key(self, uid: str) -> str:
        self.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1y")
        for line in self.gpg("--with-colons", "--list-keys", uid).splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        raise RuntimeError(f"no fingerprint for {uid}")

    def export(self, fingerprint: str, dest: Path) -> Path:
        """The binary public keyring holding only `fingerprint` (what gpgv --keyring reads)."""
        dest.write_bytes(subprocess.run(
            ["gpg", "--batch", "--export", fingerprint], env={**os.environ, "GNUPGHOME": str(self.home)},
            capture_output=True, check=True).stdout)
        return dest

    def clearsign(self, src: Path, dest: Path, fingerprint: str) -> None:
        dest.unlink(missing_ok=True)
        self.gpg("--local-user", fingerprint, "--digest-algo", "SHA512", "--clearsign",
                 "--output", str(dest), str(src))

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(self.home)},
                       capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass(frozen=True)
class Archive:
    """The archive's layout: root is what is served; keyring is the exported signing key."""

    root: Path
    keyring: Path
    suite: str = SUITE
    package: str = PACKAGE
    version: str = VERSION

    @property
    def dists(self) -> Path:
        return self.root / "dists" / self.suite

    @property
    def pool(self) -> Path:
        return self.root / "pool" / COMPONENT / self.package[0] / self.package

    @property
    def dsc(self) -> Path:
        return self.pool / f"{self.package}_{self.version}.dsc"

    @property
    def tarball(self) -> Path:
        return self.pool / f"{self.package}_{self.version}.tar.xz"

    @property
    def inrelease(self) -> Path:
        return self.dists / "InRelease"

    def copy(self, dest: Path) -> Archive:
        """A copy of the archive tree under dest (the keyring is shared)."""
        shutil.copytree(self.root, dest, symlinks=True)
        return Archive(dest, self.keyring, self.suite, self.package, self.version)


def _write_source_tree(tree: Path, package: str, version: str) -> None:
    files = {
        "hello.txt": "Hello from a tiny test package.\nIt has a few lines\nso that a patch has context.\n",
        "debian/source/format": "3.0 (native)\n",
        "debian/control": f"""\
            Source: {package}
            Section: misc
            Priority: optional
            Maintainer: {SIGNER}
            Build-Depends: debhelper-compat (= 13)
            Standards-Version: 4.6.2
            Rules-Requires-Root: no

            Package: {package}
            Architecture: all
            Depends: ${{misc:Depends}}
            Description: tiny package of the kronos tests
             It installs nothing of use.
            """,
        "debian/changelog": f"""\
            {package} ({version}) unstable; urgency=medium

              * Initial release.

             -- {SIGNER}  Thu, 01 Jan 2026 00:00:00 +0000
            """,
        "debian/rules": "#!/usr/bin/make -f\n%:\n\tdh $@\n",
        "debian/copyright": "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
    }
    for rel, text in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tree / "debian" / "rules").chmod(0o755)


def _index(root: Path, suite: str) -> None:
    """dists/<suite>/main/source/Sources(.xz) from the pool."""
    sources = _run(["dpkg-scansources", "pool"], cwd=root)
    if not sources.strip():
        raise RuntimeError("dpkg-scansources found no source package")
    _write_index(root, suite, sources)


def _write_index(root: Path, suite: str, sources: str) -> None:
    d = root / "dists" / suite / COMPONENT / "source"
    d.mkdir(parents=True, exist_ok=True)
    (d / "Sources").write_text(sources)
    (d / "Sources.xz").write_bytes(lzma.compress(sources.encode()))


def _release(root: Path, suite: str) -> Path:
    """dists/<suite>/Release listing every index below it with its SHA256 and size."""
    dists = root / "dists" / suite
    rel = Release()
    rel["Origin"] = "Kronos"
    rel["Label"] = "Kronos test archive"
    rel["Suite"] = suite
    rel["Codename"] = suite
    rel["Date"] = formatdate(usegmt=True)
    rel["Architectures"] = "amd64"
    rel["Components"] = COMPONENT
    rel["Description"] = "A tiny signed archive built by the tests"
    entries = []
    for path in sorted(p for p in dists.rglob("*") if p.is_file()):
        name = path.relative_to(dists).as_posix()
        if name in ("Release", "InRelease", "Release.gpg"):
            continue
        data = path.read_bytes()
        entries.append({"sha256": hashlib.sha256(data).hexdigest(), "size": str(len(data)), "name": name})
    rel["SHA256"] = entries  # type: ignore[assignment]  # a multivalued field
    out = dists / "Release"
    out.write_text(rel.dump())
    return out


def build_archive(dest: Path, gpg: GpgHome) -> Archive:
    """A signed archive with one native source package (made by dpkg-source -b)."""
    archive = Archive(dest / "archive", gpg.export(gpg.signer, dest / "keyring.gpg"))
    archive.pool.mkdir(parents=True)
    work = dest / "srcwork"
    tree = work / f"{archive.package}-{archive.version}"
    _write_source_tree(tree, archive.package, archive.version)
    _run(["dpkg-source", "-b", tree.name], cwd=work, env={"SOURCE_DATE_EPOCH": "1767225600"})
    for f in work.iterdir():
        if f.is_file():
            shutil.move(str(f), archive.pool / f.name)
    shutil.rmtree(work)
    reindex(archive, gpg)
    return archive


def reindex(archive: Archive, gpg: GpgHome) -> None:
    """Regenerate the index, Release and InRelease from the pool (signed by the archive key)."""
    _index(archive.root, archive.suite)
    _sign_release(archive, gpg)


def index_entry(archive: Archive, name: str) -> str:
    """The sha256 the signed Sources index lists for pool file `name`."""
    text = (archive.dists / COMPONENT / "source" / "Sources").read_text()
    block = text.split("Checksums-Sha256:\n", 1)[1]
    for line in block.splitlines():
        if not line.startswith(" "):
            break
        sha, _size, file = line.split()
        if file == name:
            return sha
    raise KeyError(name)


def _sign_release(archive: Archive, gpg: GpgHome) -> None:
    release = _release(archive.root, archive.suite)
    gpg.clearsign(release, archive.inrelease, gpg.signer)


# --- ways to break it ----------------------------------------------------------------------


def sign_with_unknown_key(archive: Archive, gpg: GpgHome) -> str:
    """(a) InRelease re-signed by a key that is not in the keyring; returns that key's fingerprint."""
    gpg.clearsign(archive.dists / "Release", archive.inrelease, gpg.stranger)
    return gpg.stranger


def unsign(archive: Archive) -> None:
    """(a') InRelease replaced by the plain, unsigned Release."""
    shutil.copyfile(archive.dists / "Release", archive.inrelease)


def tamper_signed_text(archive: Archive) -> None:
    """(b) Change one byte of the signed text of InRelease (the signature stays) -> BADSIG."""
    data = archive.inrelease.read_bytes()
    needle = b"Label: Kronos test archive"
    i = data.index(needle)
    j = i + len(b"Label: K")
    archive.inrelease.write_bytes(data[:j] + b"C" + data[j + 1:])


def tamper_dsc(archive: Archive, same_size: bool = True) -> Path:
    """(c) Change the .dsc in the pool after indexing: one byte (same size) or an added line."""
    data = archive.dsc.read_bytes()
    if same_size:
        i = data.index(b"Standards-Version: ") + len(b"Standards-Version: ")
        data = data[:i] + (b"5" if data[i:i + 1] != b"5" else b"6") + data[i + 1:]
    else:
        data = data.replace(b"\nVersion:", b"\nX-Tampered: yes\nVersion:", 1)
    if data == archive.dsc.read_bytes():
        raise RuntimeError(f"{archive.dsc} did not change")
    archive.dsc.write_bytes(data)
    return archive.dsc


def dsc_disagrees_with_index(archive: Archive, gpg: GpgHome) -> None:
    """(c') The .dsc lists its tarball with a sha256 other than the (correct) one in the index.

    The .dsc itself is indexed as it now is, so it downloads and verifies; only the
    cross-check of its Checksums-Sha256 against the signed index can catch it.
    """
    real = index_entry(archive, archive.tarball.name)
    bogus = "f" * 64 if real != "f" * 64 else "e" * 64
    archive.dsc.write_text(archive.dsc.read_text().replace(real, bogus))
    sources = _run(["dpkg-scansources", "pool"], cwd=archive.root).replace(bogus, real)
    _write_index(archive.root, archive.suite, sources)
    _sign_release(archive, gpg)


def delete_pool_file(archive: Archive, suffix: str = ".tar.xz") -> Path:
    """(d) Remove a pool file the index lists (it is then answered with HTTP 404)."""
    victim = next(p for p in sorted(archive.pool.iterdir()) if p.name.endswith(suffix))
    victim.unlink()
    return victim


# --- serving ---------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path, handler_class: type[http.server.SimpleHTTPRequestHandler] = _QuietHandler,
          **options: Any) -> Iterator[str]:
    """Serve directory over HTTP on 127.0.0.1 (a free port) with handler_class(**options); yield the base URL."""
    handler = functools.partial(handler_class, directory=str(directory), **options)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-archive", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
