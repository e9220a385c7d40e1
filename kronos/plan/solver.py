"""libsolv, through Debian's python3-solv: kronos.plan.solver_worker run by Debian's own interpreter.

Debian's python3-* packages import only into /usr/bin/python3, while kronos runs from a venv made from
whichever python3 comes first on PATH; so the solver is a separate process speaking JSON (one request
on stdin, one answer on stdout), run through kronos.run like every other command.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CommandError, KronosError
from ..run import run
from .model import pseudo_stanza

WORKER = Path(__file__).with_name("solver_worker.py")
PYTHON = Path(os.environ.get("KRONOS_SOLVER_PYTHON", "/usr/bin/python3"))
INSTALL = "install Debian's python3 and python3-solv (`make host` does: apt-get install python3-solv)"


class SolverError(KronosError):
    """The solver cannot run (a missing interpreter or module) or answered nonsense."""


@dataclass(frozen=True)
class Repo:
    name: str
    files: tuple[Path, ...]
    priority: int
    solv: Path | None = None  # libsolv's own cache of the parsed files


Package = tuple[str, str, str]  # (repo, package, version)


@dataclass(frozen=True)
class Why:
    """Why the solver installed a package: which relation of which installed package required it."""

    package: Package
    by: Package | None  # None: the problem's own relation (a build relation, a wanted name)
    field: str  # "Depends" or "Pre-Depends" of `by`; "" for the problem's own
    relation: str  # as libsolv read it, in Debian's syntax: "libfoo-dev (>= 1) | libbar-dev"
    decided: bool = True  # False: no rule of the decision named a requirer; found in what was installed


@dataclass(frozen=True)
class Solution:
    ok: bool
    installed: tuple[tuple[str, str, str, str], ...]  # (repo, package, version, source)
    problems: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    why: tuple[Why, ...] = ()  # one per installed package, from the solver's decisions

    @functools.cached_property
    def reasons(self) -> dict[Package, Why]:
        return {w.package: w for w in self.why}


@dataclass
class Problems:
    """Pseudo packages (one per build or wanted name) written for one solver run."""

    directory: Path
    files: dict[str, Path] = field(default_factory=dict)

    def add(self, pid: str, arch: str, depends: str, conflicts: str = "") -> None:
        path = self.directory / f"p{len(self.files)}"
        path.write_text(pseudo_stanza(f"kronos-problem-{len(self.files)}", arch, depends, conflicts))
        self.files[pid] = path


@contextlib.contextmanager
def problems_dir() -> Iterator[Problems]:
    with tempfile.TemporaryDirectory(prefix="kronos-plan-") as tmp:
        yield Problems(Path(tmp))


def _why(w: Sequence[Any]) -> Why:
    repo, package, version, by, fld, relation, decided = w
    return Why((repo, package, version), (by[0], by[1], by[2]) if by else None, fld, relation, bool(decided))


def _solution(doc: Mapping[str, Any]) -> Solution:
    return Solution(bool(doc["ok"]), tuple((i[0], i[1], i[2], i[3]) for i in doc["installed"]),
                    tuple(doc["problems"]), tuple(doc["missing"]), tuple(_why(w) for w in doc.get("why", ())))


def call(request: dict[str, Any]) -> dict[str, Any]:
    if not PYTHON.exists():
        raise SolverError(f"{PYTHON} not found: {INSTALL}")
    try:
        proc = run([PYTHON, WORKER], input=json.dumps(request).encode(), merge_stderr=False)
    except CommandError as e:
        if e.returncode == 3:
            raise SolverError(f"{PYTHON} cannot import solv: {INSTALL}") from None
        last = (e.output.strip().splitlines() or ["no output"])[-1]
        raise SolverError(f"the solver failed (exit {e.returncode}): {last}") from None
    try:
        answer: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        raise SolverError("the solver answered something that is not JSON") from None
    return answer


def _request(arch: str, repos: Sequence[Repo], problems: Problems, task: str) -> dict[str, Any]:
    return {"arch": arch, "task": task,
            "repos": [{"name": r.name, "files": [str(f) for f in r.files], "priority": r.priority,
                       "solv": str(r.solv) if r.solv else None} for r in repos],
            "problems": [{"id": pid, "file": str(path)} for pid, path in problems.files.items()]}


def solve(arch: str, repos: Sequence[Repo], problems: Problems,
          exclude: Sequence[tuple[str, str]] = ()) -> dict[str, Solution]:
    """Each problem alone, with every repo's packages considered but the excluded (repo, source)s'."""
    request = _request(arch, repos, problems, "solve")
    request["exclude"] = [list(pair) for pair in exclude]
    answer = call(request)
    return {pid: _solution(doc) for pid, doc in answer["solutions"].items()}


@dataclass(frozen=True)
class Candidate:
    """A set member the minimization may drop (unless fixed); problem: its own build's id."""

    key: str
    repo: str
    source: str
    fixed: bool
    problem: str | None


def minimize(arch: str, repos: Sequence[Repo], problems: Problems, base: Sequence[str],
             members: Sequence[Candidate]) -> tuple[list[str], dict[str, Solution]]:
    """Drop members, in the order given, while every remaining problem still solves from the base
    repos and the binaries of the members kept; the kept keys and each problem's solution."""
    request = _request(arch, repos, problems, "minimize")
    request["base"] = list(base)
    request["members"] = [{"key": m.key, "repo": m.repo, "source": m.source, "fixed": m.fixed,
                           "problem": m.problem} for m in members]
    answer = call(request)
    return list(answer["kept"]), {pid: _solution(doc) for pid, doc in answer["solutions"].items()}
