"""Where kronos's publish time goes: `kronos publish` in-process with exclusive-time stamps on its steps
(the child: `python -m bench.publish_profile MODE [PSTATS]`, run from the repository root), a cProfile
top list, and start-up (interpreter, imports).

This module imports nothing of kronos at its top: the child times those imports itself."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from bench.common import ROOT, BenchError
from bench.publish_debs import SUITE, DebSet, add_extra_recipe
from bench.publish_tools import Runner, check


class TopRow(TypedDict):
    func: str
    calls: int
    tottime: float
    cumtime: float


class Top(TypedDict):
    top: list[TopRow]


class SplitMedians(TypedDict):
    wall: float
    walls: list[float]
    t: dict[str, float]  # category -> exclusive seconds
    n: dict[str, int]  # category -> calls


class Profile(TypedDict):
    split: dict[str, SplitMedians]  # "full", "add"
    cprofile: dict[str, Top]


class Split:
    """Exclusive wall time per category: a wrapped call inside another is charged to the inner one."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.n: dict[str, int] = {}
        self.stack: list[float] = []

    def wrap(self, owner: object, attr: str, cat: str) -> None:
        orig = getattr(owner, attr)
        split = self

        def wrapper(*a: object, **k: object) -> object:
            start = time.perf_counter()
            split.stack.append(0.0)
            try:
                return orig(*a, **k)
            finally:
                el = time.perf_counter() - start
                inner = split.stack.pop()
                split.t[cat] = split.t.get(cat, 0.0) + el - inner
                split.n[cat] = split.n.get(cat, 0) + 1
                if split.stack:
                    split.stack[-1] += el

        setattr(owner, attr, wrapper)

    def charge(self, cat: str, seconds: float, calls: int = 1) -> None:
        self.t[cat] = self.t.get(cat, 0.0) + seconds
        self.n[cat] = self.n.get(cat, 0) + calls


CATEGORIES = (  # (module, attribute path, category); exclusive times
    ("kronos.cli", "load_settings", "config: load_settings + load_repo_settings"),
    ("kronos.publish.settings", "load_repo_settings", "config: load_settings + load_repo_settings"),
    ("kronos.publish.outputs", "uploads", "outputs.uploads (build.json, exists)"),
    ("kronos.publish.publisher", "Publisher.publish", "publish(): its own python (loops, state)"),
    ("kronos.publish.indices", "digest_file", "read .debs: digest_file (md5+sha256+sha512)"),
    ("kronos.publish.indices", "deb_stanza", "read .debs: deb_stanza (DebFile control parse)"),
    ("kronos.publish.publisher", "Publisher._stage", "stage: rest of _stage (stanza.dump, state)"),
    ("kronos.publish.publisher", "Publisher._retain", "index generation: _retain (Version sort)"),
    ("kronos.publish.publisher", "Publisher._orphans", "index generation: _orphans"),
    ("kronos.publish.publisher", "Publisher._suite_files", "index generation: sort + render"),
    ("kronos.publish.indices", "render", "index generation: sort + render"),
    ("gzip", "compress", "compression: gzip -9"),
    ("lzma", "compress", "compression: xz"),
    ("kronos.publish.indices", "digest_bytes", "index digests (Release)"),
    ("kronos.publish.publisher", "Publisher._release", "Release text"),
    ("kronos.publish.publisher", "Publisher._write_suite", "writes: dists files + by-hash links"),
    ("kronos.publish.tree", "write_file", "writes: dists files + by-hash links"),
    ("kronos.publish.publisher", "Publisher._carry_byhash", "writes: dists files + by-hash links"),
    ("kronos.publish.tree", "add_pool_file", "writes: pool copies (add_pool_file)"),
    ("os", "fsync", "fsync"),
    ("kronos.publish.signing", "run", "signing: gpg/gpgconf subprocesses"),
    ("kronos.publish.signing", "_gpg", "signing: python-gnupg (GPG(), list_keys)"),
    ("gnupg", "GPG.list_keys", "signing: python-gnupg (GPG(), list_keys)"),
    ("kronos.publish.publisher", "Publisher._client_files", "client files (keyring, .sources)"),
    ("kronos.publish.tree", "load_state", "state.json load"),
    ("kronos.publish.tree", "swap", "swap (state.json dump, rename)"),
    ("kronos.publish.tree", "sync_filesystem", "sync (syncfs before the swap)"),
    ("kronos.publish.tree", "collect_garbage", "collect_garbage (pool rglob, rmtree)"),
)


