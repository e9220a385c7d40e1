"""plan's reachability check (HTTP HEAD) against a loopback mirror: a failure of the network is asked
again and, if it lasts, reported but not cached; the mirror's own 404 is cached until the index
changes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from debian.deb822 import Sources

from kronos.plan.indices import SourceEntry
from kronos.plan.reach import reachable


class Mirror:
    """Answers HEAD /pool/<file> with the next status of `script[file]` (the last one over and over)."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.script = script
        self.asked: dict[str, int] = {}
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                n = mirror.asked.get(name, 0)
                mirror.asked[name] = n + 1
                statuses = mirror.script.get(name, [404])
                self.send_response(statuses[min(n, len(statuses) - 1)])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextlib.contextmanager
def serving(script: dict[str, list[int]]) -> Iterator[Mirror]:
    mirror = Mirror(script)
    thread = threading.Thread(target=mirror.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        mirror.server.shutdown()
        mirror.server.server_close()


@pytest.fixture(autouse=True)
def two_quick_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_DOWNLOAD_ATTEMPTS", "2")
    monkeypatch.setattr("kronos.retry.FIRST_DELAY", 0.0)


def _entry(mirror: Mirror, name: str) -> SourceEntry:
    stanza = Sources(f"Package: {name}\nVersion: 1.0-1\nDirectory: pool\nChecksums-Sha256:\n"
                     f" {'0' * 64} 10 {name}_1.0-1.dsc\n")
    return SourceEntry(name, "1.0-1", "sid", mirror.url, stanza, listing="index-1")


def test_a_503_once_is_asked_again_and_cached(tmp_path: Path) -> None:
    with serving({"flaky_1.0-1.dsc": [503, 200]}) as mirror:
        [found] = reachable(tmp_path, [_entry(mirror, "flaky")])
        assert (found.ok, found.definite) == (True, True)
        assert mirror.asked == {"flaky_1.0-1.dsc": 2}
        reachable(tmp_path, [_entry(mirror, "flaky")])
        assert mirror.asked == {"flaky_1.0-1.dsc": 2}  # from the cache


def test_a_lasting_network_failure_is_reported_and_not_cached(tmp_path: Path) -> None:
    with serving({"down_1.0-1.dsc": [503]}) as mirror:
        [found] = reachable(tmp_path, [_entry(mirror, "down")])
        assert (found.ok, found.definite) == (False, False)
        assert found.missing == "down_1.0-1.dsc: HTTP 503 Service Unavailable (2 attempts)"
        reachable(tmp_path, [_entry(mirror, "down")])
        assert mirror.asked == {"down_1.0-1.dsc": 4}  # asked again: not cached
    assert not list((tmp_path / "plan" / "reach").glob("*.json"))


def test_the_mirrors_404_is_the_verdict_and_cached(tmp_path: Path) -> None:
    with serving({}) as mirror:
        [found] = reachable(tmp_path, [_entry(mirror, "gone")])
        assert (found.ok, found.definite, found.missing) == (False, True, "gone_1.0-1.dsc: HTTP 404 Not Found")
        reachable(tmp_path, [_entry(mirror, "gone")])
        assert mirror.asked == {"gone_1.0-1.dsc": 1}
