"""The lock that kronos processes sharing a cache take around what they make once (a base image, a
deps layer): a second process waits for the first, and a killed holder leaves nothing held."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kronos.executor.locks import KeyedLocks, file_lock

HOLDER = """
import sys, time
from pathlib import Path
from kronos.executor.locks import KeyedLocks
log = Path(sys.argv[2])
with KeyedLocks().hold("image:bookworm", across=Path(sys.argv[1])):
    log.write_text("holder in\\n")
    time.sleep(float(sys.argv[3]))
    with log.open("a") as f:
        f.write("holder out\\n")
"""


def _holder(locks: Path, log: Path, seconds: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(locks), str(log), str(seconds)])
    deadline = time.monotonic() + 30
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.exists(), "the holder never took the lock"
    return proc


def test_another_process_waits_for_the_holder(tmp_path: Path) -> None:
    log = tmp_path / "log"
    proc = _holder(tmp_path / "locks", log, 0.5)
    with KeyedLocks().hold("image:bookworm", across=tmp_path / "locks"), log.open("a") as f:
        f.write("second in\n")
    proc.wait()
    assert log.read_text().splitlines() == ["holder in", "holder out", "second in"]


def test_other_keys_do_not_wait(tmp_path: Path) -> None:
    log = tmp_path / "log"
    proc = _holder(tmp_path / "locks", log, 5)
    try:
        began = time.monotonic()
        with KeyedLocks().hold("image:noble", across=tmp_path / "locks"):
            pass
        assert "holder out" not in log.read_text()
        assert time.monotonic() - began < 5
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    log = tmp_path / "log"
    proc = _holder(tmp_path / "locks", log, 600)
    proc.kill()
    proc.wait()
    lock = next((tmp_path / "locks").glob("*.lock"))
    with file_lock(lock):
        assert "holder out" not in log.read_text()
