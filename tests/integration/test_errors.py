"""Errors a user meets that are not bad input: a Docker engine that is not running or dies mid-run,
a broken HTTP answer, corrupt state files, bad KRONOS_NOW / KRONOS_FAULT_AT, a bad version_suffix,
a full or read-only disk, a local source that would pack the signing key. Each is one
`kronos: error:` line naming what and where, a non-zero exit and no traceback (unless --debug).

Every test runs the real `kronos` program in a temporary project (test_bad_input.Project).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import archive_fixture as af
from .test_bad_input import KRONOS, RECIPE, REPO, TARGET, Project, Result, fails_in_one_line

pytestmark = pytest.mark.integration

BUILD = ["build", "--target", TARGET]
REAL_ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")


@pytest.fixture
def project(tmp_path: Path, archive: af.Archive) -> Project:
    """A project whose testarchive is served by the test itself (see `serving`)."""
    return Project(tmp_path / "project", "http://127.0.0.1:1", archive.keyring)


def run(project: Project, *args: str, debug: bool = False, **env: str) -> Result:
    """project.run with extra environment variables."""
    argv = [str(KRONOS), *(["--debug"] if debug else []), *args]
    proc = subprocess.run(argv, cwd=project.root, env={**project.env(), **env}, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def with_traceback_when_debugging(project: Project, args: list[str], **env: str) -> None:
    again = run(project, *args, debug=True, **env)
    assert again.returncode != 0
    assert "Traceback (most recent call last)" in again.stderr, again.stderr


def set_mirror(project: Project, url: str) -> None:
    toml = project.root / "kronos.toml"
    toml.write_text(re.sub(r'mirror = "[^"]*"', f'mirror = "{url}"', toml.read_text()))


# --- the Docker engine --------------------------------------------------------------------------


def test_engine_not_running(project: Project, tmp_path: Path) -> None:
    """DOCKER_HOST names a socket nobody listens on: the line names the engine's address."""
    sock = tmp_path / "nobody.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))  # the socket file exists, but nothing accepts: a dockerd that is gone
    listener.close()
    result = run(project, "images", "--target", TARGET, DOCKER_HOST=f"unix://{sock}")
    line = fails_in_one_line(result, f"Docker engine at unix://{sock}", "is dockerd running?")
    assert "Connection refused" in line, line


class DyingEngine:
    """A unix socket in front of the real dockerd that passes `allow` requests, then dies as a killed
    dockerd does: every connection is closed without an answer and nobody listens any more."""

    def __init__(self, path: Path, allow: int) -> None:
        self.path = path
        self.allow = allow
        self.seen: list[bytes] = []
        self.died = threading.Event()
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.died.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(REAL_ENGINE)
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if requests:
                    lines = re.findall(rb"(?:^|\r\n)((?:GET|POST|PUT|DELETE|HEAD) \S+) HTTP/1\.[01]\r\n", data)
                    with self.lock:
                        self.seen += lines
                        if len(self.seen) > self.allow:
                            self.die()
                            return
                dst.sendall(data)

    def die(self) -> None:
        self.died.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.path.unlink(missing_ok=True)
        for s in self.conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_engine_dies_mid_run(project: Project, tmp_path: Path) -> None:
    """`kronos clean` connects (the version, a ping), then dockerd dies as it lists the containers a
    killed kronos may have left."""
    engine = DyingEngine(tmp_path / "docker.sock", allow=2)
    try:
        result = run(project, "clean", DOCKER_HOST=f"unix://{engine.path}")
    finally:
        engine.die()
    unversioned = [re.sub(rb" /v[0-9.]+/", b" /", r.split(b"?")[0]) for r in engine.seen]
    assert unversioned == [b"GET /version", b"GET /_ping", b"GET /containers/json"], engine.seen
    fails_in_one_line(result, f"Docker engine at unix://{engine.path}", "listing containers failed",
                      "is dockerd running?")


# --- broken HTTP answers from the loopback archive -----------------------------------------------


class BreakingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the archive; the file whose name ends in `breaks` gets the broken answer `how`."""

    def __init__(self, *args: object, breaks: str, how: str, directory: str) -> None:
        self.breaks, self.how = breaks, how
        super().__init__(*args, directory=directory)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if not self.path.endswith(self.breaks):
            return super().do_GET()
        body = Path(self.translate_path(self.path)).read_bytes()
        half = body[: len(body) // 2]
        self.close_connection = True
        if self.how == "garbage":
            self.wfile.write(b"this is not HTTP\r\n\r\n")
        elif self.how == "short":  # Content-Length promises more than comes before the close
            self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + half)
        else:  # "chunked": a chunk that is cut off
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + f"{len(body):x}\r\n".encode() + half)
        return None


def serving(root: Path, breaks: str, how: str) -> contextlib.AbstractContextManager[str]:
    return af.serve(root, BreakingHandler, breaks=breaks, how=how)


@pytest.mark.parametrize(("how", "says"), [
    ("short", r"the connection closed after \d+ of the \d+ bytes announced"),
    ("chunked", "the connection closed in the middle of the answer"),
    ("garbage", "not a valid HTTP answer (BadStatusLine: 'this is not HTTP')"),
])
def test_broken_http_answer(project: Project, archive: af.Archive, how: str, says: str) -> None:
    """The .dsc's answer breaks: the line names the file, the URL and what was wrong with the answer."""
    project.hello_recipe()
    with serving(archive.root, archive.dsc.name, how) as url:
        set_mirror(project, url)
        result = run(project, *BUILD)
    line = fails_in_one_line(result, f"file {archive.dsc.name}: cannot download {url}/pool/")
    assert re.search(re.escape(says) if how == "garbage" else says, line), line
    assert not list(project.cache.rglob(f"*{archive.dsc.name}*"))


# --- corrupt state files ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "says"), [
    ('{"builds": [\n', "the version ledger is corrupt: not valid JSON (Expecting value at line 2 column 1)"),
    ('{"builds": [{"key": "k"}]}\n', "the version ledger is corrupt: builds[0] does not have exactly the keys"),
    ('["1.0-1"]\n', "the version ledger is corrupt: it is not an object with a list 'builds'"),
])
def test_corrupt_version_ledger(project: Project, text: str, says: str) -> None:
    project.hello_recipe()
    ledger = project.out / "ledger" / TARGET / f"{RECIPE}.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(text)
    fails_in_one_line(run(project, *BUILD), ledger, says, "restore it from a backup")
    with_traceback_when_debugging(project, BUILD)


# --- publishing: the clock, fault injection, the publish state -----------------------------------


@pytest.fixture
def publishing(project: Project) -> Iterator[dict[str, str]]:
    """The environment of `kronos publish` into a fresh tree with a development key."""
    shutil.copytree(REPO / "repo", project.root / "repo", ignore=shutil.ignore_patterns("public", "gnupg"))
    home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))
    try:
        yield {"KRONOS_GNUPGHOME": str(home), "KRONOS_REPO_PATH": str(project.root.parent / "public"),
               "KRONOS_SIGNING_KEYS": "", "KRONOS_SIGNING_PASSPHRASE": ""}
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)},
                       capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_bad_kronos_now(project: Project, publishing: dict[str, str]) -> None:
    result = run(project, "publish", KRONOS_NOW="tomorrow", **publishing)
    fails_in_one_line(result, "KRONOS_NOW: 'tomorrow' is not a time")
    with_traceback_when_debugging(project, ["publish"], KRONOS_NOW="tomorrow", **publishing)


def test_bad_kronos_fault_at(project: Project, publishing: dict[str, str]) -> None:
    result = run(project, "publish", KRONOS_FAULT_AT="first", **publishing)
    fails_in_one_line(result, "KRONOS_FAULT_AT: 'first' is not a checkpoint number")


