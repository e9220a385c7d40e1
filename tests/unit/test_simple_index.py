"""Reading package indexes the way pip finds them: its settings, PEP 503 and PEP 691 pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kronos.errors import FetchError
from kronos.sources import pypi, simple_index
from kronos.sources.simple_index import Indexes, Link

from .pypi_fixture import serve

SHA = "ab" * 32


@pytest.fixture
def pip_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own and no PIP_* variables; returns the user's pip.conf path (not yet written)."""
    for key in [k for k in os.environ if k.startswith("PIP_") or k.startswith("XDG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    conf = tmp_path / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    return conf


def test_settings_follow_pip(pip_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip_env.write_text(
        "[global]\nindex-url = http://127.0.0.1:1/global\nextra-index-url = http://127.0.0.1:1/a\n"
        "  http://127.0.0.1:1/b\nfind-links = /srv/wheels\n"
        "[download]\nindex-url = http://127.0.0.1:1/download\n"
        "[install]\nindex-url = http://127.0.0.1:1/install\n"
    )
    assert simple_index.configured("t") == Indexes(
        ("http://127.0.0.1:1/download", "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"), ("/srv/wheels",))
    # the environment is over every file, as in pip
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///srv/x  file:///srv/y")
    monkeypatch.setenv("PIP_FIND_LINKS", "/srv/one /srv/two")
    assert simple_index.configured("t") == Indexes(
        ("http://127.0.0.1:1/download", "file:///srv/x", "file:///srv/y"), ("/srv/one", "/srv/two"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:1/env")
    monkeypatch.setenv("PIP_NO_INDEX", "yes")
    assert simple_index.configured("t") == Indexes((), ("/srv/one", "/srv/two"))


def test_without_index_url_pips_own_default(pip_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pip._internal.models.index import PyPI  # the installed pip's default, as kronos asks it

    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///srv/extra")
    assert simple_index.configured("t") == Indexes((PyPI.simple_url, "file:///srv/extra"), ())


def test_pip_that_cannot_run_is_one_line(pip_env: Path) -> None:
    pip_env.write_text("index-url = outside of any section\n")  # pip refuses a file it cannot parse
    with pytest.raises(FetchError) as caught:
        simple_index.configured("pypi x==1")
    line = str(caught.value)
    assert line.startswith("pypi x==1: cannot read pip's configuration") and "\n" not in line, line
    assert str(pip_env) in line, line


def test_names() -> None:
    assert simple_index.normalize("Foo.Bar_baz--Q") == "foo-bar-baz-q"
    assert pypi.is_sdist("Foo_Bar-1.0.tar.gz", "foo.bar", "1.0")
    assert pypi.is_sdist("foo-bar-1.0rc1.tar.gz", "Foo-Bar", "1.0RC1")
    assert not pypi.is_sdist("foo-bar-1.0.zip", "foo-bar", "1.0")
    assert not pypi.is_sdist("foo-bar-1.0-py3-none-any.whl", "foo-bar", "1.0")
    assert not pypi.is_sdist("foo-bar-11.0.tar.gz", "foo-bar", "1.0")
    assert not pypi.is_sdist("foo-1.0.tar.gz", "foo-bar", "1.0")
    assert not pypi.is_sdist("xfoo-1.0.tar.gz", "foo", "1.0")


def test_html_page(tmp_path: Path) -> None:
    page = tmp_path / "simple" / "foo"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        "<html><head><base href='../../mirror/'></head><body>\n"
        f'<a href="foo-1.0.tar.gz#sha256={SHA.upper()}">foo-1.0.tar.gz</a>\n'
        '<a href="sub/foo-2.0.tar.gz#md5=00">foo-2.0.tar.gz</a>\n'
        '<a href="http://127.0.0.1:1/x/foo%2B-3.0.tar.gz">foo+-3.0.tar.gz</a>\n'
        "</body></html>\n")
    listing = simple_index.find(Indexes(((tmp_path / "simple").as_uri(),), ()), "Foo")
    mirror = (tmp_path / "mirror").as_uri()
    assert listing.links == [Link("foo-1.0.tar.gz", f"{mirror}/foo-1.0.tar.gz", SHA),
                             Link("foo-2.0.tar.gz", f"{mirror}/sub/foo-2.0.tar.gz", None),
                             Link("foo+-3.0.tar.gz", "http://127.0.0.1:1/x/foo%2B-3.0.tar.gz", None)]
    assert listing.problems == {}


def test_json_page_and_what_it_may_link(tmp_path: Path) -> None:
    body = ('{"meta": {"api-version": "1.1"}, "files": ['
            f'{{"filename": "foo-1.0.tar.gz", "url": "../../f/foo-1.0.tar.gz", "hashes": {{"sha256": "{SHA}"}}}},'
            '{"filename": "foo-1.1.tar.gz", "url": "file:///etc/passwd", "hashes": {}}]}')
    links = simple_index._json_links(body.encode(), "http://127.0.0.1:1/simple/foo/")
    assert links[0] == Link("foo-1.0.tar.gz", "http://127.0.0.1:1/f/foo-1.0.tar.gz", SHA)
    (tmp_path / "x.html").write_text('<a href="file:///etc/passwd">foo-1.1.tar.gz</a>')
    local, remote = simple_index.Listing(), simple_index.Listing()
    simple_index._read_page((tmp_path / "x.html").as_uri(), local)
    assert [link.url for link in local.links] == ["file:///etc/passwd"]  # a local page may link local files
    with serve(tmp_path) as (base, _):
        simple_index._read_page(f"{base}/x.html", remote)
    assert remote.links == [] and remote.looked == [f"{base}/x.html"]  # a page over HTTP may not
    with pytest.raises(simple_index.Unreadable, match="api-version '2.0'"):
        simple_index._json_links(b'{"meta": {"api-version": "2.0"}, "files": []}', "http://127.0.0.1:1/")
