"""`kronos plan --with-recipes`: the binaries the project's recipes build for the target (as the
graph knows them before building: kronos.graph.metadata), offered to every build like the
target's own, so that nothing they provide becomes a member."""

from __future__ import annotations

from pathlib import Path

from debian.deb822 import Packages

from ..archive.access import Archives
from ..cache import Cache, atomic_path
from ..config import Settings, Target
from ..graph import relations
from ..graph.metadata import MetadataReader
from ..keys import content_key
from ..recipe import load_recipes


def recipes_packages(settings: Settings, cache: Cache, archives: Archives, target: Target) -> Path | None:
    """A Packages file of the recipes' binaries for target (None: no recipe builds for it)."""
    reader = MetadataReader(settings, cache, archives)
    stanzas = []
    for recipe in load_recipes(settings).values():
        if target.name not in recipe.targets:
            continue
        meta = reader.meta(recipe, target)
        for b in meta.binaries:
            if not relations.builds_on(b, settings.architecture):
                continue
            fields = {"Package": b.package, "Source": meta.source, "Version": b.version,
                      "Architecture": "all" if b.architecture.split() == ["all"] else settings.architecture,
                      "Provides": b.provides, "Pre-Depends": b.pre_depends, "Depends": b.depends}
            stanzas.append(Packages({k: v for k, v in fields.items() if v}).dump())
    if not stanzas:
        return None
    text = "\n".join(stanzas)
    out = cache.root / "plan" / f"{content_key(['recipes', target.name, text])}.Packages"
    if not out.exists():
        with atomic_path(out, sync=False) as tmp:
            tmp.write_text(text)
    return out