def child(mode: str, cprofile_out: str | None) -> None:
    """Run `kronos publish --target sid` in-process (invoke's Program.run, the CLI's own code path) with
    exclusive-time stamps on kronos's steps; print a JSON split on stdout (last line)."""
    t_first = time.time()
    split = Split()
    split.charge("start-up: interpreter + site", t_first - float(os.environ["BENCH_SPAWN"]))
    t = time.perf_counter()
    import kronos.cli  # invoke, rich, config: what the CLI imports before any task

    split.charge("start-up: import kronos.cli (invoke, rich, config)", time.perf_counter() - t)
    t = time.perf_counter()
    from kronos.publish import outputs, publisher, settings, signing  # noqa: F401  (the task imports these)

    split.charge("start-up: import kronos.publish.* (python-debian, gnupg)", time.perf_counter() - t)

    for modname, path, cat in CATEGORIES:
        owner: object = importlib.import_module(modname)
        *parents, attr = path.split(".")
        for p in parents:
            owner = getattr(owner, p)
        split.wrap(owner, attr, cat)
    argv = ["kronos", "publish", "--target", SUITE]
    if cprofile_out:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        kronos.cli.program.run(argv, exit=False)
        prof.disable()
        prof.dump_stats(cprofile_out)  # also fills prof.stats, which pstats.Stats(prof) takes and empties
        top: list[TopRow] = []
        for (file, line, func), (_, nc, tt, ct, _) in sorted(prof.stats.items(), key=lambda kv: -kv[1][2])[:12]:
            top.append({"func": f"{Path(file).name}:{line}({func})", "calls": nc, "tottime": tt, "cumtime": ct})
        with open(cprofile_out + ".txt", "w") as f:
            pstats.Stats(prof, stream=f).sort_stats("tottime").print_stats(30)
            pstats.Stats(prof, stream=f).sort_stats("cumulative").print_stats(40)
        print(json.dumps({"top": top}))
        return
    before = sum(split.t.values())
    t = time.perf_counter()
    kronos.cli.program.run(argv, exit=False)
    elapsed = time.perf_counter() - t
    split.charge("CLI: invoke parse/dispatch, printing (rest of the task)", elapsed - (sum(split.t.values()) - before))
    print(json.dumps({"mode": mode, "cli_s": elapsed, "t_end": time.time(), "t": split.t, "n": split.n}))


@dataclass
class Sample:
    wall: float
    t: dict[str, float]
    n: dict[str, int]


