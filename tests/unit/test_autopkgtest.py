"""The autopkgtest gate's reading of autopkgtest: its summary file and every exit code it documents."""

from __future__ import annotations

import pytest

from kronos.qa.autopkgtest import EXITS, Result, judge_results, parse_summary
from kronos.qa.policy import GatePolicy
from kronos.qa.verdict import Outcome

POLICY = GatePolicy("autopkgtest", True, ("fail", "erroneous"), max_seconds=600)
SUMMARY = """\
runs                 PASS
greets               FAIL non-zero exit status 1
french               FAIL non-zero exit status 1
skips                SKIP exit status 77 and marked as skippable
flaky-one            FLAKY non-zero exit status 1
"""


def test_the_summary_one_result_a_test() -> None:
    assert parse_summary(SUMMARY) == [
        Result("runs", "PASS"), Result("greets", "FAIL", "non-zero exit status 1"),
        Result("french", "FAIL", "non-zero exit status 1"),
        Result("skips", "SKIP", "exit status 77 and marked as skippable"),
        Result("flaky-one", "FLAKY", "non-zero exit status 1")]
    assert parse_summary("") == []


@pytest.mark.parametrize(("code", "outcome", "summary"), [
    (0, Outcome.PASS, "1 PASS"),
    (2, Outcome.PASS, "1 PASS"),
    (8, Outcome.PASS, "1 PASS"),
    (12, Outcome.FAIL, "erroneous package: its tests could not run (exit 12); 1 PASS"),
    (14, Outcome.FAIL, "erroneous package: its tests could not run (exit 14); 1 PASS"),
    (16, Outcome.ERROR, "autopkgtest: testbed failure"),
    (20, Outcome.ERROR, "autopkgtest: unexpected failure"),
    (124, Outcome.ERROR, "autopkgtest ran past autopkgtest.max_seconds (600 s)"),
    (137, Outcome.ERROR, "autopkgtest ran past autopkgtest.max_seconds (600 s)"),
    (3, Outcome.ERROR, "autopkgtest: exit 3"),
])
def test_each_exit_code(code: int, outcome: Outcome, summary: str) -> None:
    found = judge_results(code, [Result("runs", "PASS")], None, "none", POLICY)
    assert (found.outcome, found.summary) == (outcome, summary)
    assert found.details["exit"] == code


def test_failures_against_the_baseline() -> None:
    ours = parse_summary(SUMMARY)
    base = "the archive's hello 2.10-3 (bookworm)"
    regression = judge_results(6, ours, {"greets": "PASS", "french": "FAIL"}, base, POLICY)
    assert regression.outcome is Outcome.FAIL
    assert regression.summary == (f"greets failed (french fail with {base} as well); 1 PASS, 2 FAIL, 1 SKIP, 1 FLAKY;"
                                  f" baseline: {base}")
    both = judge_results(4, ours, {"greets": "FAIL", "french": "FAIL"}, base, POLICY)
    assert both.outcome is Outcome.ARCHIVE_FAILS and both.summary.startswith("greets, french failed, and fail with")
    none = judge_results(4, ours, None, "none: the archive has no hello for bookworm", POLICY)
    assert none.outcome is Outcome.FAIL
    informs = judge_results(4, ours, None, "none", GatePolicy("autopkgtest", False, ("erroneous",)))
    assert informs.outcome is Outcome.PASS and informs.summary.startswith("greets, french failed")
    assert set(EXITS) == {0, 2, 4, 6, 8, 12, 14, 16, 20}
