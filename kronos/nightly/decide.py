"""What a night promotes: each package's state from its build, its gates' verdicts and its target's
smoke, and whether the served suite takes it. Pure: no engine, no files.

A package is promoted only when it built (or was up to date) and no blocking gate failed or could not
judge it; a package built against one that is held back is held back too (it needs that exact
version); when a target's smoke fails, each package dom0 installs that changed since the last green
smoke is held back. What is not promoted keeps the version the served suite has ("last known good")."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace


class State(enum.StrEnum):
    BUILT = "built"
    UP_TO_DATE = "up to date"
    FAILED = "failed"
    SKIPPED = "skipped because a dependency failed"
    HELD_GATE = "held back by a gate"
    HELD_GATE_ERROR = "held back: a gate could not judge it"
    HELD_SIBLING = "held back: built against a held-back package"
    HELD_SMOKE = "held back by smoke"
    HELD_INSTALL = "held back: not installable in the suite it would make"
    STOPPED = "stopped"


PROMOTABLE = (State.BUILT, State.UP_TO_DATE)


class Failure(enum.StrEnum):
    """Whose failure it was: the package's (never retried), the infrastructure's (retried a bounded
    number of times), or flaky (failed, then passed when retried: shown, not hidden)."""

    PACKAGE = "package"
    INFRASTRUCTURE = "infrastructure"
    FLAKY = "flaky"


@dataclass(frozen=True)
class GateResult:
    gate: str
    outcome: str  # qa.verdict.Outcome's value
    blocking: bool
    summary: str = ""


@dataclass(frozen=True)
class Package:
    target: str
    recipe: str
    build: str  # the build's state: built, up to date, failed, skipped, stopped
    version: str  # what out/ holds after the night ("" when never built)
    siblings: Mapping[str, str] = field(default_factory=dict)  # recipe -> version it was built against
    binaries: tuple[str, ...] = ()
    gates: tuple[GateResult, ...] = ()
    failure: Failure | None = None


@dataclass(frozen=True)
class Decision:
    package: Package
    state: State
    why: str = ""  # held back or failed: the one line that says why

    @property
    def promoted(self) -> bool:
        return self.state in PROMOTABLE


def _gates(p: Package) -> tuple[State, str] | None:
    failed = [g for g in p.gates if g.blocking and g.outcome == "fail"]
    if failed:
        return State.HELD_GATE, "; ".join(f"{g.gate}: {g.summary}" for g in failed)
    errors = [g for g in p.gates if g.blocking and g.outcome == "error"]
    if errors:
        return State.HELD_GATE_ERROR, "; ".join(f"{g.gate}: {g.summary}" for g in errors)
    return None


def decide(packages: Sequence[Package], smoke_failed: Mapping[str, str] | None = None,
           smoke_changed: Mapping[str, set[str]] | None = None,
           uninstallable: Mapping[tuple[str, str], str] | None = None) -> list[Decision]:
    """One decision per package. smoke_failed: target -> why its smoke failed; smoke_changed: target ->
    the recipes dom0 installs whose version changed since that target's last green smoke;
    uninstallable: (target, recipe) -> why the suite it would make is not installable (dose-distcheck)."""
    out: dict[tuple[str, str], Decision] = {}
    for p in packages:
        if p.build == "failed":
            out[(p.target, p.recipe)] = Decision(p, State.FAILED)
        elif p.build == "skipped":
            out[(p.target, p.recipe)] = Decision(p, State.SKIPPED)
        elif p.build == "stopped":
            out[(p.target, p.recipe)] = Decision(p, State.STOPPED)
        elif (held := _gates(p)) is not None:
            out[(p.target, p.recipe)] = Decision(p, held[0], held[1])
        else:
            out[(p.target, p.recipe)] = Decision(p, State.BUILT if p.build == "built" else State.UP_TO_DATE)
    for target, why in (smoke_failed or {}).items():
        for recipe in sorted((smoke_changed or {}).get(target, set())):
            d = out.get((target, recipe))
            if d is not None and d.promoted:
                out[(target, recipe)] = replace(d, state=State.HELD_SMOKE, why=f"smoke of {target} failed: {why}")
    for key, why in (uninstallable or {}).items():
        d = out.get(key)
        if d is not None and d.promoted:
            out[key] = replace(d, state=State.HELD_INSTALL, why=why)
    changed = True
    while changed:  # what was built against a held-back version is held back, transitively
        changed = False
        for key, d in out.items():
            if not d.promoted:
                continue
            for sibling, version in sorted(d.package.siblings.items()):
                other = out.get((d.package.target, sibling))
                if (other is not None and not other.promoted and other.state is not State.FAILED
                        and other.state is not State.SKIPPED and other.package.version == version):
                    out[key] = replace(d, state=State.HELD_SIBLING,
                                       why=f"built against {sibling} {version}, which is {other.state.value}")
                    changed = True
                    break
    return [out[(p.target, p.recipe)] for p in packages]
