"""The interrupt machinery without Docker: a stop reaches every registered stopper (a child process
through the subprocess wrapper), the executor starts nothing more and reports the jobs it never
started, and the exit code follows the signal (the real build is in tests/integration/test_interrupt.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos import interrupt
from kronos.errors import CommandError
from kronos.executor import Job, Status, get_executor
from kronos.publish.signing import gpg
from kronos.run import run


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def test_a_stop_terminates_a_running_child_and_spares_a_later_one() -> None:
    failed: list[BaseException] = []

    def sleeper() -> None:
        try:
            run(["sleep", "60"])
        except CommandError as e:
            failed.append(e)

    t = threading.Thread(target=sleeper)
    began = time.monotonic()
    t.start()
    time.sleep(0.5)
    interrupt.request_stop(signal.SIGTERM)
    t.join(10)
    assert not t.is_alive() and time.monotonic() - began < 10
    assert len(failed) == 1 and "sleep" in str(failed[0])
    # a command started after the stop (a cleanup) runs to its end
    assert run(["sh", "-c", "sleep 0.2; echo done"]).stdout == b"done\n"


def test_the_executor_starts_nothing_more_after_a_stop() -> None:
    ran: list[str] = []
    gate = threading.Event()

    def first() -> str:
        ran.append("a")
        interrupt.request_stop(signal.SIGINT)
        gate.set()
        return "A"

    jobs = [Job("a", first), Job("b", lambda: ran.append("b"), ("a",)), Job("c", lambda: ran.append("c"), ("a",))]
    results = get_executor("local", 1).run(jobs)
    assert gate.is_set() and ran == ["a"]
    assert results["a"].status is Status.DONE
    assert {results[n].status for n in "bc"} == {Status.SKIPPED}
    assert {results[n].reason for n in "bc"} == {"not started: SIGINT"}


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_exit_code_follows_the_signal(sig: signal.Signals, code: int) -> None:
    interrupt.request_stop(sig)
    with pytest.raises(interrupt.Interrupted) as got:
        interrupt.check()
    assert got.value.exit_code == code
    assert str(got.value).startswith(f"interrupted by {sig.name}: nothing more was started")


def test_a_stop_reaches_python_gnupg_gpg(tmp_path: Path) -> None:
    """gpg started by python-gnupg (signing.gpg) is stopped like run()'s children: here one waiting for
    input that never comes."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    read_end, write_end = os.pipe()
    result: list[object] = []
    with os.fdopen(read_end, "rb") as source, os.fdopen(write_end, "wb") as never_ends:
        t = threading.Thread(target=lambda: result.append(gpg(home).decrypt_file(source)))
        began = time.monotonic()
        t.start()
        time.sleep(1.0)
        assert t.is_alive()  # gpg waits for the input
        interrupt.request_stop(signal.SIGINT)
        t.join(10)
        stopped = not t.is_alive()
        never_ends.write(b"x")  # lets python-gnupg's feeder thread end either way
    assert stopped and time.monotonic() - began < 10
    assert getattr(result[0], "returncode", None) == -signal.SIGTERM
