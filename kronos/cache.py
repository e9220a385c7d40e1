"""Downloads, cached by checksum: a file is stored once under its sha256."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import FetchError, NotServed, StorageError, VerifyError, os_error_line
from .executor.locks import file_lock
from .log import indent, log
from .retry import TRANSIENT_HTTP, Transient, retried

CHUNK = 1 << 20
NOT_SERVED_HTTP = (404, 410)  # the server says it does not have the file (errors.NotServed)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(target: Path, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success fsync it (unless not `sync`) and rename it
    into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)
    try:
        yield tmp_path
        if sync:
            with tmp_path.open("rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def replace_dir(staged: Path, final: Path) -> None:
    """Put a complete directory in place of final: the old one goes only after the new one is whole."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


def link_or_copy(src: Path, dest: Path) -> None:
    """dest becomes src's content: a hard link where possible (same file system), else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def download(url: str, dest: Path, what: str) -> None:
    """Fetch url into dest (atomically). `what` names the thing for the error line: a refused, broken
    or short answer is a FetchError naming url (after retry.attempts() tries when the failure is one
    the network may not repeat), a failed local write a StorageError naming dest."""

    def attempt() -> None:
        log.info("%s> %s", indent(), url)
        try:
            with atomic_path(dest) as tmp, tmp.open("wb") as out:
                _receive(url, out, dest, what)
        except OSError as e:
            raise StorageError(f"{what}: cannot store {url} in {dest}: {os_error_line(e)}") from None

    retried(attempt)


def _receive(url: str, out: BinaryIO, dest: Path, what: str) -> None:
    """url's whole body into out; an answer shorter than its Content-Length is refused."""
    failed = f"{what}: cannot download {url}"
    local = urllib.parse.urlsplit(url).scheme == "file"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            announced: int | None = getattr(resp, "length", None)  # Content-Length; None: chunked or file:
            got = 0
            while chunk := resp.read(CHUNK):
                got += len(chunk)
                try:
                    out.write(chunk)
                except OSError as e:
                    raise StorageError(f"{what}: cannot write {dest}: {os_error_line(e)}") from None
    except urllib.error.HTTPError as e:
        answer = f"HTTP {e.code} {e.reason}"
        if e.code in NOT_SERVED_HTTP:
            raise NotServed(f"{failed}: {answer}", answer) from None
        raise (Transient if e.code in TRANSIENT_HTTP else FetchError)(f"{failed}: {answer}") from None
    except http.client.IncompleteRead:
        raise Transient(f"{failed}: the connection closed in the middle of the answer") from None
    except http.client.HTTPException as e:  # BadStatusLine, LineTooLong, RemoteDisconnected, ...
        error = Transient if isinstance(e, ConnectionError) else FetchError
        raise error(f"{failed}: not a valid HTTP answer ({e.__class__.__name__}: {str(e).strip()!r})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if local:
            if isinstance(reason, FileNotFoundError):
                raise NotServed(f"{failed}: {reason}", "no such file") from None
            raise FetchError(f"{failed}: {reason}") from None
        raise Transient(f"{failed}: {reason}") from None
    if announced is not None and got < announced:
        raise Transient(f"{failed}: the connection closed after {got} of the {announced} bytes announced")


@dataclass(frozen=True)
class Probed:
    """The server's answer to a HEAD: why == "" when it serves the file."""

    why: str = ""
    not_served: bool = False  # the answer downloads raise as NotServed (HTTP 404/410, a missing file:)


def probe(url: str, timeout: float = 30) -> Probed:
    """Whether url answers an HTTP HEAD (as urllib, the downloads' client, sends it; a `file:` URL:
    the file exists), else the server's answer (a 404), without downloading it; a failure of the
    network on the way (reset, timeout, 5xx) is asked again as downloads are, then raised as FetchError."""
    if url.startswith("file://"):
        found = Path(urllib.parse.unquote(url.removeprefix("file://"))).is_file()
        return Probed() if found else Probed("no such file", not_served=True)

    def attempt() -> Probed:
        log.info("%s? %s", indent(), url)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                return Probed()
        except urllib.error.HTTPError as e:
            if e.code in TRANSIENT_HTTP:
                raise Transient(f"HTTP {e.code} {e.reason}") from None
            return Probed(f"HTTP {e.code} {e.reason}", not_served=e.code in NOT_SERVED_HTTP)
        except (urllib.error.URLError, OSError) as e:
            raise Transient(str(getattr(e, "reason", e))) from None

    return retried(attempt)


class Cache:
    """The content store under `root`: by-sha256 blobs plus small keyed state."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def fetch(self, url: str, sha256: str, size: int | None, what: str) -> Path:
        """The file at url, checked against sha256 (and size); downloaded only when not cached."""
        path = self.blob(sha256)
        if path.exists():
            return path
        # one download of a file however many jobs and kronos processes want it at once: the others
        # wait for it, then find it in place
        with file_lock(self.root / "locks" / f"fetch-{sha256}.lock"):
            if path.exists():
                return path
            return self._download(url, sha256, size, what, path)

    def _download(self, url: str, sha256: str, size: int | None, what: str, path: Path) -> Path:
        # a name of this call's own: never another's partial file, whatever happens to the lock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{sha256}.", suffix=".part")
        except OSError as e:
            raise StorageError(f"{what}: cannot store {url} in {path.parent}: {os_error_line(e)}") from None
        os.close(fd)
        tmp = Path(name)
        try:
            download(url, tmp, what)
            actual_size = tmp.stat().st_size
            if size is not None and actual_size != size:
                raise VerifyError(f"{what}: size mismatch for {url}: expected {size}, got {actual_size}")
            actual = sha256_file(tmp)
            if actual != sha256:
                raise VerifyError(
                    f"{what}: sha256 mismatch for {url}: expected {sha256}, got {actual}"
                )
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def put(self, src: Path) -> tuple[Path, str]:
        """Store a local file by its checksum; return (blob path, sha256)."""
        digest = sha256_file(src)
        path = self.blob(digest)
        if not path.exists():
            with atomic_path(path) as tmp:
                shutil.copyfile(src, tmp)
        return path, digest
