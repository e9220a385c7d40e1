"""The backport closure: which sources to take from the --from suites so that every wanted name is
installable on the target and every member builds there.

1. Grow: each wanted name (a binary relation, or a source to backport) and each member's build
   environment is one libsolv problem, solved alone over the target (preferred) and the modelled
   --from suites (earlier suites preferred). A --from binary in a solution makes its source a member,
   whose build environment is solved in the next round, until no round adds one.
2. Minimize: greedily, later suites and later-found members first, a member is dropped when every
   remaining problem still solves from the target and the members kept (with apt's choice among
   them: the highest version). A requested source, the source of a wanted binary and rebuilds stay.
3. Transitions (plan.toml): a member whose build installs a target binary of a source the target
   built with the old tool, while the closure brings the new one, makes that source a rebuild member;
   rebuilds are solved like the others (1, 2), and the rule applies to them in turn.
The solutions of the final set give the build order (a member after the members whose binaries its
build installs) and, through the solver's decisions (kronos.plan.chains), each member's chain to the
name that pulled it in, with the relation behind each link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..graph import relations
from ..log import step
from ..packaging.versions import own_rebuild
from . import solver
from .chains import Link, chains, walk
from .indices import PlanIndices, SourceEntry
from .model import build_needs
from .reach import Reach, reachable
from .rules import PlanRules

REQUESTED, BACKPORT, REBUILD = "requested", "backport", "rebuild"


@dataclass(frozen=True)
class Member:
    key: str  # "<suite>/<source>"
    source: str
    version: str  # the version to build (a rebuild's carries the target's rebuild suffix)
    suite: str
    kind: str
    chain: tuple[str, ...]  # (source, ..., the wanted name)
    entry: SourceEntry
    links: tuple[Link, ...] = ()  # links[i]: which relation of chain[i + 1] forced chain[i] (empty: unknown)
    rewrites: tuple[str, ...] = ()
    rule: str = ""  # the transition rule that made a rebuild
    pulled_by: tuple[str, solver.Package] | None = None  # a rebuild's: (the member whose build installs it, the binary)
    build_problems: tuple[str, ...] = ()  # why its build environment does not solve (empty: it does)
    reachable: bool | None = None  # whether the mirror serves its .dsc and files (None: not checked)
    unreachable: str = ""  # the first file it does not serve, and why
    made_dsc: str = ""  # reachable, but its .dsc is not served: the build makes it from the signed index


@dataclass(frozen=True)
class Edge:
    frm: str  # member key built after `to`
    to: str
    why: str  # the binary installed
    link: Link | None = None  # which of frm's build relations installed it (to's source is the link's A)


@dataclass(frozen=True)
class Want:
    name: str
    problems: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Closure:
    target: str
    froms: tuple[str, ...]
    wants: list[Want] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)  # what the rebuilt-binary model could not decide


class _Run:
    def __init__(self, idx: PlanIndices, rules: PlanRules, profiles: tuple[str, ...] | None,
                 check_reach: bool) -> None:
        self.idx = idx
        self.check_reach = check_reach
        self.reach: dict[str, Reach] = {}
        self.rules = rules
        self.profiles = profiles
        self.repos = idx.repos()
        self.froms = tuple(s.name for s in idx.froms)
        self.target = idx.target.name
        self.members: dict[str, Member] = {}
        self.problems: dict[str, tuple[str, str]] = {}  # id -> (depends, conflicts)
        self.owner: dict[str, tuple[str, ...]] = {}  # problem id -> the chain of what it builds/wants
        self.solutions: dict[str, solver.Solution] = {}
        self.fixed: set[str] = set()
        self.settled: set[str] = set()  # kept by an earlier minimization: more problems cannot free them
        self.excluded: set[tuple[str, str]] = set()  # unreachable sources a reachable candidate replaced
        self.notes: list[str] = []

    def add_member(self, m: Member) -> str:
        rewrites = [r for r in self.rules.rewrites if r.applies(self.target)]
        needs = build_needs(m.entry.stanza, m.source, self.idx.arch, self.rules.profiles_for(m.source, self.profiles),
                            rewrites, self.rules.understated, self.idx.essential)
        self.members[m.key] = replace(m, rewrites=needs.rewrites)
        pid = f"build:{m.key}"
        self.problems[pid] = (needs.depends, needs.conflicts)
        self.owner[pid] = m.chain
        return pid

    def grow(self, pending: list[str]) -> None:
        while pending:
            with step(f"solving {len(pending)} problem(s)"), solver.problems_dir() as pd:
                for pid in pending:
                    pd.add(pid, self.idx.arch, *self.problems[pid])
                found = solver.solve(self.idx.arch, self.repos, pd, sorted(self.excluded))
            pending = []
            for pid, sol in sorted(found.items()):
                self.solutions[pid] = sol
                for repo, _pkg, _ver, src in sol.installed:
                    key = f"{repo}/{src}"
                    if repo not in self.froms or key in self.members:
                        continue
                    entry = self.idx.from_source(repo, src)
                    if entry is None:
                        self.notes.append(f"{repo} has binaries of {src} but no such source in its Sources")
                        continue
                    pending.append(self.add_member(Member(key, src, entry.version, repo, BACKPORT,
                                                          (src, *self.owner[pid]), entry)))
        self.check()

    def check(self) -> None:
        """The reachability of the members not checked yet."""
        todo = [k for k in self.members if k not in self.reach] if self.check_reach else []
        if todo:
            with step(f"checking that the mirror serves {len(todo)} source(s)"):
                for key, found in zip(todo, reachable(self.idx.cache_root, [self.members[k].entry for k in todo]),
                                      strict=True):
                    self.reach[key] = found

    def minimize(self) -> None:
        solvable = {pid for pid, sol in self.solutions.items() if sol.ok}
        # tried first: the unreachable, then later suites, then the later found
        order = sorted((m for m in self.members.values() if m.kind != REBUILD),
                       key=lambda m: (self.reach[m.key].ok if m.key in self.reach else True,
                                      -self.froms.index(m.suite), -list(self.members).index(m.key)))
        candidates = [solver.Candidate(m.key, m.suite, m.source, m.key in self.fixed or m.key in self.settled,
                                       f"build:{m.key}" if f"build:{m.key}" in solvable else None) for m in order]
        with step(f"minimizing {len(candidates)} member(s)"), solver.problems_dir() as pd:
            for pid in self.problems:
                if pid in solvable:
                    pd.add(pid, self.idx.arch, *self.problems[pid])
            base = [r.name for r in self.repos if r.name not in self.froms]  # the target and our recipes
            kept, final = solver.minimize(self.idx.arch, self.repos, pd, base, candidates)
        for m in list(self.members.values()):
            if m.kind != REBUILD and m.key not in kept:
                del self.members[m.key]
                self.problems.pop(f"build:{m.key}", None)
                self.solutions.pop(f"build:{m.key}", None)
        self.solutions.update(final)
        self.settled |= set(kept)

    def prefer_reachable(self) -> bool:
        """Replace each unreachable member (not fixed) by other candidates (the same source from
        another --from suite, or other sources), when the problems that used it still solve without
        it and every member that brings in is reachable; whether any was."""
        changed = False
        for m in [m for m in self.members.values() if m.kind != REBUILD and m.key not in self.fixed
                  and m.key in self.reach and not self.reach[m.key].ok]:
            saved = (dict(self.members), dict(self.problems), dict(self.owner), dict(self.solutions))
            own = f"build:{m.key}"
            users = [pid for pid, sol in self.solutions.items() if pid != own
                     and any(r == m.suite and s == m.source for r, _p, _v, s in sol.installed)]
            del self.members[m.key]
            self.problems.pop(own, None)
            self.solutions.pop(own, None)
            self.excluded.add((m.suite, m.source))
            before = set(self.members)
            with step(f"trying a reachable candidate instead of {m.source} {m.version} ({m.suite})"):
                self.grow(users)
            new = set(self.members) - before
            if all(self.solutions[p].ok for p in users) and all(self.reach.get(k, Reach(True)).ok for k in new):
                changed = True
                continue
            self.excluded.discard((m.suite, m.source))
            self.members, self.problems, self.owner, self.solutions = saved
        return changed

    def transitions(self) -> list[str]:
        added: list[str] = []
        for rule in self.rules.transitions:
            op, ver = rule.brings.split()
            brings = any(repo in self.froms and pkg == rule.tool and relations.version_satisfies(v, op, ver)
                         for sol in self.solutions.values() for repo, pkg, v, _ in sol.installed)
            tool = self.idx.target_source(rule.tool)
            old_op, old_ver = rule.built_with.split()
            if not brings or tool is None or not relations.version_satisfies(tool.version, old_op, old_ver):
                continue
            for m in list(self.members.values()):
                sol = self.solutions.get(f"build:{m.key}")
                for repo, pkg, v, src in (sol.installed if sol else ()):
                    key = f"{self.target}/{src}"
                    if repo != self.target or key in self.members or not rule.consumers.search(pkg):
                        continue
                    entry = self.idx.target_source(src)
                    if entry is None or not _build_depends_on(entry, rule.tool, self.idx.arch):
                        continue
                    version = own_rebuild(entry.version, self.idx.target, 1)
                    added.append(self.add_member(Member(key, src, version, self.target, REBUILD, (src, *m.chain),
                                                        entry, rule=rule.name, pulled_by=(m.key, (repo, pkg, v)))))
        return added


def _build_depends_on(entry: SourceEntry, tool: str, arch: str) -> bool:
    groups = [g for f in relations.BUILD_FIELDS
              for g in relations.reduce(relations.parse(str(entry.stanza.get(f, ""))), arch, ())]
    return any(rel["name"] == tool for g in groups for rel in g)


def _wanted(name: str) -> str:
    """A wanted binary relation as written, checked by python-debian."""
    groups = relations.parse(name)
    return relations.render(groups[0][0]) if len(groups) == 1 and len(groups[0]) == 1 else name


def compute(idx: PlanIndices, rules: PlanRules, names: Sequence[str],
            profiles: tuple[str, ...] | None = None, check_reach: bool = True) -> Closure:
    run = _Run(idx, rules, profiles, check_reach)
    pending: list[str] = []
    wants: list[tuple[str, str]] = []  # (name, problem id)
    for i, name in enumerate(names):
        bare = len(relations.parse(name)) == 1 and name.strip() == relations.parse(name)[0][0]["name"]
        entry = idx.first_source(name.strip()) if bare else None
        if entry is not None:
            pending.append(run.add_member(Member(f"{entry.suite}/{entry.name}", entry.name, entry.version,
                                                 entry.suite, REQUESTED, (entry.name,), entry)))
            run.fixed.add(f"{entry.suite}/{entry.name}")
            wants.append((name, f"build:{entry.suite}/{entry.name}"))
            continue
        pid = f"want:{i}"
        run.problems[pid] = (_wanted(name), "")
        run.owner[pid] = (name,)
        pending.append(pid)
        wants.append((name, pid))
    while True:
        run.grow(pending)
        for name, pid in wants:  # the source of a wanted binary stays
            if pid.startswith("want:"):
                wanted = relations.parse(name)[0][0]["name"]
                run.fixed |= {f"{r}/{s}" for r, p, _, s in run.solutions[pid].installed if p == wanted}
        run.minimize()
        if run.check_reach and run.prefer_reachable():
            run.settled.clear()  # what the replaced members needed may be free now
            run.minimize()
        pending = run.transitions()
        if not pending:
            break
    run.check()
    out = Closure(idx.target.name, run.froms, notes=run.notes)
    for name, pid in wants:
        sol = run.solutions.get(pid)
        out.wants.append(Want(name) if sol is None or sol.ok else Want(name, sol.problems, sol.missing))
    out.edges = _edges(run)
    out.members = _chains(run, wants)
    out.assumptions = _assumptions(idx, out)
    return out


def _assumptions(idx: PlanIndices, c: Closure) -> list[str]:
    """What the model kept as it is for the backported members' binaries (kronos.plan.rebuilt)."""
    out = []
    for m in sorted(c.members.values(), key=lambda m: m.key):
        if m.kind != REBUILD:
            out += idx.assumptions(m.suite, m.source)
    return out


