"""State files kronos keeps (version ledger, upload ledger, build record) that are corrupt: one
KronosError (a StateError) naming the file, what it is, what is wrong and what to do; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.errors import KronosError
from kronos.ledger import Entry, Ledger
from kronos.pipeline import Layout
from kronos.upload.ledger import UploadLedger

GOOD = {"key": "k1", "version": "1.0-1~bpo12+1", "base": "1.0", "n": 1, "timestamp": 1767225600}


@pytest.mark.parametrize(("data", "says"), [
    (b'{"builds": [', "not valid JSON (Expecting value at line 1 column 13)"),
    (b"", "not valid JSON (Expecting value at line 1 column 1)"),
    (b'{"builds": []}\xff', "not valid JSON ('utf-8' codec can't decode byte 0xff"),
    (json.dumps({"builds": {}}).encode(), "it is not an object with a list 'builds'"),
    (json.dumps([GOOD]).encode(), "it is not an object with a list 'builds'"),
    (json.dumps({"builds": [GOOD, "x"]}).encode(), "builds[1] does not have exactly the keys key, version, base"),
    (json.dumps({"builds": [{**GOOD, "extra": 1}]}).encode(), "builds[0] does not have exactly the keys"),
    (json.dumps({"builds": [{**GOOD, "n": "1"}]}).encode(), "builds[0].n is '1', not of type int"),
    (json.dumps({"builds": [{**GOOD, "n": True}]}).encode(), "builds[0].n is True, not of type int"),
    (json.dumps({"builds": [{**GOOD, "version": "1.0 -1"}]}).encode(),
     "builds[0].version '1.0 -1' is not a Debian version"),
])
def test_corrupt_version_ledger(tmp_path: Path, data: bytes, says: str) -> None:
    path = tmp_path / "hello.json"
    path.write_bytes(data)
    with pytest.raises(KronosError) as e:
        Ledger(path)
    assert str(e.value).startswith(f"{path}: the version ledger is corrupt: {says}"), str(e.value)
    assert str(e.value).endswith("restore it from a backup (without it, a version could name two builds)")


def test_version_ledger_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "hello.json"
    Ledger(path).record(Entry(**GOOD))  # type: ignore[arg-type]
    assert Ledger(path).entries == [Entry(**GOOD)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "says"), [
    (b"{", "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    (b'["1.0-1"]', "it is not an object of {source: [versions]}"),
    (b'{"hello": "1.0-1"}', "it is not an object of {source: [versions]}"),
    (b'{"hello": [1]}', "it is not an object of {source: [versions]}"),
    (b'{"hello": [""]}', "hello: '' is not a Debian version"),
])
def test_corrupt_upload_ledger(tmp_path: Path, data: bytes, says: str) -> None:
    path = tmp_path / "ledger" / "uploads" / "sid.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    with pytest.raises(KronosError) as e:
        UploadLedger.for_target(tmp_path, "sid")
    assert str(e.value).startswith(f"{path}: the upload ledger is corrupt: {says}"), str(e.value)


@pytest.mark.parametrize(("data", "says"), [
    (b'{"key": "k", ', "not valid JSON (Expecting property name enclosed in double quotes"),
    (b'["k"]', "a JSON list, not an object"),
])
def test_corrupt_build_record(tmp_path: Path, data: bytes, says: str) -> None:
    """Layout.record is what `kronos build` reads to decide whether a build is up to date."""
    layout = Layout(load_settings(tmp_path, env={"KRONOS_OUTPUT_DIR": str(tmp_path / "out")}))
    record = layout.package_dir("bookworm", "hello") / "build.json"
    record.parent.mkdir(parents=True)
    record.write_bytes(data)
    with pytest.raises(KronosError) as e:
        layout.record("bookworm", "hello")
    assert str(e.value).startswith(f"{record}: the build record is corrupt: {says}"), str(e.value)
    assert str(e.value).endswith(f"; remove {record.parent} and build again")


def test_build_record_read(tmp_path: Path) -> None:
    layout = Layout(load_settings(tmp_path, env={"KRONOS_OUTPUT_DIR": str(tmp_path / "out")}))
    assert layout.record("bookworm", "hello") is None
    record = layout.package_dir("bookworm", "hello") / "build.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"key": "k", "files": ["hello_1.0.dsc"]}')
    assert layout.record("bookworm", "hello") == {"key": "k", "files": ["hello_1.0.dsc"]}


def test_load_json_names_file_what_and_fix(tmp_path: Path) -> None:
    from kronos.errors import StateError, load_json

    path = tmp_path / "state.json"
    path.write_text("{}\n{}\n")
    with pytest.raises(StateError, match=r"state.json: the publish state is corrupt: not valid JSON "
                                         r"\(Extra data at line 2 column 1\); restore it$"):
        load_json(path, "the publish state", "restore it")
