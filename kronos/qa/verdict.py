"""Verdicts: what a gate said of one build, kept apart from out/<target>/<recipe>/ (which a rebuild
swaps whole) under out/qa/<target>/<recipe>/<gate>/<gate key>/:

    verdict.json   the verdict (below)
    <gate>.log     the gate's whole output
    ...            the files the gate kept (lintian's tags, piuparts' logs)

A verdict's key is the build's content key plus the gate's own inputs (its tool's version, its policy,
the base it ran on), so an unchanged build is not judged again and a changed policy or tool is. An
error verdict (the gate or the infrastructure failed) is kept for the record but never reused: the
next run tries again. The newest HISTORY verdicts of a gate are kept per recipe and target."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StorageError, corrupt, load_json

VERDICT = "verdict.json"
HISTORY = 10
# part of every verdict's key: bump when a gate judges differently (its classification) or records its
# details in another shape, so that stored verdicts are not reused
FORMAT = 2


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the package's fault
    ERROR = "error"  # the gate or the infrastructure failed: retried, never held against the package
    ARCHIVE_FAILS = "fails in the archive as well"  # fails, and so does the archive's own version


@dataclass(frozen=True)
class Verdict:
    gate: str
    target: str
    recipe: str
    version: str
    build_key: str
    key: str  # the gate key: build_key plus the gate's inputs
    outcome: Outcome
    summary: str  # one line: why it failed, or what passed
    blocking: bool
    started: str  # ISO 8601, UTC
    seconds: float
    log: str  # file name in the verdict's directory
    inputs: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)  # counts, tags, files left behind, ...
    files: tuple[str, ...] = ()
    reused: bool = False  # True when read back from the store rather than made in this run

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("reused")
        data["outcome"] = self.outcome.value
        data["files"] = list(self.files)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        fields = dict(data)
        fields["outcome"] = Outcome(fields["outcome"])
        fields["files"] = tuple(fields.get("files", ()))
        return cls(**fields, reused=True)


class VerdictStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, target: str, recipe: str, gate: str, key: str) -> Path:
        return self.root / target / recipe / gate / key[:24]

    def find(self, target: str, recipe: str, gate: str, key: str) -> Verdict | None:
        """The stored verdict for key, unless it is an error (those are tried again)."""
        path = self.directory(target, recipe, gate, key) / VERDICT
        if not path.exists():
            return None
        fix = f"remove {path.parent} and run kronos qa again"
        data = load_json(path, "the QA verdict", fix)
        try:
            verdict = Verdict.from_json(data)
        except (TypeError, ValueError, KeyError) as e:
            raise corrupt(path, "the QA verdict", str(e), fix) from None
        if verdict.key != key or verdict.outcome is Outcome.ERROR:
            return None
        return verdict

    def latest(self, target: str, recipe: str, gate: str) -> list[Verdict]:
        """The gate's verdicts for recipe on target, newest first (its history)."""
        found = []
        for path in (self.root / target / recipe / gate).glob(f"*/{VERDICT}"):
            try:
                found.append(Verdict.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, TypeError, KeyError):
                continue
        return sorted(found, key=lambda v: v.started, reverse=True)

    def record(self, verdict: Verdict, work: Path) -> Path:
        """Put the verdict and the files in work (its log among them) in place, whole; old ones go."""
        dest = self.directory(verdict.target, verdict.recipe, verdict.gate, verdict.key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            (work / VERDICT).write_text(json.dumps(verdict.to_json(), indent=2, sort_keys=True) + "\n")
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            if dest.exists():
                dest.rename(old)
            os.rename(work, dest)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as e:
            raise StorageError(f"cannot store the {verdict.gate} verdict in {dest}: {e.strerror or e}") from None
        self._prune(dest.parent)
        return dest

    def _prune(self, gate_dir: Path) -> None:
        kept = sorted((d for d in gate_dir.iterdir() if (d / VERDICT).exists()),
                      key=lambda d: (d / VERDICT).stat().st_mtime, reverse=True)
        for old in kept[HISTORY:]:
            shutil.rmtree(old, ignore_errors=True)

    @contextlib.contextmanager
    def workdir(self, target: str) -> Iterator[Path]:
        """A fresh directory for one gate run beside where its verdict goes (one file system); removed
        at the end of the block unless record() moved it into place."""
        parent = self.root / target
        parent.mkdir(parents=True, exist_ok=True)
        d = Path(tempfile.mkdtemp(prefix=".work-", dir=parent))
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)
