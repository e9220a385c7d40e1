"""What both benchmarks share: paths, the error type, progress lines, timed commands, tool set-up."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent  # the repository
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BenchError(Exception):
    """A failure that stops the benchmark; printed as `<prog>: error: <message>`, exit status 1."""


def log(msg: str) -> None:
    """A progress line (stderr; the results go to stdout)."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def fmt_s(x: float) -> str:
    return f"{x:.1f}s"


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def timed(argv: list[str], logf: Path, *, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> tuple[float, int]:
    """Run argv with stdin closed and stdout+stderr into logf: (wall-clock seconds, exit status)."""
    with logf.open("wb") as out:
        start = time.perf_counter()
        rc = subprocess.run(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
        return time.perf_counter() - start, rc


def ensure_commands(need: Mapping[str, str]) -> None:
    """Install (apt-get) the package of each command in `need` (command -> package) not on PATH."""
    missing = sorted({pkg for exe, pkg in need.items() if shutil.which(exe, path=PATH) is None})
    if not missing:
        return
    log(f"installing {' '.join(missing)} ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def kronos_executable() -> str:
    """The `kronos` next to this python (the venv's), else the repository's venv, else PATH's."""
    for cand in (Path(sys.executable).parent / "kronos", ROOT / ".venv" / "bin" / "kronos"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which("kronos")
    if found:
        return found
    raise BenchError("no kronos executable: run with the venv's python (.venv/bin/python -m bench.NAME)"
                     " or put kronos on PATH (make venv)")


def run_main(prog: str, main: Callable[[], int]) -> NoReturn:
    """Exit with main()'s status; a BenchError or a failed command is one `prog: error:` message."""
    try:
        code = main()
    except BenchError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        code = 1
    except subprocess.CalledProcessError as e:
        cmd = shlex.join(map(str, e.cmd)) if isinstance(e.cmd, list | tuple) else str(e.cmd)
        print(f"{prog}: error: {cmd} failed (exit {e.returncode})", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
