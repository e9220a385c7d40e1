"""The lock that kronos processes sharing a cache take around what they make once (a base image, a
deps layer): a second process waits for the first, and a killed holder leaves nothing held."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


BUILD_HOLDER = """
import sys, time
from pathlib import Path
from kronos.pipeline import Layout
from kronos.config import load_settings
settings = load_settings(Path(sys.argv[1]), env={"KRONOS_OUTPUT_DIR": sys.argv[2]})
with Layout(settings).holding("bookworm", "xen", 5):
    Path(sys.argv[3]).write_text("held")
    time.sleep(60)
"""


def test_a_build_lock_held_by_another_run_names_it_then_gives_up(tmp_path: Path) -> None:
    """A second kronos reaching a recipe another one builds waits, naming the holder (pid, running),
    and gives up after kronos.build_lock_timeout with one line."""
    from kronos.config import load_settings
    from kronos.errors import BuildError
    from kronos.pipeline import Layout

    out, flag = tmp_path / "out", tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", BUILD_HOLDER, str(tmp_path), str(out), str(flag)])
    try:
        deadline = time.monotonic() + 30
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), "the holder never took the lock"
        layout = Layout(load_settings(tmp_path, env={"KRONOS_OUTPUT_DIR": str(out)}))
        began = time.monotonic()
        with pytest.raises(BuildError) as got, layout.holding("bookworm", "xen", 0.5):
            pass
        assert 0.5 <= time.monotonic() - began < 5
        line = str(got.value)
        assert line.startswith(f"the build lock of bookworm/xen {out}/ledger/bookworm/xen.lock is still held by"
                               f" pid {holder.pid} (running: ")
        assert line.endswith("gave up after 0.5 s (kronos.build_lock_timeout, env KRONOS_BUILD_LOCK_TIMEOUT)")
    finally:
        holder.kill()
        holder.wait()
    with layout.holding("bookworm", "xen", 0.5):  # the holder is gone: the lock is free
        assert (out / "ledger" / "bookworm" / "xen.lock.pid").read_text().split()[0] == str(os.getpid())
