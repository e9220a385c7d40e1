"""`kronos plan --write-recipes DIR`: a recipe for each reachable member, ready for `kronos build`.

DIR/recipes/<source>/recipe.toml takes the member's source from its suite at its version, for the
target, with the member's build profiles. DIR/patches/<source>/<target>/ holds its patch series:
the patches the project already keeps for that source and target (patches/<source>/<target>/, e.g.
dh-ocaml's compat level, the dune 3 --libdir patches of the rebuilds), else the rewrites it needed,
made on its real debian/control (fetched and unpacked through the signed chain, edited with
python-debian, `diff -u`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from debian._deb822_repro import parse_deb822_file

from ..archive.access import Archives
from ..build import scratch
from ..config import Settings
from ..graph import relations
from ..run import run
from ..sources import debian
from .closure import Closure, Member
from .model import rewrite_text
from .output import steps
from .rules import PlanRules

REWRITES_PATCH = "kronos-plan-rewrites.patch"


def _q(text: str) -> str:
    return json.dumps(text)  # a TOML basic string: the same escapes as JSON for these values


def recipe_toml(m: Member, target: str, profiles: tuple[str, ...]) -> str:
    lines = [f"# Written by `kronos plan`: {m.kind} of {m.source} {m.entry.version} ({m.entry.suite}) for {target}.",
             f"# Pulled in by: {' <- '.join(m.chain)}"]
    lines += [f"# Rewrite: {r}" for r in m.rewrites]
    if m.rule:
        lines.append(f"# Transition rule: {m.rule}")
    # the suite that lists this version: a rebuild's may be a pocket's (bookworm-updates), not the target's
    lines += [f"targets = [{_q(target)}]", "", "[source]", 'kind = "debian"', f"suite = {_q(m.entry.suite)}",
              f"package = {_q(m.source)}", f"version = {_q(m.entry.version)}", "", "[build]",
              f"profiles = [{', '.join(map(_q, profiles))}]",
              f"options = [{', '.join(_q(p) for p in profiles if p in ('nocheck', 'nodoc'))}]", ""]
    return "\n".join(lines)


def rewrites_patch(settings: Settings, archives: Archives, m: Member, target: str, rules: PlanRules) -> str:
    """A patch of the member's debian/control with its rewrites applied."""
    archive = settings.archive_of(settings.target(target))
    with scratch(settings.cache_dir, f"plan-{m.source}-") as work:
        got = debian.fetch(archives, archive, m.entry.suite, m.source, m.entry.version,
                           settings.target(target).components, work / "fetched")
        tree = work / "b"
        run(["dpkg-source", "--no-check", "-x", str(got.dsc), str(tree)], cwd=work)
        control = tree / "debian" / "control"
        (work / "a" / "debian").mkdir(parents=True)
        shutil.copyfile(control, work / "a" / "debian" / "control")
        doc = parse_deb822_file(control.read_text().splitlines(keepends=True))
        source = next(iter(doc))
        for field in relations.BUILD_FIELDS:
            if field in source:
                old = str(source[field])
                new = rewrite_text(old, target, rules.rewrites)
                if new != rewrite_text(old, "", ()):  # only the fields a rewrite changes are rewritten
                    source[field] = new
        control.write_text(doc.dump())
        diff = run(["diff", "-u", "--label", "a/debian/control", "--label", "b/debian/control",
                    "a/debian/control", "b/debian/control"], cwd=work, check=False)
    header = (f"Description: Build relations rewritten for {target} (kronos plan)\n"
              + "".join(f" {r}\n" for r in m.rewrites)
              + "Author: Kronos\nForwarded: not-needed (a backport to an older release)\n---\n")
    return header + diff.stdout.decode()


def write_recipes(settings: Settings, archives: Archives, c: Closure, rules: PlanRules,
                  profiles: tuple[str, ...] | None, dest: Path) -> list[str]:
    """Write the recipes of the reachable members; the names written, in build order."""
    written = []
    for step in steps(c):
        for key in step:
            m = c.members[key]
            if not m.reachable:
                continue
            (dest / "recipes" / m.source).mkdir(parents=True, exist_ok=True)
            (dest / "recipes" / m.source / "recipe.toml").write_text(
                recipe_toml(m, c.target, rules.profiles_for(m.source, profiles)))
            out = dest / "patches" / m.source / c.target
            known = settings.patches_dir / m.source / c.target
            if (known / "series").exists():  # the project's own patches for it, as they are
                out.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(known / "series", out / "series")
                for line in (known / "series").read_text().splitlines():
                    name = line.split("#", 1)[0].split()
                    if name:
                        shutil.copyfile(known / name[0], out / name[0])
            elif any(not r.startswith("+ ") for r in m.rewrites):
                out.mkdir(parents=True, exist_ok=True)
                (out / REWRITES_PATCH).write_text(rewrites_patch(settings, archives, m, c.target, rules))
                (out / "series").write_text(f"{REWRITES_PATCH}\n")
            written.append(m.source)
    return written
