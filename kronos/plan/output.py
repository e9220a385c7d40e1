"""A closure in build order (cycles as one step each, with the edges that make them), as text or JSON;
each member's chain with the relation behind each link (kronos.plan.chains)."""

from __future__ import annotations

import json
from typing import Any

from ..graph import relations
from .closure import Closure, Edge, Member


def steps(c: Closure) -> list[list[str]]:
    """The members' strongly connected components (Tarjan), dependencies first; a step of more than
    one member (or of one that needs its own binaries) is a cycle. Within a step and among ready
    steps: by name."""
    succ = {k: sorted({e.to for e in c.edges if e.frm == k}) for k in c.members}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return out  # Tarjan emits a component after every component it reaches: dependencies first


def breaking_profiles(c: Closure, edge: Edge) -> list[str]:
    """The build profiles that would drop the build dependency behind edge (`<!stage1>`: stage1)."""
    names = {edge.why.split()[0]}
    if edge.link is not None and edge.link.field == "Build-Depends":  # the relation in the stanza that brought it
        names |= {rel["name"] for group in relations.parse(edge.link.relation) for rel in group}
    found = []
    for field in relations.BUILD_FIELDS:
        for group in relations.parse(str(c.members[edge.frm].entry.stanza.get(field, ""))):
            for rel in group:
                if rel["name"] not in names or not rel.get("restrictions"):
                    continue
                for formula in rel["restrictions"]:
                    found += [term.profile for term in formula if not term.enabled]
    return sorted(set(found))


def cycle_edges(c: Closure, step: list[str]) -> list[Edge]:
    inside = set(step)
    return [e for e in c.edges if e.frm in inside and e.to in inside]


def chain_text(m: Member) -> str:
    """`A <-[Build-Depends: b-dev (>= 1)] B <-[wanted] b-dev`: each arrow says which relation of the
    later forced the earlier (plain arrows where the solver's decisions do not say)."""
    if len(m.links) != len(m.chain) - 1:
        return " <- ".join(m.chain)
    out = m.chain[0]
    for link, later in zip(m.links, m.chain[1:], strict=True):
        out += f" <-[{link.text()}{'' if link.decided else ' (scanned)'}] {later}"
    return out


def links_json(m: Member) -> list[dict[str, Any]]:
    return [{"from": a, "to": b, "field": link.field, "relation": link.relation, "binary": link.binary,
             "installed": link.installed, "via": list(link.via), "decided": link.decided}
            for a, b, link in zip(m.chain, m.chain[1:], m.links, strict=False)]


def to_json(c: Closure) -> dict[str, Any]:
    order = steps(c)
    return {
        "target": c.target, "from": list(c.froms),
        "wanted": [{"name": w.name, "ok": w.ok, "problems": list(w.problems), "missing": list(w.missing)}
                   for w in c.wants],
        "members": [{
            "source": m.source, "version": m.version, "suite": m.suite, "kind": m.kind, "step": n,
            "chain": list(m.chain), "links": links_json(m), "rewrites": list(m.rewrites), "rule": m.rule,
            "builds": not m.build_problems, "problems": list(m.build_problems),
            "reachable": m.reachable, "unreachable": m.unreachable, "made-dsc": m.made_dsc,
            "after": sorted({c.members[e.to].source for e in c.edges if e.frm == key}),
        } for n, step in enumerate(order, 1) for key in step for m in (c.members[key],)],
        "cycles": [[{"from": c.members[e.frm].source, "to": c.members[e.to].source, "via": e.why,
                     "relation": e.link.text() if e.link else "", "broken_by_profiles": breaking_profiles(c, e)}
                    for e in cycle_edges(c, step)] for step in order if cycle_edges(c, step)],
        "notes": c.notes,
        "assumptions": c.assumptions,
    }


def dumps(c: Closure) -> str:
    return json.dumps(to_json(c), indent=1)


def lines(c: Closure) -> list[str]:
    out = [f"{c.target} from {', '.join(c.froms)}: {len(c.members)} source(s) in build order"]
    for n, step in enumerate(steps(c), 1):
        cyc = cycle_edges(c, step)
        if cyc:
            out.append(f"  cycle: {' '.join(c.members[k].source for k in step)}")
            for e in cyc:
                profiles = breaking_profiles(c, e)
                hint = f" (the build profile {' or '.join(profiles)} drops it)" if profiles else ""
                out.append(f"    {c.members[e.frm].source} needs {e.why} from {c.members[e.to].source}{hint}")
        for key in step:
            m = c.members[key]
            flags = [m.kind]
            if m.reachable is not None:
                flags.append(("reachable" + (f" ({m.made_dsc})" if m.made_dsc else "")) if m.reachable
                             else f"NOT reachable: {m.unreachable}")
            if m.rewrites:
                flags.append("rewrites: " + "; ".join(m.rewrites))
            if m.rule:
                flags.append(f"rule: {m.rule}")
            out.append(f"{n:3}. {m.source} {m.version} ({m.suite})  {chain_text(m)}  [{', '.join(flags)}]")
            out += [f"       does not build: {p}" for p in m.build_problems]
    for w in c.wants:
        if not w.ok:
            what = "; ".join(w.missing) if w.missing else "; ".join(w.problems)
            out.append(f"cannot satisfy {w.name}: no candidate anywhere for {what}" if w.missing
                       else f"cannot satisfy {w.name}: {what}")
    out += [f"note: {n}" for n in c.notes]
    out += [f"assumed: {a}" for a in c.assumptions]
    return out
