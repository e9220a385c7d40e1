"""The libsolv side of `kronos plan`, run by Debian's own /usr/bin/python3 (python3-solv imports only
there): standard library and `solv` only, no kronos imports. kronos.plan.solver runs it as
`/usr/bin/python3 solver_worker.py` with one JSON request on stdin and reads one JSON answer on stdout.

Request:
  arch      the Debian architecture
  repos     [{name, files: [Packages files], priority, solv: cache path or null}]; a repo with a
            higher priority is preferred where several provide a dependency (libsolv's policy)
  problems  [{id, file}]: each file a Packages-format file with ONE pseudo package whose Depends/
            Conflicts are what must be installable together (a build environment, a wanted name)
  task      "solve": each problem alone, every package considered but those of the excluded
            sources (exclude: [[repo, source]]);
            "minimize": members [{key, repo, source, fixed}] in the order to try dropping them, and
            base (repo names always considered); a member is dropped when every problem that
            remains (its own is dropped with it) is still solvable from the base repos and the
            binaries of the members kept, all repos then equally preferred (apt's choice: the highest version)
            Recommends are not followed in either task.
Answer: {solutions: {id: {ok, problems: [text], missing: [dep], installed: [[repo, name, version,
source]], why: [[repo, name, version, by, field, relation, decided]]}}, kept: [key]} (kept only for
"minimize"). why says, for each installed package, which relation of which installed package required
it, from the solver's account of its decisions (libsolv's decision and rule introspection): by is
[repo, name, version] of the requirer, or null for the problem's pseudo package (then field is "");
field is "Depends" or "Pre-Depends"; relation is in Debian's syntax; decided is false when no rule of
the decision names a requirer and the relation was found by scanning what the installed packages
require (the earliest decided requirer).
Exit 3 with a one-line reason on stderr when the solv module is missing.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

try:
    import solv
except ImportError:
    sys.stderr.write("the solv module is missing (install Debian's python3-solv)\n")
    sys.exit(3)


def _source(s: Any) -> str:
    return str(s.lookup_str(solv.SOLVABLE_SOURCENAME) or s.name)


def load(request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_DEB)
    pool.setarch(request["arch"])
    for spec in request["repos"]:
        repo = pool.add_repo(spec["name"])
        repo.priority = spec.get("priority", 0)
        cache = spec.get("solv")
        loaded = False
        if cache and os.path.exists(cache):
            f = solv.xfopen(cache)
            loaded = bool(repo.add_solv(f))  # False: written by another libsolv version; parse again
            f.close()
            if not loaded:
                repo.empty()
        if not loaded:
            for path in spec["files"]:
                f = solv.xfopen(path)
                repo.add_debpackages(f)
                f.close()
            if cache:
                tmp = f"{cache}.{os.getpid()}.part"
                f = solv.xfopen(tmp, "w")
                repo.write(f)
                f.close()
                os.replace(tmp, cache)
    problems: dict[str, Any] = {}
    for spec in request["problems"]:
        repo = pool.add_repo(f"problem:{spec['id']}")
        repo.priority = 1000
        f = solv.xfopen(spec["file"])
        repo.add_debpackages(f)
        f.close()
        problems[spec["id"]] = next(iter(repo.solvables_iter()))
    pool.addfileprovides()
    pool.createwhatprovides()
    return pool, problems


def solve(pool: Any, pseudo: Any, reasons: bool = True) -> dict[str, Any]:
    """One problem's answer; without reasons, why is empty (a trial of the minimization)."""
    job = pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE, pseudo.id)
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)  # apt-get build-dep and sbuild do not install them
    found = solver.solve([job])
    if found:
        texts: list[str] = []
        missing: list[str] = []
        for problem in found:
            for rule in problem.findallproblemrules():
                for info in rule.allinfos():
                    texts.append(info.problemstr())
                    if info.type == solv.Solver.SOLVER_RULE_PKG_NOTHING_PROVIDES_DEP and info.dep is not None:
                        missing.append(str(info.dep))
        return {"ok": False, "problems": sorted(set(texts)), "missing": sorted(set(missing)), "installed": [],
                "why": []}
    new = [s for s in solver.transaction().newsolvables() if s.id != pseudo.id]
    installed = [[s.repo.name, s.name, s.evr, _source(s)] for s in new]
    return {"ok": True, "problems": [], "missing": [], "installed": sorted(installed),
            "why": sorted(why(pool, solver, pseudo, new), key=lambda w: w[:3]) if reasons else []}


def _relation(dep: Any) -> str:
    """libsolv's rendering of a Debian relation (`a >= 1 | b:any`) in Debian's syntax (`a (>= 1) | b:any`)."""
    alternatives = []
    for alt in str(dep).split(" | "):
        name, _, version = alt.partition(" ")
        alternatives.append(f"{name} ({version})" if version else name)
    return " | ".join(alternatives)


def _provides(s: Any, dep: Any) -> bool:
    return any(p.id == s.id for p in s.pool.whatprovides(dep))


