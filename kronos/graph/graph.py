"""One target's recipes as a graph: nodes, edges with the dependency that made each, the build
order, the siblings a build installs, and one error that prints a cycle."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError
from . import relations
from .relations import Binary

BUILD, RUN, AFTER = "build", "run", "after"


class CycleError(ConfigError):
    """Recipes that depend on each other in a cycle."""


@dataclass(frozen=True)
class SourceMeta:
    """What the graph knows of one recipe for one target before it is built."""

    recipe: str
    source: str
    version: str
    build_fields: Mapping[str, str]  # Build-Depends, -Arch, -Indep
    binaries: tuple[Binary, ...]
    profiles: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    size: int = 0  # the source package's bytes, from the signed index (0: unknown), for scheduling


@dataclass(frozen=True)
class Edge:
    """`frm` comes after `to`. kind: build (frm installs to's packages to build), run (frm's own
    packages need to's at run time: ordering only), after (the recipe's `after =`)."""

    frm: str
    to: str
    kind: str
    why: str

    def line(self) -> str:
        return f"{self.frm} -> {self.to}  ({self.why})"


@dataclass
class Graph:
    target: str
    nodes: list[str]
    edges: list[Edge] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # each recipe's source size (SourceMeta.size)

    def out(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.frm == name]

    def order(self) -> list[str]:
        """Dependencies first; among the ready ones, by name. A cycle raises CycleError."""
        self.check_acyclic()
        waiting = {n: {e.to for e in self.out(n)} for n in self.nodes}
        ready = [n for n, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        out: list[str] = []
        while ready:
            name = heapq.heappop(ready)
            out.append(name)
            for other, deps in waiting.items():
                if name in deps:
                    deps.discard(name)
                    if not deps and other not in out:
                        heapq.heappush(ready, other)
        return out

    def check_acyclic(self) -> None:
        state: dict[str, int] = {}
        path: list[Edge] = []

        def visit(name: str) -> None:
            state[name] = 1
            for edge in sorted(self.out(name), key=lambda e: e.to):
                if state.get(edge.to) == 1:
                    start = next(i for i, e in enumerate(path) if e.frm == edge.to)
                    cycle = path[start:] + [edge]
                    raise CycleError(f"recipes depend on each other in a cycle ({self.target}): "
                                     + "; ".join(e.line() for e in cycle))
                if state.get(edge.to) is None:
                    path.append(edge)
                    visit(edge.to)
                    path.pop()
            state[name] = 2

        for name in sorted(self.nodes):
            if name not in state:
                visit(name)

    def build_closure(self, name: str) -> list[str]:
        """The siblings whose packages `name`'s build installs: its build and after edges, then
        everything those depend on (their own edges of any kind)."""
        seen: list[str] = []
        stack = [e.to for e in self.out(name) if e.kind in (BUILD, AFTER)]
        while stack:
            dep = stack.pop()
            if dep not in seen and dep != name:
                seen.append(dep)
                stack.extend(e.to for e in self.out(dep) if e.kind in (BUILD, AFTER, RUN))
        return sorted(seen)

    def wanted(self, names: Sequence[str]) -> list[str]:
        """names and everything they come after, in build order."""
        keep: set[str] = set()
        stack = [n for n in names if n in self.nodes]
        while stack:
            n = stack.pop()
            if n not in keep:
                keep.add(n)
                stack.extend(e.to for e in self.out(n))
        return [n for n in self.order() if n in keep]

    def dot(self) -> str:
        lines = [f'digraph "{self.target}" {{', "  rankdir=LR;"]
        lines += [f'  "{n}";' for n in self.nodes]
        for e in self.edges:
            style = {BUILD: "solid", RUN: "dashed", AFTER: "dotted"}[e.kind]
            label = e.why.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'  "{e.frm}" -> "{e.to}" [label="{label}", style={style}];')
        return "\n".join(lines + ["}"])


def derive(target: str, arch: str, metas: Mapping[str, SourceMeta]) -> Graph:
    """The graph of one target's recipes from their metadata (relations.py's rule) and `after`."""
    siblings = {name: tuple(b for b in m.binaries if relations.builds_on(b, arch)) for name, m in metas.items()}
    graph = Graph(target, sorted(metas), sizes={name: m.size for name, m in metas.items()})
    for name in graph.nodes:
        meta = metas[name]
        built: set[str] = set()
        for m in relations.build_matches(meta.build_fields, name, siblings, arch, meta.profiles):
            graph.edges.append(Edge(name, m.sibling, BUILD, m.why))
            built.add(m.sibling)
        for m in relations.own_run_matches(name, siblings[name], siblings, arch):
            if m.sibling not in built:
                graph.edges.append(Edge(name, m.sibling, RUN, m.why))
        for dep in meta.after:  # beside a run edge, `after` still offers dep's packages to the build
            if dep in metas and dep not in built:
                graph.edges.append(Edge(name, dep, AFTER, f'after = ["{dep}"] in its recipe.toml'))
    return graph
