"""What an upload for a target takes: our recipes' build outputs, as the repository serves them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Dsc

from ..config import Settings, Target
from ..errors import KronosError
from ..packaging import versions
from ..recipe import DebianSource, Recipe, load_recipes
from ..records import BUILD_RECORD, read_build_record


class UploadError(KronosError):
    """An upload that cannot be made, or that the archive would refuse."""


@dataclass(frozen=True)
class Candidate:
    """One source package to upload: a recipe's build output for the target."""

    recipe: str
    source: str
    version: str
    dsc: Path
    orig_in_archive: bool = False  # a rebuild of the target's own source: the upload leaves the orig out

    @property
    def name(self) -> str:
        return f"{self.source}_{self.version}"


def require_upload_target(allowed: tuple[str, ...], target: str) -> None:
    if target not in allowed:
        raise UploadError(
            f"'{target}' is not an upload target (allowed: {', '.join(allowed) or 'none'};"
            " repo/repository.toml [upload] targets)"
        )


def orig_in_archive(recipe: Recipe, target: Target) -> bool:
    """Whether the recipe rebuilds the target's own archive source, whose .orig the archive has."""
    src = recipe.source_for(target.name)
    return isinstance(src, DebianSource) and versions.from_own_suite(src.archive, src.suite, target)


def uploadable(recipe: Recipe, target: Target) -> bool:
    """Recipes whose debian/ we author, and rebuilds of the target's own archive source (noble's xen,
    for a PPA); backports of other suites' sources are never uploaded."""
    if isinstance(recipe.source_for(target.name), DebianSource):
        return orig_in_archive(recipe, target)
    return recipe.packaging is not None


def candidate(out: Path, recipe: str, in_archive: bool = False) -> Candidate | None:
    """The build output of recipe in out (out/<target>/<recipe>/), or None when there is none."""
    record = out / recipe / BUILD_RECORD
    if not record.exists():
        return None
    data = read_build_record(record)
    files = [str(f) for f in data.get("files", [])]
    dscs = [f for f in files if f.endswith(".dsc")]
    if len(dscs) != 1:
        raise UploadError(f"{record}: the build output has {len(dscs)} .dsc files, not one; rebuild it")
    dsc = record.parent / dscs[0]
    if not dsc.exists():
        raise UploadError(f"build output {dsc} is missing (listed in {record}); rebuild it")
    with dsc.open() as f:
        d = Dsc(f)
    source, version = str(data["source"]), str(data["version"])
    if d["Source"] != source or d["Version"] != version:
        raise UploadError(f"{dsc} is {d['Source']} {d['Version']}, but {record} says {source} {version}")
    return Candidate(recipe, source, version, dsc, in_archive)


def candidates(settings: Settings, target: Target) -> list[Candidate]:
    """Our recipes for target that have build outputs, by recipe name."""
    recipes = [r for r in load_recipes(settings).values() if target.name in r.targets and uploadable(r, target)]
    if not recipes:
        raise UploadError(f"nothing to upload for {target.name}: none of our recipes targets it")
    out = settings.output_dir / target.name
    found = [c for c in (candidate(out, r.name, orig_in_archive(r, target)) for r in recipes) if c is not None]
    if not found:
        names = ", ".join(r.name for r in recipes)
        raise UploadError(
            f"nothing to upload for {target.name}: no build output of {names} in {out}"
            f" (kronos build --target {target.name})"
        )
    return found


def require_published(cands: Iterable[Candidate], served: Iterable[tuple[str, str, str]], target: str) -> None:
    """Each candidate's source version must be what the repository serves for the target's suite."""
    sources = {(name, version) for name, version, arch in served if arch == "source"}
    for c in cands:
        if (c.source, c.version) in sources:
            continue
        others = sorted(v for n, v in sources if n == c.source)
        serves = f"it serves {', '.join(others)}" if others else "it does not serve it"
        raise UploadError(
            f"publish first: {c.source} {c.version} ({target}) is not in the published repository"
            f" ({serves}); run kronos publish --target {target}"
        )
