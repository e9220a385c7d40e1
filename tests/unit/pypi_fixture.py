"""A fixture sdist whose build backend leaves a marker when anything runs it, package indexes that
list it (PEP 503 HTML files, a PEP 691 JSON server), and a loopback HTTP server on 127.0.0.1.

    make_sdist(dest, marker, salt)      -> the sdist tarball (salt varies its bytes)
    write_index(root, {sdist: listed})  -> root/simple/<project>/index.html and root/files/...
    serve(root, json=False)             -> (base URL, request log); json answers PEP 691 only
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kronos.cache import Cache

NAME = "Kronos_Marker.Fixture"  # as a recipe may spell it
PROJECT = "kronos-marker-fixture"  # its PEP 503 form: the index's directory
VERSION = "1.0"
FILENAME = f"kronos_marker_fixture-{VERSION}.tar.gz"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"

PYPROJECT = """\
[build-system]
requires = []
build-backend = "marker_backend"
backend-path = ["backend"]

[project]
name = "kronos-marker-fixture"
version = "1.0"
"""

BACKEND = """\
from pathlib import Path

MARKER = Path({marker!r})


def _ran(what):
    with MARKER.open("a") as f:
        f.write(what + "\\n")


_ran("import of the build backend")


def get_requires_for_build_sdist(config_settings=None):
    _ran("get_requires_for_build_sdist")
    return []


def get_requires_for_build_wheel(config_settings=None):
    _ran("get_requires_for_build_wheel")
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _ran("prepare_metadata_for_build_wheel")
    info = Path(metadata_directory) / "kronos_marker_fixture-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\\nName: kronos-marker-fixture\\nVersion: 1.0\\n")
    return info.name


def build_sdist(sdist_directory, config_settings=None):
    _ran("build_sdist")
    raise RuntimeError("fixture")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _ran("build_wheel")
    raise RuntimeError("fixture")
"""


@dataclass
class Setup:
    tmp: Path
    home: Path  # HOME: its .config/pip/pip.conf is the user's pip configuration
    marker: Path  # appears when anything runs the fixture's build backend
    sdist: Path
    cache: Cache
    monkeypatch: pytest.MonkeyPatch


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_sdist(dest: Path, marker: Path, salt: str = "") -> Path:
    """The fixture sdist in dest (dest/FILENAME); its backend appends to marker whenever it runs."""
    top = FILENAME.removesuffix(".tar.gz")
    members = {
        "pyproject.toml": PYPROJECT,
        "backend/marker_backend.py": BACKEND.format(marker=str(marker)),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: kronos-marker-fixture\nVersion: 1.0\nSummary: fixture {salt}\n",
    }
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / FILENAME
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def write_index(root: Path, files: dict[str, tuple[Path, str | None]]) -> Path:
    """A PEP 503 index under root: root/files/<rel> for each rel -> (sdist, listed sha256 or None),
    listed on root/simple/<project>/index.html. Returns root/simple."""
    page = root / "simple" / PROJECT
    page.mkdir(parents=True)
    anchors = []
    for rel, (sdist, listed) in files.items():
        target = root / "files" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sdist.read_bytes())
        fragment = f"#sha256={listed}" if listed else ""
        anchors.append(f'<a href="../../files/{rel}{fragment}">{target.name}</a>')
    (page / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n")
    (root / "simple" / "index.html").write_text(f'<html><body><a href="{PROJECT}/">{PROJECT}</a></body></html>\n')
    return root / "simple"


class _Handler(http.server.SimpleHTTPRequestHandler):
    json_only = False
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.requests.append(self.path)
        if self.json_only and self.path.startswith("/simple/"):
            self._json_page()
        else:
            super().do_GET()

    def _json_page(self) -> None:
        """The PEP 691 form of the HTML page; 406 to a client that does not ask for it."""
        if JSON_TYPE not in self.headers.get("Accept", ""):
            self.send_error(406, "ask for PEP 691 JSON")
            return
        page = Path(self.translate_path(self.path)) / "index.html"
        if not page.is_file():
            self.send_error(404)
            return
        files = []
        for line in page.read_text().splitlines():
            if line.startswith("<a href="):
                href = line.split('"')[1]
                url, _, fragment = href.partition("#")
                hashes = dict([fragment.split("=", 1)]) if fragment else {}
                files.append({"filename": urllib.parse.unquote(url.rpartition("/")[2]), "url": url,
                              "hashes": hashes})
        body = json.dumps({"meta": {"api-version": "1.1"}, "name": PROJECT, "files": files}).encode()
        self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serve(root: Path, json_only: bool = False) -> Iterator[tuple[str, list[str]]]:
    """Serve root over HTTP on 127.0.0.1 (a free port); yield the base URL and the request paths."""
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"json_only": json_only, "requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-pypi", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
