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


OLD = "B" * 40


def _sig(verdict: str, fpr: str, digest: str = "10") -> str:
    """gpgv's status lines for one signature (as gpgv 2.2 prints them)."""
    return (f"[GNUPG:] NEWSIG\n[GNUPG:] KEY_CONSIDERED {fpr} 0\n[GNUPG:] {verdict} {fpr[-16:]} Some One\n"
            f"[GNUPG:] VALIDSIG {fpr} 2026-10-30 1761811681 0 4 0 22 {digest} 01 {fpr}\n")


def test_only_goodsig_with_a_strong_digest_counts() -> None:
    """gpgv prints VALIDSIG after EXPKEYSIG/REVKEYSIG too: a valid signature by an unusable key."""
    assert parse_status(_sig("GOODSIG", FPR)).good == (FPR,)
    for verdict, why in (("EXPKEYSIG", "has expired"), ("REVKEYSIG", "is revoked"), ("EXPSIG", "has expired")):
        sigs = parse_status(_sig(verdict, OLD))
        assert not sigs.acceptable, verdict
        assert why in sigs.reason()
    weak = parse_status(_sig("GOODSIG", FPR, digest="2"))
    assert not weak.acceptable and "weak digest SHA1" in weak.reason()
    # per signature: the expired key's VALIDSIG does not make the SHA1 one good, and vice versa
    assert not parse_status(_sig("GOODSIG", FPR, digest="2") + _sig("EXPKEYSIG", OLD)).acceptable
    assert parse_status(_sig("EXPKEYSIG", OLD) + _sig("GOODSIG", FPR)).acceptable
    assert parse_status(_sig("GOODSIG", FPR) + _sig("REVKEYSIG", OLD)).good == (FPR,)
    assert not parse_status(_sig("GOODSIG", FPR) + _sig("BADSIG", OLD)).acceptable


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
