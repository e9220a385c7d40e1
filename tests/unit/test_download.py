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
from kronos.errors import ConfigError, FetchError, NotServed

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


class Server:
    """A loopback server that answers every request with the next of `answers` (the last one over
    and over), as it is, and closes; `requests` counts what it was asked."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.requests = 0
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/dists/sid/InRelease"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                answer = self.answers[min(self.requests, len(self.answers) - 1)]
                self.requests += 1
                conn.sendall(answer)


@contextlib.contextmanager
def serving(*answers: bytes) -> Iterator[Server]:
    server = Server(*answers)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        with contextlib.suppress(OSError):
            server.socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        server.socket.close()
        thread.join(timeout=5)


@contextlib.contextmanager
def answering(answer: bytes) -> Iterator[str]:
    with serving(answer) as server:
        yield server.url


@pytest.fixture(autouse=True)
def two_quick_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_DOWNLOAD_ATTEMPTS", "2")
    monkeypatch.setattr("kronos.retry.FIRST_DELAY", 0.0)


# what the error line says; all but a garbage answer are worth another attempt (two, in these tests)
SAYS = {
    "short": f"the connection closed after {len(BODY) // 2} of the {len(BODY)} bytes announced (2 attempts)",
    "chunked": "the connection closed in the middle of the answer (2 attempts)",
    "garbage": "not a valid HTTP answer (BadStatusLine: 'SSH-2.0-OpenSSH_9.2')",
    "nothing": "not a valid HTTP answer (RemoteDisconnected: 'Remote end closed connection without response')"
               " (2 attempts)",
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


WHOLE = HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("first", ["short", "chunked", "nothing", "503"])
def test_a_transient_failure_is_asked_again(tmp_path: Path, first: str) -> None:
    """A mirror that fails once (cut answer, reset connection, 503) and then answers: the file is
    stored whole, in two requests."""
    with serving(UNAVAILABLE if first == "503" else ANSWERS[first], WHOLE) as server:
        path = Cache(tmp_path / "cache").fetch(server.url, hashlib.sha256(BODY).hexdigest(), len(BODY), "x")
    assert path.read_bytes() == BODY
    assert server.requests == 2


@pytest.mark.parametrize(("answer", "says"), [(NOT_FOUND, "HTTP 404 Not Found"),
                                              (ANSWERS["garbage"], SAYS["garbage"])], ids=["404", "garbage"])
def test_a_definite_answer_is_not_asked_again(tmp_path: Path, answer: bytes, says: str) -> None:
    with serving(answer, WHOLE) as server, pytest.raises(FetchError) as e:
        download(server.url, tmp_path / "InRelease", "sid InRelease")
    assert str(e.value) == f"sid InRelease: cannot download {server.url}: {says}"
    assert server.requests == 1
    # a 404 is the server saying it has no such file, in its own words (a made .dsc's record quotes them)
    assert isinstance(e.value, NotServed) is (answer == NOT_FOUND)
    if isinstance(e.value, NotServed):
        assert e.value.answer == "HTTP 404 Not Found"


def test_a_refused_connection_is_tried_as_often_as_configured(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_DOWNLOAD_ATTEMPTS", "3")
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(FetchError) as e:
        download(url, tmp_path / "x", "x")
    assert str(e.value) == f"x: cannot download {url}: [Errno 111] Connection refused (3 attempts)"


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_attempts_setting_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KRONOS_DOWNLOAD_ATTEMPTS", value)
    with pytest.raises(ConfigError, match="KRONOS_DOWNLOAD_ATTEMPTS"):
        download("http://127.0.0.1:9/x", tmp_path / "x", "x")


SLOW_FETCH = """
import sys
from pathlib import Path
from kronos.cache import Cache
print(Cache(Path(sys.argv[1])).fetch(sys.argv[2], sys.argv[3], int(sys.argv[4]), "the sdist"))
"""


def test_threads_and_processes_fetching_one_file_make_one_download(tmp_path: Path) -> None:
    """Four threads here and a second process fetch one file from a slow loopback server at once: the
    server is asked once; every caller gets the verified file."""
    import http.server
    import subprocess
    import sys
    import time

    asked: list[str] = []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            asked.append(self.path)
            time.sleep(1.0)  # long enough for every caller to be waiting
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/xenapi-26.21.1.tar.gz"
    sha = hashlib.sha256(BODY).hexdigest()
    cache = Cache(tmp_path / "cache")
    try:
        other = subprocess.Popen([sys.executable, "-c", SLOW_FETCH, str(cache.root), url, sha, str(len(BODY))],
                                 stdout=subprocess.PIPE, text=True)
        got: list[Path] = []
        jobs = [threading.Thread(target=lambda: got.append(cache.fetch(url, sha, len(BODY), "the sdist")))
                for _ in range(4)]
        for t in jobs:
            t.start()
        for t in jobs:
            t.join()
        out, _ = other.communicate(timeout=60)
    finally:
        server.shutdown()
    assert other.returncode == 0 and Path(out.strip()) == cache.blob(sha)
    assert got == [cache.blob(sha)] * 4 and cache.blob(sha).read_bytes() == BODY
    assert asked == ["/xenapi-26.21.1.tar.gz"]
