"""Per-target patch series: patches/<recipe>/{common,<family>,<target>}/series, in that order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PatchError
from ..run import run


@dataclass(frozen=True)
class Patch:
    layer: str
    path: Path
    strip: int


def layers(family: str, target: str) -> tuple[str, ...]:
    return ("common", family, target) if family != target else ("common", family)


def series(patches_dir: Path, recipe: str, family: str, target: str) -> list[Patch]:
    """The patches that apply to recipe on target; a series naming a missing file is an error."""
    out = []
    for layer in layers(family, target):
        d = patches_dir / recipe / layer
        file = d / "series"
        if not file.exists():
            continue
        for lineno, raw in enumerate(file.read_text().splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            strip = 1
            if len(parts) > 1:
                m = re.fullmatch(r"-p(\d)", parts[1])
                if not m:
                    raise PatchError(f"{file}:{lineno}: unknown option '{parts[1]}'")
                strip = int(m.group(1))
            path = d / parts[0]
            if not path.is_file():
                raise PatchError(f"{file}:{lineno}: patch {parts[0]} does not exist ({recipe}, {target})")
            out.append(Patch(layer, path, strip))
    return out


def _rejected_hunk(output: str) -> str:
    current = ""
    for line in output.splitlines():
        if line.startswith("checking file "):
            current = line[len("checking file "):].strip()
        if "FAILED" in line or "malformed" in line or "can't find file" in line or "Only garbage" in line:
            return f"{current}: {line.strip()}" if current else line.strip()
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else "patch failed"


def apply(tree: Path, patches: list[Patch], recipe: str, target: str) -> None:
    """Apply each patch with a dry run first, so a failing patch leaves the tree as it was."""
    for p in patches:
        argv = ["patch", f"-p{p.strip}", "--batch", "--forward", "--no-backup-if-mismatch",
                "-r", "-", "-i", str(p.path), "-d", str(tree)]
        dry = run([*argv, "--dry-run"], check=False)
        if dry.returncode != 0:
            hunk = _rejected_hunk(dry.stdout.decode(errors="replace"))
            raise PatchError(f"recipe {recipe}, target {target}: patch {p.path} does not apply: {hunk}")
        run(argv)


def touched(patch: Patch) -> set[str]:
    """The files a patch changes, as paths in the tree (after stripping -pN)."""
    out = set()
    for line in patch.path.read_text(errors="replace").splitlines():
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0].strip()
            parts = name.split("/")[patch.strip:]
            if parts and name != "/dev/null":
                out.add("/".join(parts))
    return out
