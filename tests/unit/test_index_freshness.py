"""The freshness window: an InRelease downloaded and verified less than index_max_age seconds ago
is verified again from the cache instead of downloaded; outside the window, with max_age 0, or when
the cached file changed, it is downloaded again. Real signed files served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.archive.release import FILES, fetch_release
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.errors import ConfigError, VerifyError

from .release_keys import DAY, NOW, Mirror, rfc1123, signed_mirror

SUITE = "kronosfresh"
SIGNER = "Fresh Signer <fresh@example.invalid>"
HOUR = 3600


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    with signed_mirror(tmp_path_factory.mktemp("fresh"), SUITE, SIGNER) as m:
        yield m


def _date(cache: Cache, mirror: Mirror, max_age: int) -> str:
    return str(fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False, max_age).release["Date"])


def test_reused_within_the_window_downloaded_outside(mirror: Mirror, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path / "cache")
    monkeypatch.setenv("KRONOS_NOW", str(NOW))
    mirror.sign(NOW - 2 * DAY)
    assert _date(cache, mirror, HOUR) == rfc1123(NOW - 2 * DAY)
    mirror.sign(NOW - DAY)  # the mirror moved on; within the hour the cached one is used
    monkeypatch.setenv("KRONOS_NOW", str(NOW + HOUR - 1))
    assert _date(cache, mirror, HOUR) == rfc1123(NOW - 2 * DAY)
    assert _date(cache, mirror, 0) == rfc1123(NOW - DAY)  # --refresh: downloaded
    mirror.sign(NOW - DAY + 60)
    monkeypatch.setenv("KRONOS_NOW", str(NOW + HOUR + 600))  # the refresh restarted the window
    assert _date(cache, mirror, HOUR) == rfc1123(NOW - DAY)
    monkeypatch.setenv("KRONOS_NOW", str(NOW + 2 * HOUR))  # an hour after the refresh: stale
    assert _date(cache, mirror, HOUR) == rfc1123(NOW - DAY + 60)
    monkeypatch.setenv("KRONOS_NOW", str(NOW))  # the clock went back: not trusted as fresh
    mirror.sign(NOW - DAY + 120)
    assert _date(cache, mirror, HOUR) == rfc1123(NOW - DAY + 120)


def test_a_cached_file_changed_since_is_downloaded_again(mirror: Mirror, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path / "cache")
    monkeypatch.setenv("KRONOS_NOW", str(NOW))
    mirror.sign(NOW - DAY)
    _date(cache, mirror, HOUR)
    [cached] = (cache.root / "releases").rglob("InRelease")
    cached.write_text(cached.read_text().replace(SUITE, SUITE + "x", 1))
    assert _date(cache, mirror, HOUR) == rfc1123(NOW - DAY)  # downloaded again, verified
    assert SUITE + "x" not in cached.read_text()


def test_a_reused_file_is_verified_again(mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reuse skips the download, not the signature check: a keyring without the signer refuses it."""
    cache = Cache(tmp_path / "cache")
    monkeypatch.setenv("KRONOS_NOW", str(NOW))
    mirror.sign(NOW - DAY)
    _date(cache, mirror, HOUR)
    empty = tmp_path / "empty.gpg"
    empty.write_bytes(b"")
    with pytest.raises(VerifyError, match="no good signature|no public key|not signed"):
        fetch_release(cache, mirror.url, SUITE, [empty], False, HOUR)


def test_the_window_is_configured(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).index_max_age == 3600
    assert load_settings(tmp_path, env={"KRONOS_INDEX_MAX_AGE": "0"}).index_max_age == 0
    (tmp_path / "kronos.toml").write_text("[kronos]\nindex_max_age = 60\n")
    assert load_settings(tmp_path, env={}).index_max_age == 60
    with pytest.raises(ConfigError, match="^environment KRONOS_INDEX_MAX_AGE: 'soon' is not a whole number"):
        load_settings(tmp_path, env={"KRONOS_INDEX_MAX_AGE": "soon"})
    (tmp_path / "kronos.toml").write_text("[kronos]\nindex_max_age = -1\n")
    with pytest.raises(ConfigError, match="kronos.index_max_age: -1 is negative"):
        load_settings(tmp_path, env={})


def test_the_file_list_is_remembered_for_the_content_verified(mirror: Mirror, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The SHA256 list is parsed once per verified content: a memo of other content is not used."""
    cache = Cache(tmp_path / "cache")
    monkeypatch.setenv("KRONOS_NOW", str(NOW))
    mirror.sign(NOW - DAY)
    first = fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False, 0)
    assert first.entry("main/source/Sources") == ("0" * 64, 0)
    [memo] = (cache.root / "releases").rglob(FILES)
    assert json.loads(memo.read_text())["files"] == {"main/source/Sources": ["0" * 64, 0]}
    # a memo naming the same content is what the next run reads
    data = json.loads(memo.read_text())
    data["files"]["main/source/Sources"] = ["1" * 64, 7]
    memo.write_text(json.dumps(data))
    assert fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False, 0).entry(
        "main/source/Sources") == ("1" * 64, 7)
    # new content (the mirror moved on): the memo is not its list, so it is parsed and written again
    mirror.sign(NOW - DAY + 60)
    assert fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False, 0).entry(
        "main/source/Sources") == ("0" * 64, 0)
    assert json.loads(memo.read_text())["files"] == {"main/source/Sources": ["0" * 64, 0]}
    memo.write_text("{not json")  # unreadable: parsed again
    assert fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False, 0).entry("main/x") is None
