"""The local executor with fake jobs: order, failure isolation, real concurrency (no sleeps)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kronos.executor import Job, Listener, Result, Status, get_executor

WAIT = 10  # seconds an Event waits before the test fails (never reached when the executor is right)


class Recorder(Listener):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []

    def started(self, job: str) -> None:
        with self.lock:
            self.events.append(("start", job))

    def finished(self, result: Result) -> None:
        with self.lock:
            self.events.append((result.status.value, result.job))


def _ok(log: list[str], name: str) -> Callable[[], object]:
    def func() -> object:
        log.append(name)
        return name.upper()
    return func


def _fail(message: str) -> Callable[[], object]:
    def func() -> object:
        raise RuntimeError(message)
    return func


@pytest.mark.parametrize("n", [1, 2, 4])
def test_chain_runs_in_order(n: int) -> None:
    ran: list[str] = []
    jobs = [Job("c", _ok(ran, "c"), ("b",)), Job("a", _ok(ran, "a")), Job("b", _ok(ran, "b"), ("a",))]
    results = get_executor("local", n).run(jobs)
    assert ran == ["a", "b", "c"]
    assert [r.status for r in results.values()] == [Status.DONE] * 3
    assert results["b"].value == "B"
    assert list(results) == ["c", "a", "b"], "results come back in the order the jobs were given"


def test_diamond_joins_after_both_branches() -> None:
    ran: list[str] = []
    rec = Recorder()
    jobs = [Job("top", _ok(ran, "top")), Job("left", _ok(ran, "left"), ("top",)),
            Job("right", _ok(ran, "right"), ("top",)), Job("bottom", _ok(ran, "bottom"), ("left", "right"))]
    get_executor("local", 2).run(jobs, rec)
    assert ran[0] == "top" and ran[-1] == "bottom" and set(ran[1:3]) == {"left", "right"}
    started = rec.events.index(("start", "bottom"))
    assert ("done", "left") in rec.events[:started] and ("done", "right") in rec.events[:started]


def test_failure_skips_exactly_its_dependents_while_an_independent_branch_runs() -> None:
    """a <- b (fails) <- c <- d, b <- e, and an independent x <- y: b's failure skips c, d, e only."""
    ran: list[str] = []
    b_failed = threading.Event()

    def independent() -> object:
        # runs after b failed: the independent branch goes on
        assert b_failed.wait(WAIT)
        ran.append("y")
        return None

    def failing() -> object:
        b_failed.set()
        raise RuntimeError("b broke; log: /logs/b.build")

    jobs = [Job("a", _ok(ran, "a")), Job("b", failing, ("a",)), Job("c", _ok(ran, "c"), ("b",)),
            Job("d", _ok(ran, "d"), ("c",)), Job("e", _ok(ran, "e"), ("b", "a")),
            Job("x", _ok(ran, "x")), Job("y", independent, ("x",))]
    results = get_executor("local", 2).run(jobs)
    assert sorted(ran) == ["a", "x", "y"]
    assert {n: r.status for n, r in results.items()} == {
        "a": Status.DONE, "b": Status.FAILED, "c": Status.SKIPPED, "d": Status.SKIPPED,
        "e": Status.SKIPPED, "x": Status.DONE, "y": Status.DONE}
    assert results["b"].reason == "b broke; log: /logs/b.build"
    assert isinstance(results["b"].error, RuntimeError)
    assert {results[n].reason for n in "cde"} == {"skipped: b failed"}


def test_two_jobs_really_run_at_once_with_jobs_2() -> None:
    """Each job waits until the other has started: only possible when both run at the same time."""
    barrier = threading.Barrier(2, timeout=WAIT)

    def meet() -> object:
        barrier.wait()
        return None

    results = get_executor("local", 2).run([Job("p", meet), Job("q", meet)])
    assert {r.status for r in results.values()} == {Status.DONE}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_jobs_n_bounds_concurrency(n: int) -> None:
    """n + 1 independent jobs that all wait for each other: with at most n at once they can never all
    meet, so the barrier breaks (after a short timeout) and no more than n were ever running."""
    barrier = threading.Barrier(n + 1, timeout=0.5)
    lock = threading.Lock()
    active = peak = 0

    def job() -> object:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            barrier.wait()
        finally:
            with lock:
                active -= 1
        return None

    results = get_executor("local", n).run([Job(f"j{i}", job) for i in range(n + 1)])
    assert peak == n
    assert {r.status for r in results.values()} == {Status.FAILED}
    assert all(isinstance(r.error, threading.BrokenBarrierError) for r in results.values())


