"""The reproducibility gate's pure parts: the varied parallelism, and the byte comparison (with the real
diffoscope on a pair that differs)."""

from __future__ import annotations

import shutil
from pathlib import Path

from kronos.config import load_settings
from kronos.qa.gate import Subject
from kronos.qa.policy import GatePolicy
from kronos.qa.repro import compare, other_parallel
from kronos.qa.verdict import Outcome

POLICY = GatePolicy("repro", False, ("unreproducible", "failed-to-build"))


def test_the_second_build_changes_parallel() -> None:
    assert other_parallel("nocheck parallel=8") == "nocheck parallel=1"
    assert other_parallel("parallel=1 nodoc") == "nodoc parallel=2"
    assert other_parallel("") == "parallel=2"  # none given is one job


def subject(tmp_path: Path, files: dict[str, bytes]) -> Subject:
    first = tmp_path / "first"
    first.mkdir()
    for name, data in files.items():
        (first / name).write_bytes(data)
    return Subject(load_settings(tmp_path, env={}).target("bookworm"), "r", first, "1.0-1", "k" * 64, "r",
                   tuple(files))


def test_identical_debs_are_reproducible(tmp_path: Path) -> None:
    s = subject(tmp_path, {"a_1_all.deb": b"same", "b_1_all.deb": b"also"})
    second = tmp_path / "second"
    shutil.copytree(s.directory, second)
    found = compare(s, second, tmp_path / "work", POLICY)
    assert found.outcome is Outcome.PASS and found.summary == "reproducible: 2 .deb(s) identical"
    assert found.details["identical"] == ["a_1_all.deb", "b_1_all.deb"] and not found.files


def test_a_difference_is_unreproducible_with_diffoscope_output(tmp_path: Path) -> None:
    s = subject(tmp_path, {"a_1_all.deb": b"built on monday\n", "b_1_all.deb": b"x"})
    second = tmp_path / "second"
    second.mkdir()
    (second / "a_1_all.deb").write_bytes(b"built on tuesday\n")
    (second / "c_1_all.deb").write_bytes(b"y")
    work = tmp_path / "work"
    work.mkdir()
    found = compare(s, second, work, POLICY)
    assert found.outcome is Outcome.FAIL
    assert found.summary == ("unreproducible: a_1_all.deb, b_1_all.deb (in one build only),"
                             " c_1_all.deb (in one build only)")
    assert found.files == ("diffoscope/a_1_all.deb.html", "diffoscope/a_1_all.deb.txt")
    assert "tuesday" in (work / "diffoscope" / "a_1_all.deb.txt").read_text()
    informs = compare(s, second, work, GatePolicy("repro", False, ("failed-to-build",)))
    assert informs.outcome is Outcome.PASS and informs.summary.startswith("unreproducible: ")
