"""`kronos plan`: the indices through the signed chain, the rules of plan.toml, the closure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..archive.access import Archives
from ..cache import Cache
from ..config import Settings
from ..errors import ConfigError
from . import recipes
from .closure import Closure, compute
from .indices import load_indices
from .ours import recipes_packages
from .rules import load_rules


def plan(settings: Settings, target_name: str, from_suites: Sequence[str], names: Sequence[str],
         profiles: Sequence[str] | None = None, write_recipes: Path | None = None,
         with_recipes: bool = False) -> tuple[Closure, list[str]]:
    """The closure, and the recipes written to write_recipes (the reachable members) when given."""
    if not target_name:
        raise ConfigError("plan: name the target to backport to with --target T")
    target = settings.target(target_name)
    if not from_suites:
        raise ConfigError("plan: name the suites to backport from with --from SUITE[,SUITE...]")
    if not names:
        raise ConfigError("plan: name at least one source or binary package (e.g. 'ocaml-dune (>= 3.20)')")
    rules = load_rules(settings.root)
    cache = Cache(settings.cache_dir)
    archives = Archives(settings, cache)
    ours = recipes_packages(settings, cache, archives, target) if with_recipes else None
    idx = load_indices(settings, archives, target, from_suites, rules.model, ours)
    run_profiles = tuple(profiles) if profiles is not None else None
    closure = compute(idx, rules, names, run_profiles)
    written = []
    if write_recipes is not None:
        written = recipes.write_recipes(settings, archives, closure, rules, run_profiles, write_recipes)
    return closure, written
