"""Whatever the Valid-Until policy, an InRelease older than the last one verified for that mirror and
suite is refused (a replay), as apt refuses to go back. Real signed InRelease files, served on
127.0.0.1; the last verified Date is kept in a small state file under the cache root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.archive.release import fetch_release
from kronos.cache import Cache
from kronos.errors import KronosError, VerifyError

from .release_keys import DAY, NOW, Mirror, rfc1123, signed_mirror

SUITE = "kronostest"
SIGNER = "Replay Signer <replay@example.invalid>"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    with signed_mirror(tmp_path_factory.mktemp("replay"), SUITE, SIGNER) as m:
        yield m


@pytest.mark.parametrize("snapshot", [False, True], ids=["enforcing", "snapshot"])
def test_an_older_inrelease_is_refused(mirror: Mirror, tmp_path: Path, snapshot: bool) -> None:
    cache = Cache(tmp_path / "cache")

    def fetch() -> None:
        fetch_release(cache, mirror.url, SUITE, [mirror.keyring], snapshot)

    mirror.sign(NOW - 2 * DAY)
    fetch()
    mirror.sign(NOW - 3 * DAY)  # an older, validly signed index: a replay
    with pytest.raises(VerifyError) as e:
        fetch()
    assert str(e.value) == (
        f"{SUITE} InRelease from {mirror.url}: Date {rfc1123(NOW - 3 * DAY)} is older than"
        f" {rfc1123(NOW - 2 * DAY)}, the Date of the InRelease verified before"
        " (a replayed or rolled-back index; apt refuses to go back)")
    mirror.sign(NOW - 2 * DAY)
    fetch()  # the same Date is fine
    mirror.sign(NOW - DAY)
    fetch()
    mirror.sign(NOW - 2 * DAY)  # the one accepted a moment ago is now a replay
    with pytest.raises(VerifyError, match="is older than"):
        fetch()
    # another cache (another machine) has seen nothing yet
    fetch_release(Cache(tmp_path / "other"), mirror.url, SUITE, [mirror.keyring], snapshot)


def test_a_corrupt_state_file_is_one_line_naming_it(mirror: Mirror, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    mirror.sign(NOW - DAY)
    fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False)
    [state] = (cache.root / "releases").rglob("*.json")
    assert json.loads(state.read_text())["date"] == rfc1123(NOW - DAY)
    for garbage in ("{not json", '{"date": 3}', '{"date": "yesterday"}'):
        state.write_text(garbage)
        with pytest.raises(KronosError) as e:
            fetch_release(cache, mirror.url, SUITE, [mirror.keyring], False)
        assert str(e.value).startswith(f"{state}: ") and "corrupt" in str(e.value)
        assert "\n" not in str(e.value)