def run_profile(r: Runner, s: DebSet, runs: int) -> Profile:
    """Median split of `runs` fresh-repo publishes (full, then add-one on it); then one cProfile pair."""
    splits: dict[str, list[Sample]] = {"full": [], "add": []}
    top: dict[str, Top] = {}
    for i in range(runs + 1):
        cprofile = i == runs
        base = r.work / "runs" / "kronos-profile"
        shutil.rmtree(base, ignore_errors=True)
        env = r.kronos_env(s.out, base / "repo")
        for mode in ("full", "add"):
            rdir = add_extra_recipe(s.out, s.extra) if mode == "add" else None
            try:
                argv = [sys.executable, "-m", "bench.publish_profile", mode]
                if cprofile:
                    argv.append(str(r.work / f"profile-{mode}.pstats"))
                env["BENCH_SPAWN"] = repr(time.time())
                t = time.perf_counter()
                proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
                wall = time.perf_counter() - t
            finally:
                if rdir is not None:
                    shutil.rmtree(rdir)
            if proc.returncode != 0:
                raise BenchError(f"profile {mode} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
            check(f"kronos profile {mode}", base / "repo" / "dists", s.count + (mode == "add"))
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            if cprofile:
                top[mode] = res
                continue
            t_cat: dict[str, float] = res["t"]
            t_cat["exit: interpreter shutdown"] = float(env["BENCH_SPAWN"]) + wall - res["t_end"]
            splits[mode].append(Sample(wall, t_cat, res["n"]))
    med: dict[str, SplitMedians] = {}
    for mode, rs in splits.items():
        cats = {c for r_ in rs for c in r_.t}
        med[mode] = {"wall": statistics.median(r_.wall for r_ in rs),
                     "walls": [r_.wall for r_ in rs],
                     "t": {c: statistics.median(r_.t.get(c, 0.0) for r_ in rs) for c in cats},
                     "n": rs[0].n}
    return {"split": med, "cprofile": top}


def importtime() -> list[tuple[str, float]]:
    """Cumulative import time of the heavy modules (python -X importtime), seconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import kronos.cli, kronos.publish.publisher, kronos.publish.signing,"
                           " kronos.publish.outputs"],
                          capture_output=True, text=True, check=True)
    cum: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, c, name = line.split("|")
            if c.strip().isdigit():
                cum.setdefault(name.strip(), int(c) / 1e6)
    want = ("kronos.cli", "invoke", "invoke.context", "unittest.mock", "importlib.metadata", "kronos.log",
            "rich.console", "kronos.config", "kronos.publish.publisher", "debian.deb822", "debian.debfile",
            "kronos.publish.signing", "gnupg")
    return [(k, cum[k]) for k in want if k in cum]


def startup(kronos: str) -> dict[str, float]:
    """Medians of 5: bare interpreter, `import kronos.cli`, `kronos --version` (invoke's whole start-up)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_")}
    cmds = {"python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import kronos.cli'": [sys.executable, "-c", "import kronos.cli"],
            "python -c 'import kronos.cli, kronos.publish.{publisher,signing,outputs}'":
                [sys.executable, "-c", "import kronos.cli, kronos.publish.publisher, kronos.publish.signing,"
                                       " kronos.publish.outputs"],
            "kronos --version": [kronos, "--version"]}
    res = {}
    for name, argv in cmds.items():
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            ts.append(time.perf_counter() - t)
        res[name] = statistics.median(ts)
    return res


def print_profile(prof: Profile, st: dict[str, float], imps: list[tuple[str, float]], count: int,
                  runs: int) -> None:
    split, top = prof["split"], prof["cprofile"]
    print("\nkronos start-up (medians of 5, s):")
    for k, v in st.items():
        print(f"  {k:75} {v:6.3f}")
    print("  python -X importtime, cumulative: " + ", ".join(f"{k} {v:.3f}" for k, v in imps))
    for mode, label in (("full", f"full publish of {count}"), ("add", "add-one")):
        sp = split[mode]
        print(f"\nkronos split, {label}: `kronos publish` run in-process (Program.run) in a fresh"
              f" interpreter; medians of {runs}"
              f" (wall {' '.join(f'{w:.2f}' for w in sp['walls'])} s)")
        print(f"  {'category (exclusive time)':66} {'s':>7} {'%':>6} {'calls':>6}")
        for cat, v in sorted(sp["t"].items(), key=lambda kv: -kv[1]):
            print(f"  {cat:66} {v:7.3f} {100 * v / sp['wall']:5.1f}% {sp['n'].get(cat, 1):6d}")
        print(f"  {'sum of medians':66} {sum(sp['t'].values()):7.3f}")
        print(f"  cProfile top by tottime ({label}, one run; profiler overhead inflates python-heavy rows):")
        for row in top[mode]["top"][:10]:
            print(f"    {row['tottime']:7.3f} s  {row['calls']:7d}x  {row['func']}")


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
