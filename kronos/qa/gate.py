"""What every gate works on and gives back: a Subject (one build in out/) in, a Finding out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..config import Target
from ..records import BUILD_RECORD, read_build_record
from .policy import GatePolicy
from .verdict import Outcome


@dataclass(frozen=True)
class Subject:
    """One build to judge: out/<target>/<recipe>/ and its build.json."""

    target: Target
    recipe: str
    directory: Path
    version: str
    key: str  # the build's content key
    source: str
    files: tuple[str, ...]
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # its build.json

    @classmethod
    def read(cls, target: Target, directory: Path) -> Subject:
        record = read_build_record(directory / BUILD_RECORD)
        return cls(target, directory.name, directory, str(record.get("version", "")), str(record.get("key", "")),
                   str(record.get("source", directory.name)), tuple(record["files"]), record)

    def named(self, *suffixes: str) -> list[Path]:
        return [self.directory / f for f in self.files if f.endswith(suffixes)]

    @property
    def debs(self) -> list[Path]:
        return self.named(".deb", ".udeb")

    @property
    def label(self) -> str:
        return f"{self.target.name}/{self.recipe} {self.version}"


@dataclass(frozen=True)
class Finding:
    """A gate's judgement before it is stored: outcome, one line, details, and the files it made in
    its work directory (the log first)."""

    outcome: Outcome
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()


class Gate(Protocol):
    name: str

    def inputs(self, subject: Subject) -> dict[str, Any]:
        """The gate's own inputs for subject besides the build and the policy: its tool's version, the
        base it runs on, ... (preparing what they name: an image, a tarball). Raises KronosError when
        that cannot be made: the verdict is then an error."""

    def judge(self, subject: Subject, policy: GatePolicy, work: Path, log: Path) -> Finding:
        """Run the gate on subject; its output goes to log, its other files into work."""