def test_corrupt_publish_state(project: Project, publishing: dict[str, str]) -> None:
    first = run(project, "publish", **publishing)
    assert first.returncode == 0, first.stderr
    states = list((Path(publishing["KRONOS_REPO_PATH"]) / ".generations").glob("*/state.json"))
    assert len(states) == 1, states
    states[0].write_text(json.dumps({"format": 1})[:-3])
    line = fails_in_one_line(run(project, "publish", **publishing), states[0], "the publish state is corrupt")
    assert "not valid JSON" in line, line


# --- configuration ------------------------------------------------------------------------------


def test_version_suffix_with_unknown_placeholder(project: Project) -> None:
    toml = project.root / "kronos.toml"
    toml.write_text(toml.read_text() + '\n[targets.bookworm]\nversion_suffix = "~bpo12+{n}.{build}"\n')
    fails_in_one_line(run(project, "targets"), toml, "targets.bookworm.version_suffix",
                      "unknown placeholder {build}", "the only one is {n}")


# --- local sources that would publish the signing key --------------------------------------------


def local_recipe(project: Project, path: str) -> Path:
    return project.recipe("tiny", f"""\
        targets = ["{TARGET}"]
        [source]
        kind = "local"
        path = "{path}"
        version = "1.0"
        [packaging]
        source_name = "kronos-tiny"
        """)


@pytest.mark.parametrize(("path", "says"), [
    ("../..", "contains the signing key's GnuPG home"),
    ("../../repo", "contains the signing key's GnuPG home"),
    ("../../repo/gnupg/private-keys-v1.d", "is inside the signing key's GnuPG home"),
    ("../../..", "contains the signing key's GnuPG home"),
])
def test_local_source_with_the_signing_key(project: Project, path: str, says: str) -> None:
    (project.root / "repo" / "gnupg" / "private-keys-v1.d").mkdir(parents=True)
    recipe = local_recipe(project, path)
    (recipe.parent / "debian").mkdir()
    line = fails_in_one_line(run(project, "recipes"), recipe, "source.path", says,
                             project.root / "repo" / "gnupg")
    assert "published tarball" in line


@pytest.mark.parametrize(("variable", "what"), [("KRONOS_CACHE_DIR", "the cache directory"),
                                               ("KRONOS_OUTPUT_DIR", "the output directory")])
def test_local_source_with_kronos_trees(project: Project, tmp_path: Path, variable: str, what: str) -> None:
    """An upstream tree that holds kronos's cache or output would pack it (and grow while packed)."""
    tree = tmp_path / "upstream"
    (tree / "kronos").mkdir(parents=True)
    recipe = local_recipe(project, str(tree))
    (recipe.parent / "debian").mkdir()
    line = fails_in_one_line(run(project, "recipes", **{variable: str(tree / "kronos")}), recipe, "source.path",
                             f"{tree} contains {what} {tree / 'kronos'}")
    assert "published tarball" in line


# --- the disk: full, read-only ------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at path (we are root), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(directory: Path) -> None:
    """Write zeros into directory until the file system is full."""
    with contextlib.suppress(OSError), (directory / "filler").open("wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


def test_full_disk(project: Project, archive: af.Archive, tmp_path: Path) -> None:
    """The download cache is on a full file system: the line names the file that could not be written."""
    project.hello_recipe()
    with tmpfs(tmp_path / "small", "256k") as cache, af.serve(archive.root) as url:
        set_mirror(project, url)
        fill(cache)
        result = run(project, *BUILD, KRONOS_CACHE_DIR=str(cache))
    line = fails_in_one_line(result, "No space left on device", f"{cache}/")
    assert "cannot write" in line or "cannot store" in line, line


def test_read_only_output(project: Project, tmp_path: Path) -> None:
    """`kronos clean` cannot remove an output: handled() turns the OSError into its reason and file."""
    with tmpfs(tmp_path / "ro", "64k") as out:
        (out / "stale.build").write_bytes(b"x")
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        result = run(project, "clean", KRONOS_OUTPUT_DIR=str(out))
        again = run(project, "clean", debug=True, KRONOS_OUTPUT_DIR=str(out))
    fails_in_one_line(result, "Read-only file system", out / "stale.build")
    assert "Traceback (most recent call last)" in again.stderr, again.stderr