def _edges(run: _Run) -> list[Edge]:
    edges = []
    for key in run.members:
        sol = run.solutions.get(f"build:{key}")
        for repo, pkg, ver, src in (sol.installed if sol else ()):
            to = f"{repo}/{src}"
            if to in run.members and to != key:
                found = walk(sol, f"build:{key}", (repo, pkg, ver)) if sol else None
                edges.append(Edge(key, to, f"{pkg} {ver}", found[1] if found else None))
    return sorted(set(edges), key=lambda e: (e.frm, e.to, e.why))


def _chains(run: _Run, wants: list[tuple[str, str]]) -> dict[str, Member]:
    """Each member's chain and links from the solver's decisions in the final solutions."""
    found = chains(run.solutions, {k: m.source for k, m in run.members.items()}, wants,
                   {k: m.pulled_by for k, m in run.members.items() if m.pulled_by and m.pulled_by[0] in run.members})
    out = {}
    for key, m in run.members.items():
        sol = run.solutions.get(f"build:{key}")
        problems = sol.problems if sol is not None and not sol.ok else ()
        chain, links = found.get(key, (m.chain, ()))
        reach = run.reach.get(key)
        out[key] = replace(m, chain=chain, links=links, build_problems=problems, reachable=reach.ok if reach else None,
                           unreachable=reach.missing if reach else "", made_dsc=reach.made if reach else "")
    return out
