"""apt's rule for InRelease, with real keys and real signatures checked by real gpgv.

A signature counts only when gpgv says GOODSIG (the key is neither expired nor revoked) and its
VALIDSIG names a strong digest. An expired, a revoked and a SHA1 signature are each refused with
one line; one good signature beside one by an expired key is accepted, as apt does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kronos.archive.release import fetch_release
from kronos.cache import Cache
from kronos.errors import VerifyError
from tests.integration.archive_fixture import serve

from .release_keys import DAY, NOW, Keys, release_text

SUITE = "kronostest"
GOOD = "Good Signer <good@example.invalid>"
OLD = "Expired Signer <old@example.invalid>"
REVOKED = "Revoked Signer <revoked@example.invalid>"


@dataclass(frozen=True)
class Signed:
    """One InRelease per case under root/<case>/dists/<suite>/, and the keyring holding every key."""

    root: Path
    keyring: Path
    fingerprints: dict[str, str]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    root = tmp_path_factory.mktemp("signed")
    keys = Keys()
    try:
        fprs = {
            "good": keys.new_key(GOOD, created=NOW - 30 * DAY, expires="2y"),
            # valid for one day, twenty days ago
            "old": keys.new_key(OLD, created=NOW - 20 * DAY, expires="1d"),
            "revoked": keys.new_key(REVOKED, created=NOW - 30 * DAY, expires="2y"),
        }
        text = release_text(SUITE, date=NOW - DAY, valid_until=NOW + 7 * DAY)
        when_old_was_valid = NOW - 20 * DAY + 3600

        def inrelease(case: str) -> Path:
            return root / case / "dists" / SUITE / "InRelease"

        keys.clearsign(text, inrelease("good"), [GOOD])
        keys.clearsign(text, inrelease("expired"), [OLD], at=when_old_was_valid)
        keys.clearsign(text, inrelease("revoked"), [REVOKED])  # signed before the key is revoked
        keys.clearsign(text, inrelease("sha1"), [GOOD], digest="SHA1")
        keys.clearsign(text, inrelease("good+expired"), [GOOD, OLD], at=when_old_was_valid)
        keys.revoke(fprs["revoked"])
        yield Signed(root, keys.export(root / "keyring.gpg"), fprs)
    finally:
        keys.close()


def fetch(signed: Signed, case: str, tmp_path: Path) -> str:
    """Serve root/<case> on loopback and read its InRelease as kronos does; return the mirror URL."""
    with serve(signed.root / case) as mirror:
        fetch_release(Cache(tmp_path / "cache"), mirror, SUITE, [signed.keyring], snapshot=False)
        return mirror


def test_a_good_signature_is_accepted(signed: Signed, tmp_path: Path) -> None:
    fetch(signed, "good", tmp_path)


@pytest.mark.parametrize(
    ("case", "key", "why"),
    [
        ("expired", "old", "has expired"),
        ("revoked", "revoked", "is revoked"),
        ("sha1", "good", "signed with the weak digest SHA1"),
    ],
)
def test_expired_revoked_and_sha1_signatures_are_refused(
    signed: Signed, tmp_path: Path, case: str, key: str, why: str
) -> None:
    with pytest.raises(VerifyError) as e:
        fetch(signed, case, tmp_path)
    line = str(e.value)
    assert "\n" not in line
    assert line.startswith(f"{SUITE} InRelease from http://127.0.0.1:")
    assert f"no good signature: key {signed.fingerprints[key][-16:]} {why}" in line
    assert str(signed.keyring) in line


def test_one_good_and_one_expired_signature_is_accepted(signed: Signed, tmp_path: Path) -> None:
    inrelease = signed.root / "good+expired" / "dists" / SUITE / "InRelease"
    status = subprocess.run(["gpgv", "--status-fd", "1", "--keyring", str(signed.keyring), str(inrelease)],
                            capture_output=True, text=True, check=False).stdout
    verdicts = sorted(line.split()[1] for line in status.splitlines() if line.split()[1:2] in (
        ["GOODSIG"], ["EXPKEYSIG"]))
    assert verdicts == ["EXPKEYSIG", "GOODSIG"] and status.count("NEWSIG") == 2, status
    fetch(signed, "good+expired", tmp_path)
