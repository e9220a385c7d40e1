"""The lintian gate: the target's own lintian, in a fresh container of the target (no network, as the
unprivileged builder), over the build's .changes (its .debs and .buildinfo) and its .dsc. Every tag is
shown (-I -E --pedantic, the package's own overrides too); our overrides (policy, each with its reason)
are applied to the result, and the package fails when a tag that is not overridden has a severity the
policy fails on."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import owner
from ..engine import ContainerSpec, Engine
from ..errors import KronosError
from ..executor.locks import Once
from ..images import BUILDER_UID, Image
from ..upload.check import lintian_image
from .gate import Finding, Subject
from .policy import GatePolicy
from .verdict import Outcome

SEVERITY = {"E": "error", "W": "warning", "I": "info", "P": "pedantic", "X": "experimental",
            "C": "classification", "O": "overridden", "M": "masked"}
# "E: pkg[ type]: tag[ context]"
_LINE = re.compile(r"^([EWIPXCOM]): (\S+?)(?: (source|binary|udeb|changes|buildinfo))?: (\S+)(?: (.*))?$")
TAGS = "tags.txt"


@dataclass(frozen=True)
class Tag:
    severity: str
    package: str
    tag: str
    context: str
    overridden_by: str = ""  # "ours: <reason>" or "package" (the package's own lintian-overrides)

    def line(self) -> str:
        mark = f" [overridden: {self.overridden_by}]" if self.overridden_by else ""
        return f"{self.severity}: {self.package}: {self.tag} {self.context}".rstrip() + mark


def parse(output: str, policy: GatePolicy) -> list[Tag]:
    """lintian's EWI lines as tags, our overrides applied."""
    tags = []
    for line in output.splitlines():
        m = _LINE.match(line)
        if not m or m.group(1) == "M":
            continue
        letter, package, kind, tag, context = m.groups()
        pkg = f"{package} {kind}" if kind else package
        if letter == "O":
            tags.append(Tag("overridden", pkg, tag, context or "", "package"))
            continue
        severity = SEVERITY[letter]
        reason = policy.reason(tag)
        tags.append(Tag(severity, pkg, tag, context or "", f"ours: {reason}" if reason else ""))
    return tags


def script(files: list[str]) -> str:
    args = " ".join(files)
    return ("set -u\ncd /kronos/lintian\n"
            f"echo '+ lintian -I -E --pedantic --show-overrides --tag-display-limit 0 --fail-on none {args}'\n"
            "exec runuser -u builder -- env HOME=/home/builder lintian -I -E --pedantic --show-overrides"
            f" --tag-display-limit 0 --fail-on none {args}\n")


def _labels(target: str, recipe: str, phase: str) -> tuple[tuple[str, str], ...]:
    found = {"target": target, "recipe": recipe, "phase": phase}
    return tuple((f"{owner.PREFIX}.{k}", v) for k, v in found.items() if v)


class LintianGate:
    name = "lintian"

    def __init__(self, engine: Engine, base: dict[str, Once[Image]]) -> None:
        self.engine = engine
        self.base = base  # target name -> its base image, made once
        self._images: dict[str, Once[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def _image(self, target: str) -> tuple[str, str]:
        """(the lintian image of target, lintian's version in it), made once per run."""
        with self._lock:
            once = self._images.setdefault(target, Once(lambda: self._make_image(target)))
        return once()

    def _make_image(self, target: str) -> tuple[str, str]:
        image = self.base[target]()
        with tempfile.TemporaryDirectory(prefix="kq") as tmp:
            log = Path(tmp) / "lintian-image.log"
            ref = lintian_image(self.engine, image, log)
            if ref is None:
                raise KronosError(f"cannot install lintian in a {target} container:"
                                  f" {log.read_text(errors='replace').strip().splitlines()[-1:]}")
            out = Path(tmp) / "version.log"
            spec = ContainerSpec(image=ref, command=("dpkg-query", "-W", "-f", "${Version}", "lintian"),
                                 network="none", labels=_labels(target, "", "qa-lintian-version"))
            with self.engine.container(spec) as c:
                code = c.run(out)
            version = out.read_text().strip()
            if code != 0 or not version:
                raise KronosError(f"cannot read lintian's version in {ref}: {version or f'exit {code}'}")
        return ref, version

    def inputs(self, subject: Subject) -> dict[str, Any]:
        ref, version = self._image(subject.target.name)
        return {"lintian": version, "image": ref}

    def judge(self, subject: Subject, policy: GatePolicy, work: Path, log: Path) -> Finding:
        ref, _ = self._image(subject.target.name)
        files = subject.named(".changes", ".dsc")
        if not files:
            raise KronosError(f"{subject.directory}: no .changes or .dsc to run lintian on")
        with tempfile.TemporaryDirectory(prefix="kq") as tmp:
            staged = Path(tmp) / "lintian"
            staged.mkdir()
            for f in subject.named(".changes", ".dsc", ".deb", ".udeb", ".buildinfo", ".tar.gz", ".tar.xz",
                                   ".tar.bz2", ".diff.gz", ".asc"):
                shutil.copyfile(f, staged / f.name)
            run_script = Path(tmp) / "lintian.sh"
            run_script.write_text(script([f.name for f in files]))
            spec = ContainerSpec(image=ref, command=("/bin/sh", "/kronos/lintian.sh"), network="none",
                                 labels=_labels(subject.target.name, subject.recipe, "qa-lintian"))
            with self.engine.container(spec) as c:
                c.put(staged, "/kronos", owner=BUILDER_UID)
                c.put(run_script, "/kronos")
                code = c.run(log)
        output = log.read_text(errors="replace")
        if code != 0:
            last = [ln for ln in output.splitlines() if ln.strip()][-1:] or [f"exit {code}"]
            return Finding(Outcome.ERROR, f"lintian did not run to its end (exit {code}): {last[0]}")
        tags = parse(output, policy)
        (work / TAGS).write_text("".join(t.line() + "\n" for t in tags))
        counts = Counter("overridden" if t.overridden_by else t.severity for t in tags)
        failing = [t for t in tags if not t.overridden_by and t.severity in policy.fail_on]
        ours = {t.tag: t.overridden_by.removeprefix("ours: ") for t in tags if t.overridden_by.startswith("ours: ")}
        details = {"counts": dict(sorted(counts.items())), "failing": [t.line() for t in failing],
                   "overridden": dict(sorted(ours.items()))}
        shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no tags"
        if failing:
            first = failing[0]
            more = f" and {len(failing) - 1} more" if len(failing) > 1 else ""
            return Finding(Outcome.FAIL, f"{first.severity} {first.tag} ({first.package}){more}; {shown}",
                           details, (TAGS,))
        override_note = f"; overridden by policy: {', '.join(sorted(ours))}" if ours else ""
        return Finding(Outcome.PASS, f"{shown}{override_note}", details, (TAGS,))
