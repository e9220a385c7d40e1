"""The files a package index lists, read as pip would find them and never run: the simple repository
API (PEP 691 JSON, PEP 503 HTML) of pip's index-url and extra-index-urls, and pip's find-links
(directories or pages). pip's own settings decide where to look: `pip config list` (its config files
and the PIP_* environment) and, with no index-url, the default index of the installed pip."""

from __future__ import annotations

import ast
import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from ..errors import FetchError
from ..log import indent, log
from ..retry import TRANSIENT_HTTP, Transient, retried
from ..run import run

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
TIMEOUT = 60
# what pip's configuration is read from besides the PIP_* variables
_CONFIG_ENV = ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "VIRTUAL_ENV")
# pip's layers for `pip download`, the later overriding the earlier
_SECTIONS = ("global", "download", ":env:")
_DEFAULT_INDEX = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"


@dataclass(frozen=True)
class Link:
    filename: str
    url: str  # without the fragment
    sha256: str | None  # as the index lists it, if it does


@dataclass(frozen=True)
class Indexes:
    index_urls: tuple[str, ...]  # index-url (or pip's default) then extra-index-url; none with no-index
    find_links: tuple[str, ...]  # directories or URLs


@dataclass
class Listing:
    links: list[Link] = field(default_factory=list)
    looked: list[str] = field(default_factory=list)  # every page or directory read
    problems: dict[str, str] = field(default_factory=dict)  # url -> why it could not be read

    def where(self) -> str:
        """Every place looked at, with the reason where it could not be read."""
        return ", ".join(f"{u} ({self.problems[u]})" if u in self.problems else u for u in self.looked)


class Unreadable(Exception):
    """A page that exists (or may) but could not be read; str() is the reason."""


