"""download() / Cache.fetch against a loopback server whose answers break: each is one FetchError
naming what, the URL and what was wrong, and nothing is left in the cache."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.cache import Cache, download
from kronos.errors import FetchError

BODY = b"Origin: Kronos tests\n" * 200
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
ANSWERS = {
    # Content-Length promises the whole body; half of it comes, then the connection closes
    "short": HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY[: len(BODY) // 2],
    # a chunk announced whole and cut off
    "chunked": HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(BODY):x}\r\n".encode() + BODY[:100],
    "garbage": b"SSH-2.0-OpenSSH_9.2\r\n",
    "nothing": b"",
}


@contextlib.contextmanager
def answering(answer: bytes) -> Iterator[str]:
    """A loopback server that reads one request, sends `answer` as it is and closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/dists/sid/InRelease"
    finally:
        server.close()
        thread.join(timeout=5)


SAYS = {
    "short": f"the connection closed after {len(BODY) // 2} of the {len(BODY)} bytes announced",
    "chunked": "the connection closed in the middle of the answer",
    "garbage": "not a valid HTTP answer (BadStatusLine: 'SSH-2.0-OpenSSH_9.2')",
    "nothing": "not a valid HTTP answer (RemoteDisconnected: 'Remote end closed connection without response')",
}


@pytest.mark.parametrize("how", sorted(ANSWERS))
def test_download_of_a_broken_answer(tmp_path: Path, how: str) -> None:
    """An unsized download (as InRelease is): a short answer must not pass for the whole file."""
    dest = tmp_path / "InRelease"
    with answering(ANSWERS[how]) as url, pytest.raises(FetchError) as e:
        download(url, dest, "sid InRelease")
    assert str(e.value) == f"sid InRelease: cannot download {url}: {SAYS[how]}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["short", "chunked", "garbage"])
def test_cache_fetch_of_a_broken_answer(tmp_path: Path, how: str) -> None:
    """A sized, checksummed fetch: the broken answer is a download failure, not a checksum mismatch."""
    cache = Cache(tmp_path / "cache")
    with answering(ANSWERS[how]) as url, pytest.raises(FetchError) as e:
        cache.fetch(url, hashlib.sha256(BODY).hexdigest(), len(BODY), "hello 1.0 (debian sid): file x.dsc")
    assert str(e.value) == f"hello 1.0 (debian sid): file x.dsc: cannot download {url}: {SAYS[how]}"
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_whole_answer_is_stored(tmp_path: Path) -> None:
    answer = HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
    cache = Cache(tmp_path / "cache")
    with answering(answer) as url:
        path = cache.fetch(url, hashlib.sha256(BODY).hexdigest(), len(BODY), "x")
    assert path.read_bytes() == BODY
