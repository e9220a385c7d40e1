"""plan.toml -> PlanRules: the data `kronos plan` applies (profiles, the rebuilt-binary model,
known rewrites, transition rules, under-stated build dependencies), validated once at load time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import PkgRelation

from ..errors import ConfigError
from ..tomlcheck import Table, load

FILE = "plan.toml"
DEFAULT_PROFILES = ("nocheck", "nodoc")
_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]+")  # Debian policy 5.6.1; python-debian hands back what it cannot parse


@dataclass(frozen=True)
class Model:
    """How a `--from` suite's binary is modelled as rebuilt on the target."""

    drop: tuple[re.Pattern[str], ...]  # relation names a rebuild regenerates (ABI virtuals, the compiler)
    library_sections: tuple[str, ...]  # shared-library packages: a rebuild's shlibs name the target's
    # a dropped relation becomes the package providing it in the same suite, unless that package is built by
    # one of these sources (the compiler: its packages provide the stdlib's ABI names and ocaml-<version>)
    compiler_sources: tuple[str, ...] = ()
    # relation names a helper (dh_python3, dh_perl, dh-r, ...) generates from the build environment:
    # each becomes the target's one name the same pattern matches
    regenerated: tuple[re.Pattern[str], ...] = ()
    abi_suffixes: tuple[str, ...] = ()  # ABI transitions' package-name suffixes (t64): the same SONAME
    # a binary of these sections: its versioned relations on packages of the same section are its
    # helpers' (maven-debian-helper), written from the build environment
    generated_sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rewrite:
    """Before solving, on `targets`: the build relation `relation` becomes `replace`."""

    targets: tuple[str, ...]
    relation: str  # a relation as written, e.g. "debhelper-compat (= 14)"
    replace: str
    patch: str  # the patch (under patches/) a recipe applies for it; "" when none is known

    def applies(self, target: str) -> bool:
        return not self.targets or target in self.targets


@dataclass(frozen=True)
class Transition:
    """Sources the target built with an old `tool` must be rebuilt when a member installs one of
    their binaries matching `consumers` and the closure brings a `tool` version matching `brings`."""

    name: str
    tool: str  # a binary package (and source) name, e.g. ocaml-dune
    built_with: str  # the target's tool version that makes a source stale, e.g. "<< 3"
    brings: str  # the closure's tool version that triggers the rule, e.g. ">= 3"
    consumers: re.Pattern[str]  # binary names (of the target) whose installation triggers it
    patch: str = ""


@dataclass(frozen=True)
class Understated:
    """A build dependency the source's Build-Depends under-state (e.g. its dune-project asks more)."""

    source: str
    add: str  # relations added to Build-Depends


@dataclass(frozen=True)
class PlanRules:
    profiles: tuple[str, ...]
    source_profiles: dict[str, tuple[str, ...]]
    model: Model
    rewrites: tuple[Rewrite, ...]
    transitions: tuple[Transition, ...]
    understated: tuple[Understated, ...]

    def profiles_for(self, source: str, run_profiles: tuple[str, ...] | None) -> tuple[str, ...]:
        if source in self.source_profiles:
            return self.source_profiles[source]
        return self.profiles if run_profiles is None else run_profiles


def _relation(t: Table, key: str, text: str) -> str:
    try:
        parsed = PkgRelation.parse_relations(text)
    except Exception:  # python-debian raises plain errors on malformed text
        parsed = []
    names = [rel.get("name", "") for group in parsed for rel in group]
    if not parsed or not all(parsed) or not all(_NAME.fullmatch(n) for n in names):
        raise ConfigError(f"{t.at(key)}: '{text}' is not a relation")
    return text


def _pattern(t: Table, key: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise ConfigError(f"{t.at(key)}: '{text}' is not a regular expression ({e})") from None


def _version_op(t: Table, key: str) -> str:
    text: str = t.text(key, required=True)
    parts = text.split()
    if len(parts) != 2 or parts[0] not in ("<<", "<=", "=", ">=", ">>"):
        raise ConfigError(f"{t.at(key)}: '{text}' is not an operator and a version, e.g. '>= 3'")
    return text


def _list(top: Table, key: str) -> list[Table]:
    top.seen.add(key)
    items = top.data.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(f"{top.at(key)}: expected an array of tables ([[plan.{key}]])")
    return [Table(item, top.file, f"{top.path}.{key}[{i}]") for i, item in enumerate(items)]


def load_rules(root: Path) -> PlanRules:
    path = root / FILE
    data = load(path) if path.exists() else {}
    top = Table(data, str(path))
    plan = top.sub("plan")
    profiles = plan.strings("profiles", DEFAULT_PROFILES)
    per_source = plan.sub("sources")
    source_profiles = {}
    for name in per_source.data:
        s = per_source.sub(name)
        source_profiles[name] = s.strings("profiles")
        s.done()
    per_source.done()
    m = plan.sub("model")
    model = Model(tuple(_pattern(m, "drop", p) for p in m.strings("drop")), m.strings("library_sections"),
                  m.strings("compiler_sources"), tuple(_pattern(m, "regenerated", p) for p in m.strings("regenerated")),
                  m.strings("abi_suffixes"), m.strings("generated_sections"))
    m.done()
    rewrites = []
    for t in _list(plan, "rewrites"):
        rewrites.append(Rewrite(t.strings("targets"), _relation(t, "relation", t.text("relation", required=True)),
                                _relation(t, "replace", t.text("replace", required=True)), t.text("patch", "")))
        t.done()
    transitions = []
    for t in _list(plan, "transitions"):
        transitions.append(Transition(t.text("name", required=True), t.text("tool", required=True),
                                      _version_op(t, "built_with"), _version_op(t, "brings"),
                                      _pattern(t, "consumers", t.text("consumers", required=True)),
                                      t.text("patch", "")))
        t.done()
    understated = []
    for t in _list(plan, "understated"):
        understated.append(Understated(t.text("source", required=True),
                                       _relation(t, "add", t.text("add", required=True))))
        t.done()
    plan.done()
    top.done()
    return PlanRules(profiles, source_profiles, model, tuple(rewrites), tuple(transitions), tuple(understated))
