"""Why each member of a closure is needed, from the solver's account of its decisions.

Each installed package of a solution has one reason (solver.Why): the relation of an installed
package, or of the problem's pseudo package, that the solver satisfied by installing it. Following
the reasons from a member's binary up to the problem's own relation gives a path; collapsed to
member sources it gives the member's link to the next one up:

- the first binary of another member on the way requires it ("Depends"/"Pre-Depends" of that
  binary), or else the problem itself does: a build's "Build-Depends" (its owner's), or "wanted"
  when the binary satisfies a wanted name; in a want's problem the binary that satisfies the name
  stands for the name, so a member its Depends pull in links to the name ("Depends" of that binary);
- the target's packages on the way are the link's `via` ("libfoo-dev Depends: liba (>= 1)").

A member's chain is the shortest path of such links from a wanted name (breadth first, as the
wanted names are given). A rebuild (a transition rule) is linked only from the build that made it
one, the member's whose build installed its binary (to that member, or to a member on the way).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from .solver import Package, Solution, Why

BUILD, WANTED = "Build-Depends", "wanted"


@dataclass(frozen=True, order=True)
class Link:
    """Why chain[i] is needed by chain[i + 1] (A <- B): which relation of B forced A."""

    field: str  # "Build-Depends" (of B's build), "Depends"/"Pre-Depends" (of `binary`), or "wanted"
    relation: str  # as the solver read it, in Debian's syntax (the wanted name for "wanted")
    binary: str  # B's binary (or the wanted binary) that has the relation; "" for Build-Depends, wanted
    installed: str  # A's binary that satisfied it, "package version"
    via: tuple[str, ...] = ()  # packages of neither in between, from B's side: "pkg Depends: relation"
    decided: bool = True  # False: a reason on the way was found by scanning, not in a decision's rule

    def text(self) -> str:
        if self.field == WANTED:
            head = WANTED
        elif self.field == BUILD:
            head = f"{BUILD}: {self.relation}"
        else:
            head = f"{self.binary} {self.field}: {self.relation}"
        return "; ".join((head, *self.via))


def _step(w: Why) -> str:
    return f"{w.by[1] if w.by else ''} {w.field}: {w.relation}"


def walk(sol: Solution, pid: str, package: Package, members: Container[str] = ()) -> tuple[str, Link] | None:
    """From package up to problem pid's own relation: what forced package's source (the key of the
    member whose binary required it, when it is in members, or the problem's owner: the member key
    of a build, the id of a want) and the link; None when the reasons do not reach the problem."""
    reasons = sol.reasons
    key = {(r, p, v): f"{r}/{s}" for r, p, v, s in sol.installed}
    own, want = key.get(package), pid.startswith("want:")
    installed, below = package, list[Why]()  # below: the reasons between `installed` and the top, bottom first
    current, seen = package, set[Package]()
    while current not in seen:
        seen.add(current)
        w = reasons.get(current)
        if w is None:
            return None
        used = [w, *below]
        if w.by is None:  # the problem's own relation
            owner = pid if want else pid.removeprefix("build:")
            if not want:
                top = Why(w.package, None, BUILD, w.relation, w.decided)
            elif below:
                top = below.pop()  # the wanted binary stands for the name: its relation is the link's
            else:
                top = Why(w.package, None, WANTED, w.relation, w.decided)
            return owner, _link(top, installed, below, used)
        up = key.get(w.by)
        if up == own:  # a binary of the same source higher up: that one is what was needed
            installed, below = w.by, []
        elif up in members and not (want and reasons.get(w.by, w).by is None):
            return str(up), _link(w, installed, below, used)
        else:
            below.append(w)
        current = w.by
    return None


def _link(top: Why, installed: Package, below: list[Why], used: list[Why]) -> Link:
    return Link(top.field, top.relation, top.by[1] if top.by else "", f"{installed[1]} {installed[2]}",
                tuple(_step(w) for w in reversed(below)), all(w.decided for w in used))


def chains(solutions: Mapping[str, Solution], sources: Mapping[str, str], wants: Sequence[tuple[str, str]],
           rebuilds: Mapping[str, tuple[str, Package]]) -> dict[str, tuple[tuple[str, ...], tuple[Link, ...]]]:
    """Each member's chain (its source, ..., the wanted name) and links (one per arrow), breadth first
    from the wanted names. sources: member key -> source; wants: (name, problem id);
    rebuilds: a rebuild's key -> (the member whose build installed its binary, that binary)."""
    below: dict[str, list[tuple[str, Link]]] = {}  # a node (member key or want id) -> (member key, link)
    for pid, sol in sorted(solutions.items()):
        for repo, pkg, ver, src in sol.installed if sol.ok else ():
            key = f"{repo}/{src}"
            if key not in sources or key in rebuilds or f"build:{key}" == pid:
                continue
            found = walk(sol, pid, (repo, pkg, ver), sources)
            if found is not None and found[0] != key:
                below.setdefault(found[0], []).append((key, found[1]))
    for key, (parent, package) in rebuilds.items():
        built = solutions.get(f"build:{parent}")
        found = walk(built, f"build:{parent}", package, sources) if built is not None else None
        if found is not None and found[0] != key:
            below.setdefault(found[0], []).append((key, found[1]))
    for node in below.values():
        node.sort(key=lambda c: (c[0], not c[1].decided, len(c[1].via), c[1]))
    out: dict[str, tuple[tuple[str, ...], tuple[Link, ...]]] = {}
    queue: deque[tuple[str, tuple[str, ...], tuple[Link, ...]]] = deque()
    for name, pid in wants:
        if pid.startswith("build:"):
            queue.append((pid.removeprefix("build:"), (name,), ()))
        queue += [(key, (sources[key], name), (link,)) for key, link in below.get(pid, ())]
    while queue:
        key, chain, links = queue.popleft()
        if key in out:
            continue
        out[key] = (chain, links)
        queue += [(k, (sources[k], *chain), (link, *links)) for k, link in below.get(key, ())]
    return out