def test_bad_graphs_are_refused() -> None:
    ex = get_executor("local", 2)
    with pytest.raises(ValueError, match="unknown job 'zz'"):
        ex.run([Job("a", _fail("x"), ("zz",))])
    with pytest.raises(ValueError, match="cycle: .*a -> b -> a|cycle: .*b -> a -> b"):
        ex.run([Job("a", _fail("x"), ("b",)), Job("b", _fail("x"), ("a",))])
    with pytest.raises(ValueError, match="duplicate"):
        ex.run([Job("a", _fail("x")), Job("a", _fail("x"))])
    with pytest.raises(ValueError, match="unknown executor"):
        get_executor("nowhere", 1)
    with pytest.raises(ValueError, match="at least 1"):
        get_executor("local", 0)


# --- progress and the report -----------------------------------------------------------------------


def test_progress_plain_lines_and_streamed_log(tmp_path: Path) -> None:
    from rich.console import Console

    from kronos.executor.progress import Progress, last_line

    log = tmp_path / "a.build"
    log.write_text("first\nsecond\n\n")
    assert last_line(log) == "second" and last_line(None) == "" and last_line(tmp_path / "none") == ""
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    progress = Progress(console, lambda job, since: log if job == "t/a" else None, verbose=True)
    assert not progress.live
    with progress.shown():
        get_executor("local", 2).run([Job("t/a", lambda: None), Job("t/b", _fail("boom"), ("t/a",)),
                                      Job("t/c", lambda: None, ("t/b",))], progress)
    lines = out.getvalue().splitlines()
    stamp = r"\d\d:\d\d:\d\d "
    assert re.fullmatch(stamp + "started t/a", lines[0])
    assert "[t/a] | first" in lines and "[t/a] | second" in lines
    assert any(re.fullmatch(stamp + r"failed t/b \(\d+\.\ds\)", ln) for ln in lines)
    assert any(re.fullmatch(stamp + "t/c skipped: t/b failed", ln) for ln in lines)


def test_report_tables_and_the_error_line() -> None:
    from rich.console import Console

    from kronos.errors import BuildError, PatchError
    from kronos.executor.report import Row, State, failure, failure_line, show

    rows = [Row("bookworm", "a", State.BUILT, "1.0-1", 2.5, "/out/a.build"),
            Row("bookworm", "b", State.FAILED, "2.0-1", 1.0, "/logs/b.build", "b broke; log: /logs/b.build"),
            Row("bookworm", "c", State.SKIPPED, reason="skipped: bookworm/b failed"),
            Row("sid", "a", State.UP_TO_DATE, "1.0-1", 0.1, "/out/sid/a.build")]
    out = io.StringIO()
    show(Console(file=out, width=200), rows)
    text = out.getvalue()
    assert re.search(r"^bookworm\s*$", text, re.M) and re.search(r"^sid\s*$", text, re.M)
    assert re.search(r"^b\s+failed\s+2\.0-1\s+1\.0s\s+/logs/b\.build", text, re.M)
    assert re.search(r"^c\s+skipped: bookworm/b failed\s*$", text, re.M)
    assert re.search(r"^a\s+up to date\s+1\.0-1\s+0\.1s\s+/out/sid/a\.build", text, re.M)
    assert "bookworm/b: b broke; log: /logs/b.build" in text
    assert "1 built, 1 up to date, 1 failed, 1 skipped" in text
    assert failure_line(rows) == "1 failed, 1 skipped; see the table above"
    assert failure_line([rows[0], rows[3]]) is None
    # what the run raises: nothing; a single failure's own error; else one line that sums it up
    assert failure([rows[0], rows[3]]) is None
    own = PatchError("b: does-not-apply.patch does not apply")
    one = [rows[0], Row("bookworm", "b", State.FAILED, error=own), rows[2]]
    assert failure(one) is own
    two = [*one, Row("sid", "x", State.FAILED, error=BuildError("x broke"))]
    summed = failure(two)
    assert isinstance(summed, BuildError) and summed.__cause__ is own
    assert str(summed) == "2 failed, 1 skipped; see the table above"


