from __future__ import annotations

from pathlib import Path

from debian.debian_support import Version

from kronos.config import load_settings
from kronos.ledger import Entry, Ledger
from kronos.packaging import versions


def targets(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(tmp_path, env={}).targets


def test_conventions(tmp_path: Path) -> None:
    t = targets(tmp_path)
    assert versions.authored("26.21.1", t["sid"], 1) == "26.21.1-1"
    assert versions.authored("26.21.1", t["sid"], 2) == "26.21.1-2"
    assert versions.authored("26.21.1", t["bookworm"], 1) == "26.21.1-1~bpo12+1"
    assert versions.authored("26.21.1", t["trixie"], 1) == "26.21.1-1~bpo13+1"
    assert versions.authored("26.21.1", t["noble"], 1) == "26.21.1-1~ubuntu24.04.1"
    assert versions.authored("26.21.1", t["resolute"], 3) == "26.21.1-1~ubuntu26.04.3"
    assert versions.rebuilt("3.8", t["bookworm"], 1) == "3.8~bpo12+1"
    assert versions.rebuilt("2025.04.26-1", t["bookworm"], 2) == "2025.04.26-1~bpo12+2"


def test_backports_sort_below_the_source_and_rise_with_n(tmp_path: Path) -> None:
    t = targets(tmp_path)["bookworm"]
    assert Version(versions.rebuilt("3.8", t, 1)) < Version("3.8")
    assert Version(versions.rebuilt("3.8", t, 1)) > Version("3.7")
    assert versions.is_newer(versions.rebuilt("3.8", t, 2), versions.rebuilt("3.8", t, 1))
    assert versions.is_newer(versions.rebuilt("3.8", t, 10), versions.rebuilt("3.8", t, 9))
    noble = targets(tmp_path)["noble"]
    assert versions.is_newer(versions.authored("1.0", noble, 2), versions.authored("1.0", noble, 1))


def test_ledger_never_reuses_a_version(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    ledger = Ledger(path)
    assert ledger.next_n("1.0") == 1
    ledger.record(Entry("k1", "1.0-1", "1.0", 1, 100))
    ledger = Ledger(path)  # reloaded from disk
    assert ledger.find("k1") is not None and ledger.find("k2") is None
    assert ledger.next_n("1.0") == 2 and ledger.next_n("2.0") == 1
    ledger.record(Entry("k2", "1.0-2", "1.0", 2, 200))
    assert ledger.latest() == Entry("k2", "1.0-2", "1.0", 2, 200)
    try:
        ledger.record(Entry("k3", "1.0-2", "1.0", 2, 300))
    except ValueError as e:
        assert "already names another build" in str(e)
    else:
        raise AssertionError("a reused version was accepted")
