"""The publish lock: a publish SIGKILLed while its workers read .debs leaves no lock behind, and a
publish that waits says who holds the lock and gives up after the configured time with one line.

Real `kronos publish` processes, real gpg and dpkg-deb; no container."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import repo_helpers as rh

pytestmark = pytest.mark.integration

PARALLEL = 64  # kronos.publish.indices.PARALLEL: from this many new .debs on, workers read them
NEW_DEBS = PARALLEL + 16
BOUND = 60.0  # seconds the publish after a kill may take (it takes a few)


@pytest.fixture(scope="module")
def home() -> Iterator[tuple[Path, str]]:
    h = rh.gpg_home()
    try:
        yield h, rh.new_key(h, "Kronos Lock Test <lock@example.invalid>")
    finally:
        rh.close_gpg_home(h)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> rh.Outputs:
    """A published base package, then NEW_DEBS new .debs in four recipes (read by workers)."""
    out = rh.Outputs(tmp_path_factory.mktemp("lock") / "out")
    out.add("bookworm", "base", "kt-base", [("kt-base", "1.0-1")])
    for r in range(4):
        out.add("bookworm", f"many{r}", f"kt-many{r}",
                [(f"kt-many{r}-{i:02d}", "1.0-1") for i in range(NEW_DEBS // 4)])
    return out


def repo_with_base(tmp_path: Path, home: tuple[Path, str], many: rh.Outputs) -> rh.Env:
    """A repository that serves kt-base, and the env of a publish of the many new .debs into it."""
    base = rh.Outputs(tmp_path / "base")
    shutil.copytree(many.root / "bookworm" / "base", base.root / "bookworm" / "base")
    env = rh.Env(tmp_path / "repo", home[0], base.root, keys=home[1])
    assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
    env.out = many.root
    return env


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def start(env: rh.Env, log: Path, **extra: str) -> subprocess.Popen[str]:
    """`kronos publish --target bookworm` in the background, its stdout and stderr to log."""
    with log.open("w") as f:
        return subprocess.Popen(rh.publish_argv(["bookworm"]), cwd=rh.ROOT, env={**env.vars(), **extra}, text=True,
                                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def openers(path: Path) -> list[int]:
    """The processes that have path open (an flock holder is one of them)."""
    target = str(path.resolve())
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                    found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(what: str, cond: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def config_with(tmp_path: Path, line: str) -> Path:
    """repository.toml with one [repository] line set."""
    key = line.split("=")[0].strip()
    text = (rh.ROOT / "repo" / "repository.toml").read_text()
    text = re.sub(rf"(?m)^{key}\s*=.*$", "", text).replace("[repository]\n", f"[repository]\n{line}\n")
    config = tmp_path / "repository.toml"
    config.write_text(text)
    return config


def waiting_publish(env: rh.Env, **extra: str) -> subprocess.CompletedProcess[str]:
    """A publish that must find the lock held: it has to give up on its own, well within 30 s."""
    try:
        return subprocess.run(rh.publish_argv(["bookworm"]), cwd=rh.ROOT, text=True, capture_output=True,
                              env={**env.vars(), **extra}, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        said = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"a publish waiting for a held lock neither gave up nor failed within 30 s; it said:"
                             f" {said.strip().splitlines()[-1:] or 'nothing'}") from None


def published(env: rh.Env) -> set[str]:
    listed = rh.kronos(["repo.list"], env)
    assert listed.returncode == 0, ok(listed)
    return {line.split()[1] for line in listed.stdout.splitlines()}


@pytest.mark.parametrize("how", ["fault checkpoint", "worker blocked on a .deb"])
def test_publish_killed_while_workers_read_does_not_keep_the_lock(how: str, tmp_path: Path,
                                                                 home: tuple[Path, str], many: rh.Outputs) -> None:
    """SIGKILL to the publishing process alone (not its group) while its workers read the new .debs:
    the next publish must take the lock and finish within BOUND seconds."""
    env = repo_with_base(tmp_path, home, many)
    lock = env.repo / ".lock"
    workers: list[int] = []
    try:
        if how == "fault checkpoint":  # the publish kills itself (os.kill(getpid())) at 'reading .debs'
            for n in range(1, 6):
                env.fault_at = n
                proc = start(env, tmp_path / "killed.log")
                seen: set[int] = set()
                while proc.poll() is None:
                    seen.update(children(proc.pid))
                    time.sleep(0.01)
                log = (tmp_path / "killed.log").read_text()
                assert proc.returncode == -signal.SIGKILL, log
                if "(reading .debs)" in log:
                    workers = sorted(seen)
                    break
            else:
                raise AssertionError(f"no checkpoint 'reading .debs' among the first 5:\n{log}")
            env.fault_at = None
            assert workers, "the publish reads its .debs without workers"
        else:  # a worker is held inside a .deb (a FIFO) while the test kills the publishing process
            env.out = tmp_path / "out"
            shutil.copytree(many.root, env.out)
            deb = sorted((env.out / "bookworm" / "many0").glob("*.deb"))[0]
            real = deb.read_bytes()
            deb.unlink()
            os.mkfifo(deb)
            proc = start(env, tmp_path / "killed.log")
            writer = -1
            try:
                def reader() -> bool:
                    nonlocal writer
                    with contextlib.suppress(OSError):
                        writer = os.open(deb, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader opens it
                    return writer >= 0 or proc.poll() is not None
                wait_for("a worker to open the blocked .deb", reader)
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()
                workers = children(proc.pid)
                assert workers, "the publish reads its .debs without workers"
                os.kill(proc.pid, signal.SIGKILL)  # the process alone, not its group
                proc.wait()
            finally:
                if writer >= 0:
                    os.close(writer)  # the reader gets EOF: a surviving worker goes on, idle
            deb.unlink()
            deb.write_bytes(real)
        started = time.monotonic()
        try:
            again = subprocess.run(rh.publish_argv(["bookworm"]), cwd=rh.ROOT, env=env.vars(), text=True,
                                   capture_output=True, timeout=BOUND, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            held = [f"{p}: {Path(f'/proc/{p}/cmdline').read_bytes()[:80]!r}" for p in openers(lock) if alive(p)]
            raise AssertionError(f"{how}: the publish after the kill did not finish within {BOUND:g} s; {lock} is"
                                 f" open in {held}") from None
        took = time.monotonic() - started
        assert again.returncode == 0, ok(again)
        assert "waiting for the publish lock" not in again.stderr, ok(again)
        assert took < BOUND
        assert {f"kt-many{r}-{i:02d}" for r in range(4) for i in range(NEW_DEBS // 4)} <= published(env)
        assert not [p for p in workers if alive(p)], f"workers of the killed publish outlived it: {workers}"
    finally:
        for pid in workers:  # what the killed publish left (the old defect): end it
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_waiting_publish_names_the_holder_and_gives_up(tmp_path: Path, home: tuple[Path, str],
                                                      many: rh.Outputs) -> None:
    """A publish held inside the lock: the next one says it waits for that pid, gives up after
    repository.lock_timeout with one error line, and the holder then finishes."""
    env = repo_with_base(tmp_path, home, many)
    resume = tmp_path / "resume"
    holder = start(env, tmp_path / "holder.log", KRONOS_FAULT_WAIT=f"locked={resume}")
    try:
        wait_for("the first publish to hold the lock",
                 lambda: (tmp_path / "resume.waiting").exists() or holder.poll() is not None, timeout=30)
        assert holder.poll() is None, f"the first publish did not stop inside the lock (exit {holder.poll()})"
        started = time.monotonic()
        env.config = config_with(tmp_path, "lock_timeout = 2")
        second = waiting_publish(env)
        took = time.monotonic() - started
    finally:
        resume.touch()
        holder.wait(timeout=120)
    text = second.stdout + second.stderr
    errors = [ln for ln in text.splitlines() if ln.startswith("kronos: error:")]
    assert second.returncode != 0 and "Traceback" not in text, ok(second)
    assert len(errors) == 1 and errors[0] == second.stderr.strip().splitlines()[-1], ok(second)
    assert re.search(rf"waiting for the publish lock \S+/\.lock, held by pid {holder.pid} \(running: ", text), \
        ok(second)
    assert re.fullmatch(rf"kronos: error: the publish lock \S+/\.lock is still held by pid {holder.pid}"
                        r" \(running: .*\); gave up after 2 s \(repository\.lock_timeout, env"
                        r" KRONOS_PUBLISH_LOCK_TIMEOUT\)", errors[0]), errors[0]
    assert 2 <= took < 20, took
    assert holder.returncode == 0, (tmp_path / "holder.log").read_text()
    assert "kt-many0-00" in published(env)


def test_lock_left_by_a_dead_holder_is_named(tmp_path: Path, home: tuple[Path, str], many: rh.Outputs) -> None:
    """The recorded holder is gone but a process it left holds the lock (what forked workers did):
    the error line says so and names who has the lock open; the wait comes from the environment."""
    env = repo_with_base(tmp_path, home, many)
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    dead = int(gone.stdout)
    left = subprocess.Popen(["flock", "-o", str(env.repo / ".lock"), "sleep", "120"], stdin=subprocess.DEVNULL)
    try:
        wait_for("flock to hold the lock", lambda: left.pid in openers(env.repo / ".lock"), timeout=10)
        (env.repo / ".lock.pid").write_text(f"{dead}\n1\n")
        second = waiting_publish(env, KRONOS_PUBLISH_LOCK_TIMEOUT="1")
    finally:
        left.kill()
        left.wait()
    errors = [ln for ln in (second.stdout + second.stderr).splitlines() if ln.startswith("kronos: error:")]
    assert second.returncode != 0 and len(errors) == 1, ok(second)
    assert re.fullmatch(rf"kronos: error: the publish lock \S+/\.lock is still held by pid {dead} \(no longer"
                        rf" running, a process it started may still hold the lock\); \S+/\.lock is open in pid"
                        rf" {left.pid} \(flock .*\); gave up after 1 s .*", errors[0]), errors[0]
    again = rh.publish(["bookworm"], env)  # the holder is gone: the lock is free, the stale pid ignored
    assert again.returncode == 0, ok(again)
    assert not (env.repo / ".lock.pid").exists()


def test_lock_timeout_must_be_seconds(tmp_path: Path, home: tuple[Path, str], many: rh.Outputs) -> None:
    env = rh.Env(tmp_path / "repo", home[0], many.root, keys=home[1])
    proc = subprocess.run(rh.publish_argv(["bookworm"]), cwd=rh.ROOT, text=True, capture_output=True,
                          env={**env.vars(), "KRONOS_PUBLISH_LOCK_TIMEOUT": "soon"}, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode != 0, ok(proc)
    assert proc.stderr.strip().splitlines() == [
        "kronos: error: KRONOS_PUBLISH_LOCK_TIMEOUT: 'soon' is not a number of seconds"], ok(proc)