def test_once_and_keyed_locks_under_threads() -> None:
    from kronos.executor.locks import KeyedLocks, Once

    calls: list[int] = []
    gate = threading.Event()

    def slow() -> int:
        assert gate.wait(WAIT)
        calls.append(1)
        return 42

    once = Once(slow)
    values: list[int] = []
    threads = [threading.Thread(target=lambda: values.append(once())) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(WAIT)
    assert values == [42] * 4 and calls == [1], "the call ran more than once"

    locks = KeyedLocks()

    def take(key: str, event: threading.Event) -> None:
        with locks.hold(key):
            event.set()

    k1, k2 = threading.Event(), threading.Event()
    with locks.hold("k1"):
        threading.Thread(target=take, args=("k2", k2)).start()
        assert k2.wait(WAIT), "another key waited for k1"
        threading.Thread(target=take, args=("k1", k1)).start()
        assert not k1.wait(0.2), "the same key did not wait"
    assert k1.wait(WAIT)


def test_the_heaviest_chain_starts_first() -> None:
    """With one slot free, the ready job heading the heaviest chain goes first (critical path first):
    by chain length when nothing is known, by the weights (last build times) when they are."""
    ran: list[str] = []
    jobs = [Job("x", _ok(ran, "x")), Job("y", _ok(ran, "y")), Job("z", _ok(ran, "z"), ("y",))]
    get_executor("local", 1).run(jobs)
    assert ran == ["y", "x", "z"]
    ran.clear()
    heavy = [Job("x", _ok(ran, "x"), weight=30.0), Job("y", _ok(ran, "y"), weight=5.0),
             Job("z", _ok(ran, "z"), ("y",), weight=5.0)]
    get_executor("local", 1).run(heavy)
    assert ran == ["x", "y", "z"]


def test_a_first_run_starts_the_heavy_build_beside_the_longest_chain() -> None:
    """Nothing timed yet (a fresh output directory): the weights come from the sources' sizes in the
    index (bookworm's stack: xen's 4.9 MB beside a chain of small OCaml sources and dune), so xen and
    the chain's head take the two slots at once and the light independent builds come last, instead of
    xen waiting behind them."""
    from kronos.pipeline import expected_seconds

    sizes = {"quickjs": 583_804, "dh-ocaml": 184_712, "ocaml-dune": 2_398_129, "ounit": 63_382,
             "xen": 4_875_476, "xenapi-sid": 0, "xenapi-trixie": 0}
    after = {"dh-ocaml": ("quickjs",), "ocaml-dune": ("dh-ocaml",), "ounit": ("ocaml-dune",)}
    ran: list[str] = []
    jobs = [Job(n, _ok(ran, n), after.get(n, ()), weight=expected_seconds(None, size)) for n, size in sizes.items()]
    get_executor("local", 1).run(jobs)
    assert ran[:2] == ["xen", "quickjs"] and set(ran[-2:]) == {"xenapi-sid", "xenapi-trixie"}
    assert expected_seconds(580.5, 4_875_476) == 580.5  # a recorded time wins over the estimate
    assert expected_seconds(None, 0) == expected_seconds(0, 0) > 0


def test_a_failed_shared_step_runs_once_and_fails_every_job_that_needs_it() -> None:
    """Five independent jobs share one base image whose making fails: it is tried once, and each job
    fails with that step's own error."""
    from kronos.errors import KronosError
    from kronos.executor.locks import Once

    tries: list[int] = []

    def mmdebstrap() -> str:
        tries.append(1)
        raise KronosError("mmdebstrap failed (exit 1): E: cannot reach the mirror")

    image = Once(mmdebstrap)
    jobs = [Job(f"python3-xenapi-{i}", image) for i in range(5)]
    results = get_executor("local", 2).run(jobs)
    assert tries == [1]
    assert {r.status for r in results.values()} == {Status.FAILED}
    assert {r.reason for r in results.values()} == {"mmdebstrap failed (exit 1): E: cannot reach the mirror"}
