"""`kind = "git"` and `kind = "url"` through SourcePreparer.fetch, as a build takes them: a git
repository made here and an HTTP server on 127.0.0.1. The .orig, the content key (stable for the
same inputs, new for a new commit, independent of where the checkout and the cache lie), a source
package made from the git .orig by dpkg-source, the one-line errors of a 404 and a mismatch, and
`kronos recipes --check`."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.archive.access import Archives
from kronos.cache import Cache, sha256_file
from kronos.config import Settings, load_settings
from kronos.errors import FetchError, VerifyError
from kronos.ledger import Entry
from kronos.recipe import Recipe, load_recipe
from kronos.source_package import Inputs, SourcePreparer

from .git_fixture import commit, git, make_repo

KRONOS = Path(sys.executable).with_name("kronos")
TEMPLATES = {"control.j2": "Source: {{ source_name }}\nMaintainer: {{ maintainer }}\n\nPackage: demo\n"
                           "Architecture: all\nDescription: demo\n demo\n",
             "source/format": "3.0 (quilt)\n"}


def project(root: Path, source: str) -> tuple[Settings, Recipe]:
    d = root / "recipes" / "demo"
    for name, text in TEMPLATES.items():
        (d / "debian" / name).parent.mkdir(parents=True, exist_ok=True)
        (d / "debian" / name).write_text(text)
    (d / "recipe.toml").write_text(f'[source]\n{source}[packaging]\nsource_name = "demo"\nchangelog = "Demo."\n')
    s = load_settings(root, env={"KRONOS_CACHE_DIR": str(root / ".cache")})
    return s, load_recipe(d / "recipe.toml", s)


def fetch(root: Path, source: str, work: str) -> tuple[Settings, Inputs, Path]:
    s, recipe = project(root, source)
    cache = Cache(s.cache_dir)
    inputs, fetched = SourcePreparer(s, cache, Archives(s, cache)).fetch(recipe, s.target("sid"), root / work)
    return s, inputs, fetched


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_git_source_to_source_package(tmp_path: Path) -> None:
    upstream = tmp_path / "up"
    first = make_repo(upstream, {"README": "hello\n", "src/main.c": "int main(void) { return 0; }\n"})
    tree = git(upstream, "rev-parse", f"{first}^{{tree}}")
    source = f'kind = "git"\nurl = "../../../up"\ncommit = "{first}"\nversion = "1.0"\n'
    s, inputs, fetched = fetch(tmp_path / "p1", source, "w1")
    record = inputs.record({})
    orig = fetched / "demo_1.0.orig.tar.gz"
    assert record["source/git-tree"] == tree and record["source/orig"] == sha256_file(orig)
    # the same recipe elsewhere, with another cache: the same .orig bytes and the same key
    _, again, fetched_again = fetch(tmp_path / "p2", source, "w2")
    assert (fetched_again / orig.name).read_bytes() == orig.read_bytes()
    assert again.key({}) == inputs.key({})
    later = commit(upstream, {"README": "hello again\n"}, when=1700090000)
    _, changed, _ = fetch(tmp_path / "p3", source.replace(first, later), "w3")
    assert changed.key({}) != inputs.key({}) and changed.record({})["source/git-tree"] != tree
    # dpkg-source takes the .orig: a 3.0 (quilt) source package whose .orig is ours, byte for byte
    preparer = SourcePreparer(s, Cache(s.cache_dir), Archives(s, Cache(s.cache_dir)))
    dsc = preparer.build_source(inputs, fetched, Entry("k", "1.0-1", "1.0", 1, 1700000000), tmp_path / "p1" / "b")
    assert dsc.name.startswith("demo_1.0-") and (dsc.parent / orig.name).read_bytes() == orig.read_bytes()


def _tarball(path: Path) -> str:
    body = b"upstream\n"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("foo-1.0/README")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_url_source_and_its_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_DOWNLOAD_ATTEMPTS", "1")
    served = tmp_path / "srv"
    served.mkdir()
    sha = _tarball(served / "foo-1.0.tar.gz")
    with serving(served) as base:
        url = f"{base}/foo-1.0.tar.gz"
        _, inputs, fetched = fetch(tmp_path / "p1", f'kind = "url"\nurl = "{url}"\nsha256 = "{sha}"\n'
                                                     'version = "1.0"\n', "w1")
        assert (fetched / "demo_1.0.orig.tar.gz").read_bytes() == (served / "foo-1.0.tar.gz").read_bytes()
        assert inputs.record({})["source/orig"] == sha

        missing = f"{base}/foo-2.0.tar.gz"
        with pytest.raises(FetchError) as e:
            fetch(tmp_path / "p2", f'kind = "url"\nurl = "{missing}"\nsha256 = "{sha}"\nversion = "1.0"\n', "w")
        assert str(e.value) == f"demo: url: cannot download {missing}: HTTP 404 File not found"

        wrong = "0" * 64
        with pytest.raises(VerifyError) as v:
            fetch(tmp_path / "p3", f'kind = "url"\nurl = "{url}"\nsha256 = "{wrong}"\nversion = "1.0"\n', "w")
        assert str(v.value) == f"demo: url: sha256 mismatch for {url}: expected {wrong}, got {sha}"
    assert not list((tmp_path / "p3" / ".cache").rglob(f"{wrong}*")), "a mismatching file reached the cache"
    # the server is gone: the pinned tarball comes from the cache
    _, cached, _ = fetch(tmp_path / "p1", f'kind = "url"\nurl = "{url}"\nsha256 = "{sha}"\nversion = "1.0"\n',
                         "w4")
    assert cached.key({}) == inputs.key({})


def test_recipes_check_says_which_upstreams_can_be_fetched(tmp_path: Path) -> None:
    """`kronos recipes --check` as the real program: a line per git or url recipe, and one error
    line naming those that cannot be fetched."""
    upstream = tmp_path / "up"
    sha = make_repo(upstream, {"README": "hello\n"})
    missing = "0123456789abcdef0123456789abcdef01234567"
    served = tmp_path / "srv"
    served.mkdir()
    tar_sha = _tarball(served / "foo-1.0.tar.gz")
    root = tmp_path / "project"
    with serving(served) as base:
        sources = {"git-ok": f'kind = "git"\nurl = "{upstream}"\ncommit = "{sha}"\nversion = "1.0"\n',
                   "git-gone": f'kind = "git"\nurl = "{upstream}"\ncommit = "{missing}"\nversion = "1.0"\n',
                   "url-ok": f'kind = "url"\nurl = "{base}/foo-1.0.tar.gz"\nsha256 = "{tar_sha}"\nversion = "1.0"\n',
                   "url-gone": f'kind = "url"\nurl = "{base}/foo-2.0.tar.gz"\nsha256 = "{tar_sha}"\n'
                               'version = "2.0"\n'}
        for name, source in sources.items():
            d = root / "recipes" / name
            (d / "debian").mkdir(parents=True)
            (d / "recipe.toml").write_text(f'[source]\n{source}[packaging]\nsource_name = "demo"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_")}
        env.update(KRONOS_ROOT=str(root), KRONOS_CACHE_DIR=str(root / "cache"), KRONOS_DOWNLOAD_ATTEMPTS="1")
        proc = subprocess.run([str(KRONOS), "recipes", "--check"], env=env, cwd=root, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, check=False)
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert lines["git-ok"].endswith(" reachable") and lines["url-ok"].endswith(" reachable"), proc.stdout
    assert lines["git-gone"].endswith(f"NOT reachable: git-gone: git {upstream}: commit {missing} not found")
    assert lines["url-gone"].endswith("NOT reachable: HTTP 404 File not found")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith("2 recipe source(s) cannot be fetched: git-gone, url-gone")
