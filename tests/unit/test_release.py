from __future__ import annotations

from pathlib import Path

from kronos.archive import indices
from kronos.archive.release import parse_status

FPR = "A" * 40


def test_apt_rule_one_good_and_no_bad() -> None:
    good = f"[GNUPG:] GOODSIG X name\n[GNUPG:] VALIDSIG {FPR} 2026-10-30 1 0 4 0 22 10 01 {FPR}\n"
    missing = "[GNUPG:] ERRSIG 0123456789ABCDEF 1 10 01 1761811681 9 -\n[GNUPG:] NO_PUBKEY 0123456789ABCDEF\n"
    bad = "[GNUPG:] BADSIG 0123456789ABCDEF someone\n"
    assert parse_status(good).acceptable
    assert parse_status(good + missing).acceptable  # Debian signs with several keys
    assert not parse_status(missing).acceptable
    assert not parse_status(good + bad).acceptable
    assert not parse_status("").acceptable
    sha1 = f"[GNUPG:] VALIDSIG {FPR} 2026-10-30 1 0 4 0 22 2 01 {FPR}\n"
    assert not parse_status(sha1).acceptable  # weak digest
    expired = "[GNUPG:] EXPKEYSIG 0123456789ABCDEF old\n"
    assert not parse_status(expired).acceptable


def test_stanza_lookup(tmp_path: Path) -> None:
    text = (
        "Package: foo-bar\nVersion: 1\n\n"
        "Package: foo\nVersion: 1.0-1\nBinary: foo\nChecksums-Sha256:\n"
        f" {'b' * 64} 10 foo_1.0-1.dsc\n\n"
        "Package: foo\nVersion: 2.0-1\n\n"
        "Package: xfoo\nVersion: 3\n"
    )
    path = tmp_path / "Sources"
    path.write_text(text)
    found = indices.sources(path, "foo")
    assert [s["Version"] for s in found] == ["1.0-1", "2.0-1"]
    assert found[0]["Checksums-Sha256"][0]["name"] == "foo_1.0-1.dsc"
    assert indices.sources(path, "nothing") == []
    assert [s["Version"] for s in indices.sources(path, "xfoo")] == ["3"]