def normalize(name: str) -> str:
    """The PEP 503 form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def shown(url: str) -> str:
    """url without any user:password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _pip(argv: list[str], what: str, doing: str) -> str:
    pip_env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in _CONFIG_ENV}
    proc = run([sys.executable, *argv], env=pip_env, check=False, merge_stderr=False)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or b"").decode(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")]
        detail = errors[-1] if errors else " ".join(lines[:3]) or f"exit code {proc.returncode}"
        raise FetchError(f"{what}: cannot {doing} ({sys.executable}): {detail}")
    return proc.stdout.decode(errors="replace")


def pip_settings(what: str) -> dict[str, str]:
    """pip's settings for `pip download`, as `pip config list` shows them: the PIP_* environment over
    the [download] section over [global]."""
    layers: dict[str, dict[str, str]] = {s: {} for s in _SECTIONS}
    for line in _pip(["-m", "pip", "config", "list"], what, "read pip's configuration").splitlines():
        key, eq, value = line.partition("=")
        section, dot, option = key.partition(".")
        if not eq or not dot or section not in layers:
            continue
        try:
            parsed = ast.literal_eval(value)  # pip prints the value's repr()
        except (ValueError, SyntaxError):
            continue
        if isinstance(parsed, str):
            layers[section][option] = parsed
    merged: dict[str, str] = {}
    for section in _SECTIONS:
        merged.update(layers[section])
    return merged


def configured(what: str) -> Indexes:
    """Where pip would look for a download, in pip's order."""
    settings = pip_settings(what)
    find_links = tuple(dict.fromkeys(settings.get("find-links", "").split()))
    if settings.get("no-index", "").strip().lower() in ("1", "yes", "true", "on"):
        return Indexes((), find_links)
    index = settings.get("index-url", "").strip()
    if not index:
        index = _pip(["-c", _DEFAULT_INDEX], what, "ask pip for its default index").strip()
    extra = settings.get("extra-index-url", "").split()
    return Indexes(tuple(dict.fromkeys([index, *extra])), find_links)


def find(indexes: Indexes, name: str) -> Listing:
    """Every file listed for project `name` on the indexes and in the find-links."""
    listing = Listing()
    for index in indexes.index_urls:
        page = f"{_as_url(index).rstrip('/')}/{normalize(name)}/"
        _read_page(page, listing)
    for location in indexes.find_links:
        url = _as_url(location)
        parts = urllib.parse.urlsplit(url)
        directory = Path(urllib.request.url2pathname(parts.path)) if parts.scheme == "file" else None
        if directory is not None and directory.is_dir():
            listing.looked.append(str(directory))
            try:
                listing.links += [Link(p.name, p.as_uri(), None) for p in sorted(directory.iterdir()) if p.is_file()]
            except OSError as e:
                listing.problems[str(directory)] = e.strerror or str(e)
        else:
            _read_page(url, listing)
    return listing


def _as_url(location: str) -> str:
    """A URL as is; a local path (pip allows them in find-links) as a file:// URL."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):
        return location
    return Path(location).expanduser().absolute().as_uri()


def _read_page(url: str, listing: Listing) -> None:
    listing.looked.append(shown(url))
    try:
        got = _fetch_page(url)
    except Unreadable as e:
        listing.problems[shown(url)] = str(e)
        return
    if got is None:
        return
    body, content_type, final = got
    try:
        links = _json_links(body, final) if content_type == JSON_TYPE else _html_links(body, final)
    except Unreadable as e:
        listing.problems[shown(url)] = str(e)
        return
    local = urllib.parse.urlsplit(final).scheme == "file"
    allowed = ("http", "https", "file") if local else ("http", "https")
    listing.links += [link for link in links if urllib.parse.urlsplit(link.url).scheme in allowed]


def _fetch_page(url: str) -> tuple[bytes, str, str] | None:
    """(body, content type, final URL) of a page; None when it is not there (404, 410, no such file)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
        if path.is_dir():
            path = path / "index.html"  # as pip reads a file:// index
        try:
            return path.read_bytes(), "text/html", path.as_uri()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise Unreadable(e.strerror or str(e)) from None
    try:
        return retried(lambda: _fetch_http(url))
    except FetchError as e:  # a transient failure, on every attempt
        raise Unreadable(str(e)) from None


def _fetch_http(url: str) -> tuple[bytes, str, str] | None:
    log.info("%s> %s", indent(), shown(url))
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return resp.read(), resp.headers.get_content_type(), resp.geturl()
    except urllib.error.HTTPError as e:
        if e.code in (404, 410):
            return None
        if e.code in TRANSIENT_HTTP:
            raise Transient(f"HTTP {e.code} {e.reason}") from None
        raise Unreadable(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise Transient(str(e.reason)) from None
    except (OSError, http.client.IncompleteRead) as e:  # a reset or timed-out connection, a cut answer
        raise Transient(str(e) or type(e).__name__) from None
    except (ValueError, http.client.HTTPException) as e:
        raise Unreadable(str(e) or type(e).__name__) from None


def _link(url: str, filename: str | None, sha256: object) -> Link:
    url, fragment = urllib.parse.urldefrag(url)
    if sha256 is None:
        kind, _, value = fragment.partition("=")
        sha256 = value if kind == "sha256" else None
    if not filename:
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rpartition("/")[2])
    digest = sha256.lower() if isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha256) else None
    return Link(filename, url, digest)


def _json_links(body: bytes, page: str) -> list[Link]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Unreadable("not a PEP 691 JSON page") from None
    meta = data.get("meta") if isinstance(data, dict) else None
    version = meta.get("api-version") if isinstance(meta, dict) else None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.startswith("1.") or not isinstance(files, list):
        raise Unreadable(f"not a PEP 691 version 1 page (api-version {version!r})")
    links = []
    for entry in files:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str) and isinstance(entry.get("filename"), str):
            hashes = entry.get("hashes")
            sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
            links.append(_link(urllib.parse.urljoin(page, entry["url"]), entry["filename"], sha256))
    return links


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if not href:
            return
        if tag == "base" and self.base is None:
            self.base = href
        elif tag == "a":
            self.hrefs.append(href)


def _html_links(body: bytes, page: str) -> list[Link]:
    parser = _Anchors()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    base = urllib.parse.urljoin(page, parser.base) if parser.base else page
    return [_link(urllib.parse.urljoin(base, href), None, None) for href in parser.hrefs]