def _requirers(solver: Any, s: Any, chosen: dict[int, int]) -> list[tuple[Any, Any]]:
    """(requirer, dep) from the rule behind s's decision: a requires rule of a package installed
    before s (or of the pseudo) that s's installation satisfies. A unit rule or a choice among providers
    (SOLVER_REASON_UNIT_RULE, SOLVER_REASON_RESOLVE) carries it directly; a learnt rule through the
    rules it was learnt from; any other (a job, a weak decision) names none."""
    _reason, rule = solver.describe_decision(s)
    rules = [rule] if rule is not None else []
    if rule is not None and rule.type == solv.Solver.SOLVER_RULE_LEARNT:
        rules += list(rule.get_learnt())
    found = []
    for r in rules:
        primary = r.info().dep_id
        for info in sorted(r.allinfos(), key=lambda i: i.dep_id != primary):  # the rule's own first
            by, dep = info.solvable, info.dep
            if (info.type == solv.Solver.SOLVER_RULE_PKG_REQUIRES and by is not None and dep is not None
                    and chosen.get(by.id, len(chosen)) < chosen[s.id] and _provides(s, dep)):
                found.append((by, dep))
    return found


def _scanned(pool: Any, s: Any, chosen: dict[int, int]) -> list[tuple[Any, Any]]:
    """(requirer, dep) for every installed package (or the pseudo) decided before s that requires
    something s provides: the fallback when the decision's rules name no requirer."""
    found = []
    for pid, rank in chosen.items():
        if rank >= chosen[s.id]:
            continue
        by = pool.id2solvable(pid)
        found += [(by, dep) for dep in by.lookup_deparray(solv.SOLVABLE_REQUIRES)
                  if _provides(s, dep)]
    return found


def why(pool: Any, solver: Any, pseudo: Any, new: list[Any]) -> list[list[Any]]:
    """For each installed package: [repo, name, version, by, field, relation, decided] (see above).
    Requirers decided earlier come first, so following `by` always ends at the pseudo package."""
    chosen = {p: n for n, p in enumerate(solver.raw_decisions(1))}  # installed, in the order decided
    out = []
    for s in new:
        found = _requirers(solver, s, chosen)
        decided = bool(found)
        found = found or _scanned(pool, s, chosen)
        if not found:
            out.append([s.repo.name, s.name, s.evr, None, "", "", False])
            continue
        by, dep = min(found, key=lambda f: chosen[f[0].id])  # the earliest requirer, the first found
        if by.id == pseudo.id:
            out.append([s.repo.name, s.name, s.evr, None, "", _relation(dep), decided])
            continue
        pre = {d.id for d in by.lookup_deparray(solv.SOLVABLE_REQUIRES, 1)}
        out.append([s.repo.name, s.name, s.evr, [by.repo.name, by.name, by.evr],
                    "Pre-Depends" if dep.id in pre else "Depends", _relation(dep), decided])
    return out


class Restricted:
    """The pool seen through a set of kept members: the base repos, their binaries, the problems."""

    def __init__(self, pool: Any, base: set[str]) -> None:
        self.pool = pool
        self.always: list[int] = []
        self.groups: dict[tuple[str, str], list[int]] = {}
        for s in pool.solvables_iter():
            name = s.repo.name
            if name in base or name.startswith("problem:"):
                self.always.append(s.id)
            else:
                self.groups.setdefault((name, _source(s)), []).append(s.id)

    def consider(self, kept: set[tuple[str, str]]) -> None:
        ids = list(self.always)
        for pair in kept:
            ids += self.groups.get(pair, [])
        self.pool.set_considered_list(ids)


def minimize(pool: Any, problems: dict[str, Any], request: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Greedy: a member is dropped when every problem whose current solution installs one of its
    binaries still solves without them (a solution that does not use them stays valid)."""
    members: list[dict[str, Any]] = request["members"]
    for repo in pool.repos:  # among the repos a build will see, apt's choice: the highest version
        if not repo.name.startswith("problem:"):
            repo.priority = 0
    view = Restricted(pool, set(request["base"]))
    own = {m["key"]: m.get("problem") for m in members}
    pairs = {m["key"]: (m["repo"], m["source"]) for m in members}
    kept = [m["key"] for m in members]
    view.consider({pairs[k] for k in kept})
    current = {pid: solve(pool, pseudo) for pid, pseudo in problems.items()}
    if not all(a["ok"] for a in current.values()):  # the full set itself does not solve: report it
        return kept, current
    if all(m.get("fixed") for m in members):
        return kept, current
    for m in members:
        if m.get("fixed"):
            continue
        repo, source = pairs[m["key"]]
        trial = [k for k in kept if k != m["key"]]
        remaining = {pid: a for pid, a in current.items() if pid != own[m["key"]]}
        affected = [pid for pid, a in remaining.items() if any(i[0] == repo and i[3] == source for i in a["installed"])]
        view.consider({pairs[k] for k in trial})
        answers = {}
        for pid in affected:
            answers[pid] = solve(pool, problems[pid], reasons=False)  # solved again with them at the end
            if not answers[pid]["ok"]:
                break
        if all(a["ok"] for a in answers.values()):
            kept = trial
            current = {**remaining, **answers}
    view.consider({pairs[k] for k in kept})
    return kept, {pid: solve(pool, problems[pid]) for pid in current}


def main() -> int:
    request: dict[str, Any] = json.load(sys.stdin)
    pool, problems = load(request)
    if request["task"] == "minimize":
        kept, solutions = minimize(pool, problems, request)
        answer: dict[str, Any] = {"solutions": solutions, "kept": kept}
    else:
        excluded = {(repo, source) for repo, source in request.get("exclude", [])}
        if excluded:
            pool.set_considered_list([s.id for s in pool.solvables_iter() if (s.repo.name, _source(s)) not in excluded])
        answer = {"solutions": {pid: solve(pool, pseudo) for pid, pseudo in problems.items()}}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
