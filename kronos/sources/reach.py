"""`kronos recipes --check`: whether each recipe's upstream can be fetched now, before a build
needs it. A git source: its commit (and the submodules it follows) fetched into the mirror the
build uses; a url source: an HTTP HEAD of its tarball (or the tarball already in the cache). The
archive's sources are `kronos targets --check`'s (the signed chain) and `kronos plan`'s."""

from __future__ import annotations

from ..cache import Cache
from ..recipe import GitSource, Recipe, UrlSource
from . import git, url


def check(recipe: Recipe, cache: Cache) -> str | None:
    """"" when recipe's upstreams ([source] and each target's own) can be fetched, the one line why not
    (the first that cannot), None for a kind not checked here."""
    found: str | None = None
    for src in (recipe.source, *recipe.target_sources.values()):
        if isinstance(src, GitSource):
            found = git.reachable(cache, git.remote(src.url, recipe.path), src.commit, src.submodules == "follow",
                                  recipe.name)
        elif isinstance(src, UrlSource):
            found = url.reachable(cache, src.url, src.sha256)
        if found:
            return found
    return found
