"""The test session's one real build of every recipe for every target, started in the background as
soon as the tests are collected (tests/conftest.py), so that the unit tier and the integration tests
that do not need its outputs run beside it; the `session` fixture waits for it.

Its output is written to a log file as it comes (`session-build.log` beside the outputs), so a build
that fails or hangs can be read while the tests go on. A pytest run that ends or is interrupted before
the build has ended stops it (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .checkout import CACHE, ROOT

KRONOS = Path(sys.executable).with_name("kronos")
TARGETS = ("sid", "trixie", "bookworm", "noble", "resolute")
WARM_DIR = CACHE.parent / "kronos-test"  # behind the same 0700 directory as the download cache
# noble's xen (about 8 minutes on 2 cores) is left to `make run` and `make nightly`: CI's budget (README, Tests)
SKIPPED = ("noble/xen",)
ARGS = ("build", "--jobs", "2", *(a for t in TARGETS for a in ("--target", t)),
        *(a for s in SKIPPED for a in ("--skip", s)))

# What the session's build outputs are a function of beyond kronos's own content keys: the code of
# every stage up to the build (publishing and uploads come after it). A warm run reuses the outputs of
# the last successful session only when none of it changed; otherwise it builds everything again.
_BUILD_PATH = ("kronos", "containers", "recipes", "patches", "kronos.toml", "pyproject.toml", "constraints.txt")
_AFTER_BUILD = ("publish", "upload")


def build_path_digest(root: Path) -> str:
    h = hashlib.sha256()
    for top in _BUILD_PATH:
        base = root / top
        for path in sorted([base] if base.is_file() else base.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or "__pycache__" in rel.parts or (rel.parts[0] == "kronos" and
                                                                     rel.parts[1] in _AFTER_BUILD):
                continue
            h.update(f"{rel.as_posix()}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


@dataclass
class Background:
    """`kronos build` of every recipe for every target, running beside the tests."""

    parent: Path  # removed at the end of the pytest run
    out: Path  # KRONOS_OUTPUT_DIR
    log: Path
    env: dict[str, str]
    warm: bool  # the outputs of an earlier session were copied in (see build_path_digest)
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None  # the build's wall time, once it has ended
    waited: float = 0.0  # how long the tests waited for it

    def watch(self) -> None:
        """On a thread of its own: the build's wall time, taken when it ends (not when a test asks)."""
        self.proc.wait()
        self.seconds = time.monotonic() - self.started

    def wait(self) -> subprocess.CompletedProcess[str]:
        """Wait for the build to end; its exit code and output, as from subprocess.run."""
        began = time.monotonic()
        code = self.proc.wait()
        if not self.waited:
            self.waited = time.monotonic() - began
        if self.seconds is None:
            self.seconds = time.monotonic() - self.started
        return subprocess.CompletedProcess([str(KRONOS), *ARGS], code, self.log.read_text(errors="replace"))

    def stop(self) -> None:
        """End a build that is still running (the tests ended first), then remove its directory."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.parent, ignore_errors=True)


_CURRENT: list[Background] = []


def start() -> Background:
    """Start the session's build (once per pytest run); warm: the outputs of the last successful
    session are copied in first, and kronos's own content keys decide what is up to date;
    KRONOS_TEST_COLD=1 (CI's fresh clone is always cold) builds all."""
    if _CURRENT:
        return _CURRENT[0]
    parent = Path(tempfile.mkdtemp(prefix="kronos-session-"))
    out = parent / "out"
    warm = WARM_DIR / f"session-{build_path_digest(ROOT)}"
    reused = warm.is_dir() and not os.environ.get("KRONOS_TEST_COLD")
    if reused:
        shutil.copytree(warm, out, symlinks=True)
    out.mkdir(exist_ok=True)
    env = dict(os.environ, KRONOS_OUTPUT_DIR=str(out), KRONOS_ROOT=str(ROOT))
    env.pop("KRONOS_TARGETS", None)
    log = parent / "session-build.log"
    with log.open("wb") as f:
        proc = subprocess.Popen([str(KRONOS), *ARGS], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _CURRENT.append(Background(parent, out, log, env, reused, proc))
    threading.Thread(target=_CURRENT[0].watch, daemon=True, name="session-build").start()
    return _CURRENT[0]


def current() -> Background | None:
    return _CURRENT[0] if _CURRENT else None


def keep_warm(bg: Background) -> None:
    """After a successful build: its outputs are the next session's warm start."""
    shutil.rmtree(WARM_DIR, ignore_errors=True)
    shutil.copytree(bg.out, WARM_DIR / f"session-{build_path_digest(ROOT)}", symlinks=True)
