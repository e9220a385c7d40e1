"""PyPI sdists are fetched as files from pip's configured indexes: nothing of the sdist runs on the
host, the file is chosen by the recipe's sha256 and refused before it reaches the cache otherwise."""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.cache import Cache, sha256_file
from kronos.errors import FetchError, VerifyError
from kronos.sources import pypi

from .pypi_fixture import FILENAME, NAME, PROJECT, VERSION, Setup, make_sdist, serve, sha256, write_index

VARIANTS = ["pip.conf", "http-html", "http-json", "file-index", "extra-index", "find-links-dir", "find-links-page"]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    for key in [k for k in os.environ if k.startswith("PIP_") or k.startswith("XDG_")]:
        monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    marker = tmp_path / "marker"
    sdist = make_sdist(tmp_path / "built", marker)
    yield Setup(tmp_path, home, marker, sdist, Cache(tmp_path / "cache"), monkeypatch)


def configure(s: Setup, how: str, base: str, simple: Path) -> str:
    """Point pip's settings at the fixture index; return the project page or directory kronos reads."""
    if how == "pip.conf":  # a user's own pip.conf (old and new code read it)
        conf = s.home / ".config" / "pip" / "pip.conf"
        conf.parent.mkdir(parents=True)
        conf.write_text(f"[global]\nindex-url = {base}/simple\n")
        return f"{base}/simple/{PROJECT}/"
    s.monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    if how in ("http-html", "http-json"):
        s.monkeypatch.setenv("PIP_INDEX_URL", f"{base}/simple/")
        return f"{base}/simple/{PROJECT}/"
    if how == "file-index":
        s.monkeypatch.setenv("PIP_INDEX_URL", simple.as_uri())
        return f"{simple.as_uri()}/{PROJECT}/"
    if how == "extra-index":
        empty = s.tmp / "empty-index"
        empty.mkdir()
        s.monkeypatch.setenv("PIP_INDEX_URL", empty.as_uri())
        s.monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"{s.tmp / 'nowhere'} {base}/simple")
        return f"{base}/simple/{PROJECT}/"
    s.monkeypatch.setenv("PIP_NO_INDEX", "1")
    if how == "find-links-dir":
        s.monkeypatch.setenv("PIP_FIND_LINKS", str(simple.parent / "files"))
        return str(simple.parent / "files")
    assert how == "find-links-page"
    s.monkeypatch.setenv("PIP_FIND_LINKS", f"{base}/simple/{PROJECT}/")
    return f"{base}/simple/{PROJECT}/"


def cached_files(cache: Cache) -> list[Path]:
    return sorted(p for p in cache.root.rglob("*") if p.is_file()) if cache.root.exists() else []


def ran(marker: Path) -> str:
    return marker.read_text().replace("\n", "; ") if marker.exists() else ""


@pytest.mark.parametrize("how", VARIANTS)
def test_fetch_runs_nothing_of_the_sdist(setup: Setup, how: str) -> None:
    s = setup
    pin = sha256(s.sdist)
    simple = write_index(s.tmp / "index", {FILENAME: (s.sdist, pin)})
    with serve(simple.parent, json_only=how == "http-json") as (base, requests):
        configure(s, how, base, simple)
        got = pypi.fetch(s.cache, NAME, VERSION, pin)
    assert not s.marker.exists(), f"the sdist's build backend ran on the host: {ran(s.marker)}"
    assert got == s.cache.blob(pin) and sha256_file(got) == pin
    assert cached_files(s.cache) == [got]
    if how.startswith("http") or how in ("pip.conf", "extra-index", "find-links-page"):
        assert f"/simple/{PROJECT}/" in requests and f"/files/{FILENAME}" in requests, requests


@pytest.mark.parametrize("lying", [False, True], ids=["honest-index", "index-lists-the-pin"])
def test_wrong_file_refused_before_the_cache(setup: Setup, lying: bool) -> None:
    s = setup
    other = make_sdist(s.tmp / "other", s.marker, salt="not the pinned one")
    pin = sha256(s.sdist)
    served = sha256(other)
    simple = write_index(s.tmp / "index", {FILENAME: (other, pin if lying else served)})
    with serve(simple.parent) as (base, _):
        configure(s, "pip.conf", base, simple)
        with pytest.raises(VerifyError) as caught:
            pypi.fetch(s.cache, NAME, VERSION, pin)
    line = str(caught.value)
    assert "\n" not in line
    for part in (f"{NAME}=={VERSION}", FILENAME, f"{base}/files/{FILENAME}", f"expected {pin}", f"got {served}"):
        assert part in line, line
    assert cached_files(s.cache) == []
    assert not s.marker.exists(), ran(s.marker)


def test_version_not_on_the_index_is_one_line(setup: Setup) -> None:
    s = setup
    simple = write_index(s.tmp / "index", {FILENAME: (s.sdist, sha256(s.sdist))})
    with serve(simple.parent) as (base, _):
        page = configure(s, "pip.conf", base, simple)
        with pytest.raises(FetchError) as caught:
            pypi.fetch(s.cache, NAME, "2.0", "0" * 64)
    line = str(caught.value)
    assert "\n" not in line and f"{NAME}==2.0" in line and page in line, line
    assert cached_files(s.cache) == []


def test_index_that_cannot_be_read_is_named(setup: Setup) -> None:
    s = setup
    refusing = f"http://127.0.0.1:{_free_port()}/simple"  # nothing listens there
    s.monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    s.monkeypatch.setenv("PIP_INDEX_URL", refusing)
    with pytest.raises(FetchError) as caught:
        pypi.fetch(s.cache, NAME, VERSION, "0" * 64)
    line = str(caught.value)
    assert "\n" not in line and f"{NAME}=={VERSION}" in line and f"{refusing}/{PROJECT}/" in line, line
    assert "refused" in line.lower(), line


def test_the_file_is_chosen_by_its_hash(setup: Setup) -> None:
    s = setup
    other = make_sdist(s.tmp / "other", s.marker, salt="another build")
    pin = sha256(s.sdist)
    simple = write_index(s.tmp / "index", {f"a/{FILENAME}": (other, sha256(other)),
                                           f"b/{FILENAME}": (s.sdist, pin)})
    with serve(simple.parent) as (base, requests):
        configure(s, "http-html", base, simple)
        got = pypi.fetch(s.cache, NAME, VERSION, pin)
    assert sha256_file(got) == pin and cached_files(s.cache) == [got]
    assert f"/files/a/{FILENAME}" not in requests, "a file listed with another hash was downloaded"


def test_unlisted_hashes_are_checked_by_the_bytes(setup: Setup) -> None:
    s = setup
    other = make_sdist(s.tmp / "other", s.marker, salt="another build")
    pin = sha256(s.sdist)
    simple = write_index(s.tmp / "index", {f"a/{FILENAME}": (other, None), f"b/{FILENAME}": (s.sdist, None)})
    with serve(simple.parent) as (base, requests):
        configure(s, "http-json", base, simple)
        got = pypi.fetch(s.cache, NAME, VERSION, pin)
    assert sha256_file(got) == pin and cached_files(s.cache) == [got]
    assert not s.marker.exists(), ran(s.marker)


@pytest.mark.live
def test_live_xenapi_through_the_configured_indexes(root: Path, tmp_path: Path) -> None:
    source = tomllib.loads((root / "recipes" / "python3-xenapi" / "recipe.toml").read_text())["source"]
    got = pypi.fetch(Cache(tmp_path), source["name"], source["version"], source["sha256"])
    assert sha256_file(got) == source["sha256"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
