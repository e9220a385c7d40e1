"""The one subprocess wrapper: argv lists, logged as `+ argv`, minimal environment."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import interrupt
from .errors import CommandError
from .log import indent, log

_KEEP = ("PATH", "HOME", "TMPDIR", "GNUPGHOME", "http_proxy", "https_proxy", "no_proxy")


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEEP}
    env["LANG"] = "C.UTF-8"
    env["LC_ALL"] = "C.UTF-8"
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
    merge_stderr: bool = True,
    stop_signal: int = signal.SIGTERM,
    stop_grace: float = interrupt.GRACE,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv, capturing output; raise CommandError on failure when check is set. A stop sends it
    stop_signal (SIGINT for a program that cleans up only on KeyboardInterrupt, as piuparts does),
    then SIGKILL after stop_grace seconds."""
    args = [os.fspath(a) for a in argv]
    log.info("%s+ %s", indent(), shlex.join(args))
    try:
        child = subprocess.Popen(
            args,
            cwd=cwd,
            env=base_env(env),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        )
    except FileNotFoundError as e:
        missing = args[0] if cwd is None or cwd.exists() else str(cwd)
        raise CommandError(args, 127, f"{missing}: not found ({e.strerror})") from None
    # a stop sends it SIGTERM; one started after the stop (a cleanup's gpgconf --kill) is left to end
    with child, interrupt.stoppable(lambda: _stop(child, stop_grace, stop_signal), late=False):
        stdout, stderr = child.communicate(input)
    proc = subprocess.CompletedProcess(args, child.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        output = proc.stdout + (proc.stderr or b"")
        raise CommandError(args, proc.returncode, output.decode(errors="replace"))
    return proc


def interactive(argv: Sequence[str | os.PathLike[str]]) -> int:
    """Run argv with the caller's stdin, stdout and stderr (a shell for the user; logged as `+ argv`);
    return its exit code, whatever it is."""
    args = [os.fspath(a) for a in argv]
    log.info("%s+ %s", indent(), shlex.join(args))
    try:
        return subprocess.run(args, env=base_env(), check=False).returncode
    except FileNotFoundError as e:
        raise CommandError(args, 127, f"{args[0]}: not found ({e.strerror})") from None


def die_with_parent(argv: Sequence[str | os.PathLike[str]], sig: str = "KILL") -> list[str]:
    """argv wrapped so that the kernel sends it sig (SIGKILL; INT for a program that cleans up on it)
    when the process that started it dies, even by SIGKILL: util-linux's setpriv sets PR_SET_PDEATHSIG,
    then execs argv (no preexec_fn in a threaded program). The signal follows the *thread* that spawned
    it: spawn from a thread that outlives the child (run() blocks its thread until the child ends)."""
    return ["setpriv", "--pdeathsig", sig, "--", *(os.fspath(a) for a in argv)]


@contextlib.contextmanager
def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    output: Path,
    env: Mapping[str, str] | None = None,
    stop_timeout: float = 10.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start argv in the background (logged as `+ argv`; stdin /dev/null, stdout and stderr appended to
    output) for the block; leaving it stops the process: SIGTERM, SIGKILL after stop_timeout, reaped."""
    args = [os.fspath(a) for a in argv]
    log.info("%s+ %s", indent(), shlex.join(args))
    with output.open("ab") as out:
        try:
            proc = subprocess.Popen(args, env=base_env(env), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        except FileNotFoundError as e:
            raise CommandError(args, 127, f"{args[0]}: not found ({e.strerror})") from None
    try:
        with interrupt.stoppable(lambda: _stop(proc, stop_timeout), late=False):
            yield proc
    finally:
        _stop(proc, stop_timeout)


_adopted: dict[int, tuple[subprocess.Popen[bytes], contextlib.ExitStack]] = {}
_adopted_lock = threading.Lock()


def adopt(proc: subprocess.Popen[bytes]) -> None:
    """A child started by a library (python-gnupg's gpg), not by run(): logged as `+ argv`, and sent
    SIGTERM (SIGKILL after the grace) by a stop while it runs. The library still waits for it."""
    args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    log.info("%s+ %s", indent(), shlex.join(os.fspath(a) for a in args))
    with _adopted_lock:
        for pid, (old, hold) in list(_adopted.items()):  # forget the ended ones
            if old.poll() is not None:
                hold.close()
                del _adopted[pid]
        hold = contextlib.ExitStack()
        hold.enter_context(interrupt.stoppable(lambda: _stop(proc, interrupt.GRACE), late=False))
        _adopted[proc.pid] = (proc, hold)


def _stop(proc: subprocess.Popen[bytes], grace: float, sig: int = signal.SIGTERM) -> None:
    """sig (SIGTERM), SIGKILL after grace seconds, reaped."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
