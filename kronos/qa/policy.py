"""The QA policy (kronos.toml [qa]): which gates block promotion, what each gate fails on, and our own
overrides, each with its reason; per target ([qa.targets.T]) and per recipe ([qa.recipes.R]).

    [qa]
    blocking = ["lintian", "piuparts", "autopkgtest"]
    [qa.lintian]
    fail_on = ["error"]                      # lintian severities that fail the package
    [qa.lintian.overrides]
    bogus-mail-host = "the reason"           # tag = reason; `tag = false` drops an inherited one
    [qa.piuparts]
    fail_on = ["install-purge", "upgrade"]   # which piuparts tests fail the package
    [qa.piuparts.overrides]
    "/var/cache/debconf/tmp.ci/" = "why"     # a path piuparts ignores (--ignore), with its reason
    [qa.autopkgtest]
    fail_on = ["fail", "erroneous"]
    max_seconds = 14400                      # one autopkgtest run's bound
    [qa.repro]
    fail_on = ["unreproducible", "failed-to-build"]
    max_seconds = 14400                      # the second build's bound
    [qa.recipes.xen.lintian.overrides]
    some-tag = "why xen may have it"

Layers merge in that order (built-in defaults, [qa], the target's, the recipe's): tables merge key by
key (so an override added by a layer keeps the inherited ones), other values replace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..tomlcheck import Table

LINTIAN_SEVERITIES = ("error", "warning", "info", "pedantic", "experimental", "classification")
PIUPARTS_TESTS = ("install-purge", "upgrade")
REPRO_VERDICTS = ("unreproducible", "failed-to-build")
AUTOPKGTEST_RESULTS = ("fail", "erroneous")  # a test that failed; a package whose tests cannot run (exit 12)
# each gate: the values its fail_on takes, and whether it has overrides
GATES: dict[str, tuple[tuple[str, ...], bool]] = {
    "lintian": (LINTIAN_SEVERITIES, True),
    "piuparts": (PIUPARTS_TESTS, True),
    "autopkgtest": (AUTOPKGTEST_RESULTS, False),
    "repro": (REPRO_VERDICTS, False),
}
TIMED = ("autopkgtest", "repro")  # gates bounded by their max_seconds
MAX_SECONDS = 14400  # max_seconds unless set


@dataclass(frozen=True)
class GatePolicy:
    gate: str
    blocking: bool
    fail_on: tuple[str, ...]
    overrides: tuple[tuple[str, str], ...] = ()  # (lintian tag or piuparts path, reason), sorted
    max_seconds: int = MAX_SECONDS  # autopkgtest and repro: the bound of one run

    def reason(self, tag: str) -> str | None:
        """Our override's reason for tag, or None."""
        return dict(self.overrides).get(tag)

    def key(self) -> dict[str, Any]:
        """What of the policy a verdict depends on (part of the gate's key)."""
        key: dict[str, Any] = {"fail_on": sorted(self.fail_on), "overrides": [list(o) for o in self.overrides]}
        if self.gate in TIMED:
            key["max_seconds"] = self.max_seconds
        return key


def _layer(t: Table) -> dict[str, Any]:
    """One layer ([qa], [qa.targets.T] or [qa.recipes.R]) checked: only what it sets."""
    out: dict[str, Any] = {}
    if "blocking" in t.data:
        blocking = t.strings("blocking")
        for name in blocking:
            if name not in GATES:
                raise ConfigError(f"{t.at('blocking')}: unknown gate '{name}' (gates: {', '.join(GATES)})")
        out["blocking"] = blocking
    for gate, (values, has_overrides) in GATES.items():
        g = t.sub(gate)
        if not g.data:
            continue
        layer: dict[str, Any] = {}
        if "fail_on" in g.data:
            fail_on = g.strings("fail_on")
            for value in fail_on:
                if value not in values:
                    raise ConfigError(f"{g.at('fail_on')}: '{value}' is not one of {', '.join(values)}")
            layer["fail_on"] = fail_on
        if gate in TIMED and "max_seconds" in g.data:
            seconds = g.data["max_seconds"]
            if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
                raise ConfigError(f"{g.at('max_seconds')}: seconds, a positive integer (got {seconds!r})")
            layer["max_seconds"] = seconds
            g.seen.add("max_seconds")
        if has_overrides and "overrides" in g.data:
            o = g.sub("overrides")
            for tag, reason in o.data.items():
                if reason is False:
                    continue
                if not isinstance(reason, str) or not reason.strip():
                    raise ConfigError(f"{o.at(tag)}: an override needs its reason (a non-empty string),"
                                      " or false to drop an inherited one")
            layer["overrides"] = dict(o.data)
            o.seen.update(o.data)
        g.done()
        out[gate] = layer
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Policy:
    base: Mapping[str, Any]
    targets: Mapping[str, Mapping[str, Any]]
    recipes: Mapping[str, Mapping[str, Any]]

    def gate(self, gate: str, target: str, recipe: str) -> GatePolicy:
        """The effective policy of gate for recipe on target."""
        merged = _merge(_merge(self.base, self.targets.get(target, {})), self.recipes.get(recipe, {}))
        g = merged.get(gate, {})
        overrides = tuple(sorted((tag, reason) for tag, reason in g.get("overrides", {}).items()
                                 if isinstance(reason, str)))
        fail_on = tuple(g.get("fail_on", GATES[gate][0][:1]))
        return GatePolicy(gate, gate in merged.get("blocking", ()), fail_on, overrides,
                          int(g.get("max_seconds", MAX_SECONDS)))


def load_policy(t: Table, targets: Mapping[str, Any]) -> Policy:
    """[qa] of the merged configuration (t), checked."""
    tt, rt = t.sub("targets"), t.sub("recipes")
    per_target = {}
    for name in tt.data:
        if name not in targets:
            raise ConfigError(f"{tt.where}: unknown target '{name}'")
        sub = tt.sub(name)
        per_target[name] = _layer(sub)
        sub.done()
    per_recipe = {}
    for name in rt.data:
        sub = rt.sub(name)
        per_recipe[name] = _layer(sub)
        sub.done()
    tt.done()
    rt.done()
    base = _layer(t)
    t.done()
    return Policy(base, per_target, per_recipe)
