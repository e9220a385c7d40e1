"""`kronos publish` under crashes, concurrency, key rotation and bad input, judged by real apt.

Every repository state is served over HTTP on 127.0.0.1 and read by apt in a clean container of the
bookworm base image (host network), apt restricted to one deb822 source whose Signed-By is a given
binary keyring:  apt-get update --error-on=any  must exit 0 with no W:/E: line, also with
Acquire::By-Hash=force, and apt-cache madison tells which packages apt then sees. The states of one
test are checked in one container run.

The crash test's checkpoints are chosen by a seeded RNG: the seed is printed and can be set with
KRONOS_CRASH_SEED.
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import hashlib
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.engine import Engine, get_engine
from kronos.pipeline import Pipeline

from . import repo_helpers as rh

pytestmark = pytest.mark.integration

SUITES = ["bookworm", "trixie"]
ARCHIVE_UID = "Kronos Test Archive <archive@example.invalid>"
WORKERS = 2  # crash runs at once (each with its own copy of the GnuPG home)
VERSIONS = ["1.0-1", "2.3.1-2", "0.9~rc1-1", "1.0+git20260101-1", "4.2-1~bpo12+1"]

Seen = set[tuple[str, str, str]]  # what apt-cache madison shows: (package, version, suite)


# --- scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    target: str
    name: str
    source: str
    packages: tuple[tuple[str, str], ...]
    payload: str = ""


def write_outputs(out: rh.Outputs, recipes: list[Recipe]) -> None:
    for r in recipes:
        out.add(r.target, r.name, r.source, list(r.packages), payload=r.payload)


def seen(recipes: list[Recipe]) -> Seen:
    return {(name, version, r.target) for r in recipes for name, version in r.packages}


def names(recipes: list[Recipe]) -> list[str]:
    return sorted({name for r in recipes for name, _ in r.packages})


def old_recipes() -> list[Recipe]:
    """30 packages in 12 recipes on bookworm (some with lib* sources), 6 in 3 recipes on trixie."""
    out = []
    for r in range(12):
        pkgs = tuple((f"kt-bw{i:02d}", VERSIONS[i % len(VERSIONS)]) for i in range(30) if i % 12 == r)
        out.append(Recipe("bookworm", f"bw{r:02d}", f"libkt{r}" if r % 4 == 0 else f"kt-src{r}", pkgs))
    for r in range(3):
        out.append(Recipe("trixie", f"tx{r}", f"kt-tsrc{r}", ((f"kt-tx{r}a", "1.0-1"), (f"kt-tx{r}b", "1.0-1"))))
    return out


PARALLEL = 64  # kronos.publish.indices.PARALLEL: from this many new .debs on, worker processes read them


def changes() -> list[Recipe]:
    """New recipes (8 + 2 + PARALLEL + 2 packages: the new .debs are read by worker processes) and a
    rebuild of bw01 and tx1 with new versions."""
    out = [Recipe("bookworm", f"bwnew{r}", f"kt-new{r}",
                  tuple((f"kt-new{r}{c}", VERSIONS[r]) for c in "abc"[: 3 if r < 2 else 2])) for r in range(3)]
    out.append(Recipe("bookworm", "bwmany", "kt-many",
                      tuple((f"kt-many{i:02d}", "1.0-1") for i in range(PARALLEL + 2))))
    out.append(Recipe("bookworm", "bw01", "kt-src1", (("kt-bw01", "5.0-1"), ("kt-bw13", "5.0-1"),
                                                        ("kt-bw25", "5.0-1"))))
    out.append(Recipe("trixie", "tx1", "kt-tsrc1", (("kt-tx1a", "1.1-1"), ("kt-tx1b", "1.1-1"))))
    out.append(Recipe("trixie", "txnew", "kt-tnew", (("kt-txnew", "0.1-1"), ("libkt-txnew1", "0.1-1"))))
    return out


def merged(base: list[Recipe], changed: list[Recipe]) -> list[Recipe]:
    """The output dir after `changed` was built: rebuilt recipes replace their earlier build."""
    keys = {(r.target, r.name) for r in changed}
    return [r for r in base if (r.target, r.name) not in keys] + changed


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Engine:
    return get_engine()


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    settings = load_settings(rh.ROOT, env=rh.clean_env())
    return Pipeline(settings, engine).images(["bookworm"])[0].ref


@pytest.fixture(scope="module")
def server() -> Iterator[rh.Server]:
    with rh.Server().running() as s:
        yield s


@dataclass
class Keys:
    home: Path
    archive: str  # no passphrase


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    home = rh.gpg_home()
    try:
        yield Keys(home, rh.new_key(home, ARCHIVE_UID))
    finally:
        rh.close_gpg_home(home)


def keyring(root: Path) -> bytes:
    return (root / "kronos-archive-keyring.pgp").read_bytes()


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


# --- 1. crashes ----------------------------------------------------------------------------


def count_checkpoints(monkeypatch: pytest.MonkeyPatch, tree: Path, env: rh.Env) -> list[str]:
    """The labels of the checkpoints one publish passes, in order (in-process, on a copy)."""
    from kronos.publish import fault
    from kronos.publish import publisher as publisher_mod
    from kronos.publish.outputs import uploads
    from kronos.publish.settings import load_repo_settings
    from kronos.publish.signing import signer

    labels: list[str] = []
    for mod in [m for name, m in sys.modules.items() if name.startswith("kronos.publish.") and m is not fault]:
        if getattr(mod, "checkpoint", None) is fault.checkpoint:  # every `from .fault import checkpoint`
            monkeypatch.setattr(mod, "checkpoint", labels.append)
    for k in [k for k in os.environ if k.startswith("KRONOS_")]:
        monkeypatch.delenv(k)
    settings = load_settings(rh.ROOT, env=env.vars())
    repo = load_repo_settings(rh.ROOT, env.vars())
    assert repo.path == tree
    pub = publisher_mod.Publisher(repo, lambda: signer(repo), settings.architecture)
    pub.publish(uploads(settings, SUITES)[0])
    monkeypatch.undo()
    return labels


def test_kill_at_any_point_leaves_old_or_new_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   engine: Engine, image: str, server: rh.Server,
                                                   keys: Keys) -> None:
    seed = int(os.environ.get("KRONOS_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    print(f"crash test: KRONOS_CRASH_SEED={seed}")
    old, new = old_recipes(), merged(old_recipes(), changes())
    old_seen, new_seen = seen(old), seen(old) | seen(changes())
    failures: list[str] = []
    pkgs = names(new)
    old_out, new_out = rh.Outputs(tmp_path / "out-old"), rh.Outputs(tmp_path / "out-new")
    write_outputs(old_out, old)
    write_outputs(new_out, new)
    pristine = tmp_path / "pristine"
    first = rh.publish(SUITES, rh.Env(pristine, keys.home, old_out.root, keys=keys.archive))
    assert first.returncode == 0, ok(first)

    labels = count_checkpoints(monkeypatch, tmp_path / "count",
                               rh.Env(rh.copy_tree(pristine, tmp_path / "count"), keys.home, new_out.root,
                                      keys=keys.archive))
    total = len(labels)
    swapped = labels.index("swapped") + 1  # from this checkpoint on, the new state is published
    listed = ", ".join(f"{i}={x}" for i, x in enumerate(labels, 1))
    print(f"crash test: a full publish passes {total} checkpoints: {listed}")
    assert total >= 6 and labels[-1] == "swapped" and "reading .debs" in labels, labels
    points = checkpoints_to_kill(rng, total, 20)
    if labels.index("reading .debs") + 1 not in points:  # the parent dies while its workers read
        points.append(labels.index("reading .debs") + 1)
    print(f"crash test: SIGKILL at checkpoints {points}")

    homes = [keys.home] + [rh.copy_gpg_home(keys.home) for _ in range(WORKERS - 1)]
    free: queue.Queue[Path] = queue.Queue()
    for h in homes:
        free.put(h)

    def fault_run(i: int, n: int) -> tuple[str, Path, Path, set[str]]:
        home = free.get()
        try:
            tree = rh.copy_tree(pristine, tmp_path / "runs" / f"fault{i}")
            env = rh.Env(tree, home, new_out.root, keys=keys.archive, fault_at=n)
            proc = rh.publish(SUITES, env)
            what = f"seed {seed}: KRONOS_FAULT_AT={n} ({labels[n - 1]})"
            assert proc.returncode == -9, f"{what}: not killed by SIGKILL\n{ok(proc)}"
            assert f"SIGKILL at checkpoint {n} ({labels[n - 1]})" in proc.stderr, f"{what}\n{ok(proc)}"
            crashed = rh.copy_tree(tree, tmp_path / "crashed" / f"fault{i}")
            env.fault_at = None
            again = rh.publish(SUITES, env)
            assert again.returncode == 0, f"{what}: the publish after the crash failed\n{ok(again)}"
            return what, crashed, tree, {"new"} if n >= swapped else {"old"}
        finally:
            free.put(home)

    started = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            runs = list(pool.map(fault_run, range(len(points)), points))
    finally:
        for h in homes[1:]:
            rh.close_gpg_home(h)
    print(f"crash test: {len(points)} killed publishes and their recoveries took {time.monotonic() - started:.1f}s")

    # the same publish with a checkpoint beyond the last never dies: the new state, and its duration
    tree = rh.copy_tree(pristine, tmp_path / "runs" / "beyond")
    start = time.monotonic()
    full = rh.publish(SUITES, rh.Env(tree, keys.home, new_out.root, keys=keys.archive, fault_at=total + 1))
    typical = time.monotonic() - start
    assert full.returncode == 0, ok(full)
    runs.append((f"KRONOS_FAULT_AT={total + 1} (never reached)", rh.copy_tree(tree, tmp_path / "crashed" / "beyond"),
                 tree, {"new"}))

    # kill -9 by time, at a random moment of a publish
    for i in range(3):
        delay = rng.uniform(0, typical)
        tree = rh.copy_tree(pristine, tmp_path / "runs" / f"timed{i}")
        env = rh.Env(tree, keys.home, new_out.root, keys=keys.archive)
        proc = rh.popen_publish(SUITES, env)
        try:
            time.sleep(delay)
        finally:
            rh.kill_group(proc)
            proc.communicate()
        what = f"seed {seed}: SIGKILL after {delay:.3f}s of {typical:.3f}s (exit {proc.returncode})"
        print(f"crash test: {what}")
        assert proc.returncode in (0, -9), what
        crashed = rh.copy_tree(tree, tmp_path / "crashed" / f"timed{i}")
        again = rh.publish(SUITES, env)
        assert again.returncode == 0, f"{what}: the publish after the kill failed\n{ok(again)}"
        runs.append((what, crashed, tree, {"new"} if proc.returncode == 0 else {"old", "new"}))

    # Per state: a new client (by-hash), a client that had the old state (plain paths), and the
    # state after the next publish. All use the keyring the old state published.
    script = rh.AptScript()
    key = keyring(pristine)
    server.add("crash-pristine", pristine)
    script.client("pristine", f"{server.url}/live", SUITES, key)
    script.switch_live(server.url, "crash-pristine")
    script.update()
    script.madison(pkgs)
    script.save_lists("old")
    for i, (_, crashed, recovered, _) in enumerate(runs):
        url = server.add(f"crash{i}", crashed)
        script.client(f"{i} crashed, new client, by-hash", url, SUITES, key)
        script.update("Acquire::By-Hash=force")
        script.madison(pkgs)
        script.client(f"{i} crashed, client of the old state", f"{server.url}/live", SUITES, key)
        script.restore_lists("old")
        script.switch_live(server.url, f"crash{i}")
        script.update()
        script.madison(pkgs)
        script.client(f"{i} recovered, by-hash", server.add(f"recovered{i}", recovered), SUITES, key)
        script.update("Acquire::By-Hash=force")
        script.madison(pkgs)
    started = time.monotonic()
    checks = rh.run_apt(engine, image, script, tmp_path)
    print(f"crash test: apt checked {len(script.names)} clients in {time.monotonic() - started:.1f}s")
    states = {"old": old_seen, "new": new_seen}
    assert checks["pristine"].clean and checks["pristine"].madison == old_seen, checks["pristine"].report()
    for i, (what, _, _, allowed) in enumerate(runs):
        for kind in ("crashed, new client, by-hash", "crashed, client of the old state", "recovered, by-hash"):
            c = checks[f"{i} {kind}"]
            want = {"new"} if kind.startswith("recovered") else allowed
            got = [name for name, s in states.items() if s == c.madison]
            if not c.clean:
                failures.append(f"{what}: {kind}: apt-get update not clean\n{c.report()}")
            elif not set(got) & want:
                extra, missing = sorted(c.madison - new_seen), sorted(new_seen - c.madison)
                failures.append(f"{what}: {kind}: apt sees {got or 'a mix'} instead of {sorted(want)}"
                                f" (not in new: {extra}; missing from new: {missing})")
    assert not failures, f"seed {seed}:\n" + "\n\n".join(failures)


def checkpoints_to_kill(rng: random.Random, total: int, runs: int) -> list[int]:
    """At least `runs` checkpoints: the first and the last, and distinct ones drawn from each third."""
    thirds = [range(1, total // 3 + 1), range(total // 3 + 1, 2 * total // 3 + 1), range(2 * total // 3 + 1, total + 1)]
    picked = {1, total}
    for third in thirds:
        picked |= set(rng.sample(third, min(len(third), -(-runs // 3))))
    points = sorted(picked)
    rng.shuffle(points)
    while len(points) < runs:
        points.append(rng.randint(1, total))
    return points


def test_leftover_of_a_killed_publish_does_not_poison_the_pool(tmp_path: Path, engine: Engine, image: str,
                                                              server: rh.Server, keys: Keys) -> None:
    """A pool file written by a killed publish was never published; a rebuild of it must be served."""
    out = rh.Outputs(tmp_path / "out")
    out.add("bookworm", "base", "kt-base", [("kt-base", "1.0-1")])
    repo = tmp_path / "repo"
    env = rh.Env(repo, keys.home, out.root, keys=keys.archive)
    assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
    out.add("bookworm", "left", "kt-left", [("kt-left", "1.0-1")], payload="the build of the killed publish")
    for n in range(1, 10):  # the first checkpoint after that pool file is written
        env.fault_at = n
        killed = rh.publish(["bookworm"], env)
        assert killed.returncode == -9, ok(killed)
        if "(pool pool/main/k/kt-left/kt-left_1.0-1_all.deb)" in killed.stderr:
            break
    else:
        raise AssertionError("no checkpoint after the pool file")
    [deb] = out.add("bookworm", "left", "kt-left", [("kt-left", "1.0-1")], payload="a rebuild after the crash")
    env.fault_at = None
    again = rh.publish(["bookworm"], env)
    assert again.returncode == 0, ok(again)

    script = rh.AptScript()
    script.client("after", server.add("leftover", repo), ["bookworm"], keyring(repo))
    script.update()
    script.download("kt-left")
    c = rh.run_apt(engine, image, script, tmp_path)["after"]
    pool = repo / "pool/main/k/kt-left/kt-left_1.0-1_all.deb"
    assert c.clean, f"{c.report()}\npool file sha256 {sha(pool)}, published build {sha(deb)}"
    assert sha(pool) == sha(deb)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 2. concurrency ------------------------------------------------------------------------

CONCURRENT = [
    # (what, recipes of publisher A, of publisher B, start from an existing repository)
    ("other suites, new repository",
     [Recipe("bookworm", f"a{i}", f"kt-ca{i}", ((f"kt-ca{i}", "1.0-1"),)) for i in range(6)],
     [Recipe("trixie", f"b{i}", f"kt-cb{i}", ((f"kt-cb{i}", "1.0-1"),)) for i in range(6)], False),
    ("same suite, other packages",
     [Recipe("bookworm", f"a{i}", f"kt-ca{i}", ((f"kt-ca{i}", "1.0-1"), (f"kt-ca{i}-dev", "1.0-1"))) for i in range(4)],
     [Recipe("bookworm", f"b{i}", f"libkt-cb{i}", ((f"libkt-cb{i}", "2.0-1"),)) for i in range(5)], True),
    ("both suites each",
     [Recipe(t, f"a{i}", f"kt-ca{i}", ((f"kt-ca{i}", "1.0-1"),)) for i in range(3) for t in SUITES],
     [Recipe(t, f"b{i}", f"kt-cb{i}", ((f"kt-cb{i}", "3.0-1"),)) for i in range(3) for t in SUITES], True),
]
EXISTING = [Recipe("bookworm", "base", "kt-base", (("kt-base", "1.0-1"),)),
            Recipe("trixie", "base", "kt-base", (("kt-base", "1.0-1"),))]


def wait_until(what: str, path: Path, text: str, proc: subprocess.Popen[str], log: Path,
               timeout: float = 60) -> None:
    """Wait until path exists and holds text, while proc runs."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so (exit {proc.poll()})\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def test_concurrent_publishes_lose_nothing(tmp_path: Path, engine: Engine, image: str, server: rh.Server,
                                           keys: Keys) -> None:
    script = rh.AptScript()
    expected: dict[str, Seen] = {}
    for i, (what, a, b, existing) in enumerate(CONCURRENT):
        repo = tmp_path / f"repo{i}"
        start: list[Recipe] = []
        if existing:
            base = rh.Outputs(tmp_path / f"base{i}")
            write_outputs(base, EXISTING)
            first = rh.publish(SUITES, rh.Env(repo, keys.home, base.root, keys=keys.archive))
            assert first.returncode == 0, ok(first)
            start = EXISTING
        # A is held inside the lock until B says that it waits for A; then both go on
        resume = tmp_path / f"resume{i}"
        procs: list[subprocess.Popen[str]] = []
        logs: list[Path] = []
        for tag, recipes in (("a", a), ("b", b)):
            out = rh.Outputs(tmp_path / f"out{i}{tag}")
            write_outputs(out, recipes)
            targets = sorted({r.target for r in recipes})
            extra = {"KRONOS_FAULT_WAIT": f"locked={resume}"} if tag == "a" else {}
            logs.append(tmp_path / f"publish{i}{tag}.log")
            with logs[-1].open("w") as log:
                procs.append(subprocess.Popen(
                    rh.publish_argv(targets), cwd=rh.ROOT, text=True, stdout=log, stderr=subprocess.STDOUT,
                    env={**rh.Env(repo, keys.home, out.root, keys=keys.archive).vars(), **extra},
                    stdin=subprocess.DEVNULL))
            if tag == "a":
                wait_until(f"{what}: publish A holds the lock", resume.with_name(resume.name + ".waiting"), "",
                           procs[0], logs[0])
        try:
            wait_until(f"{what}: publish B waits for the lock", logs[1], "waiting for the publish lock", procs[1],
                       logs[1])
            assert procs[0].poll() is None, f"{what}: A did not hold the lock\n{logs[0].read_text()[-3000:]}"
        finally:
            resume.touch()
            for p in procs:
                p.wait(timeout=120)
        for p, log in zip(procs, logs, strict=True):
            assert p.returncode == 0, f"{what}: exit {p.returncode}\n{log.read_text()[-3000:]}"
        assert f"held by pid {procs[0].pid} (running" in logs[1].read_text(), logs[1].read_text()[-3000:]
        want = seen(start + a + b)
        listed = rh.kronos(["repo.list"], rh.Env(repo, keys.home, tmp_path / "none", keys=keys.archive))
        rows = {tuple(line.split()) for line in listed.stdout.splitlines()}
        assert {(s, n, v, "all") for n, v, s in want} == rows, f"{what}: kronos repo.list\n{listed.stdout}"
        expected[what] = want
        script.client(what, server.add(f"concurrent{i}", repo), SUITES, keyring(repo))
        script.update("Acquire::By-Hash=force")
        script.madison(names(start + a + b))
    checks = rh.run_apt(engine, image, script, tmp_path)
    for what, want in expected.items():
        c = checks[what]
        assert c.clean, c.report()
        assert c.madison == want, f"{what}: apt misses {sorted(want - c.madison)}, has extra {sorted(c.madison - want)}"


def test_concurrent_first_publishes_agree_on_one_development_key(tmp_path: Path, engine: Engine, image: str,
                                                                 server: rh.Server) -> None:
    """Without configured keys the first publish makes the development key: two at once must not race."""
    script = rh.AptScript()
    failures = []
    for i in range(4):
        home = rh.gpg_home()
        try:
            repo = tmp_path / f"repo{i}"
            procs = []
            for tag, suite in (("a", "bookworm"), ("b", "trixie")):
                out = rh.Outputs(tmp_path / f"out{i}{tag}")
                write_outputs(out, [Recipe(suite, "r", f"kt-d{tag}", ((f"kt-d{tag}", "1.0-1"),))])
                procs.append(rh.popen_publish([suite], rh.Env(repo, home, out.root)))
            for p in procs:
                stdout, stderr = p.communicate(timeout=120)
                if p.returncode != 0:
                    failures.append(f"run {i}: exit {p.returncode}: {stderr.strip().splitlines()[-1:]}")
            secret = rh.gpg(home, "--with-colons", "--list-secret-keys").count("\nfpr:")
            if secret != 1:
                failures.append(f"run {i}: {secret} development keys were made")
        finally:
            rh.close_gpg_home(home)
        published = [s for s in SUITES if (repo / "dists" / s / "InRelease").exists()]
        if published:
            script.client(f"run {i}", server.add(f"devkey{i}", repo), published, keyring(repo))
            script.update()
    checks = rh.run_apt(engine, image, script, tmp_path) if script.names else {}
    failures += [f"{c.name}: a client of the published keyring fails\n{c.report()}"
                 for c in checks.values() if not c.clean]
    assert not failures, "\n".join(failures)


# --- 3. key rotation -----------------------------------------------------------------------


@dataclass
class Rotation:
    only: dict[str, bytes]  # key -> a keyring holding only that key
    states: dict[str, Path]  # state -> a copy of the tree


@pytest.fixture(scope="module")
def rotation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotation]:
    """Keys A and B (kronos keys.create); published signed by A+B, then by B alone: once with nothing
    else changed, once with a new package."""
    tmp = tmp_path_factory.mktemp("rotation")
    home = rh.gpg_home()
    try:
        out = rh.Outputs(tmp / "out")
        repo = tmp / "repo"
        env = rh.Env(repo, home, out.root)
        made = {}
        for tag in "AB":
            proc = rh.kronos(["keys.create", "--uid", f"Kronos Archive {tag} <archive-{tag.lower()}@example.invalid>"],
                             env)
            assert proc.returncode == 0, ok(proc)
            made[tag] = proc.stdout.strip().splitlines()[-1]
            assert re.fullmatch(r"[0-9A-F]{40}", made[tag]), ok(proc)
        only = {tag: rh.export_key(home, fpr, tmp / f"{tag}.pgp").read_bytes() for tag, fpr in made.items()}
        states = {}
        write_outputs(out, [Recipe("bookworm", "r1", "kt-rot", (("kt-rot", "1.0-1"),))])
        env.keys = f"{made['A']},{made['B']}"
        assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
        states["A+B"] = rh.copy_tree(repo, tmp / "both")
        env.keys = made["B"]
        assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
        states["B, nothing else changed"] = rh.copy_tree(repo, tmp / "b-same")
        write_outputs(out, [Recipe("bookworm", "r2", "kt-rot2", (("kt-rot2", "1.0-1"),))])
        assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
        states["B, new package"] = rh.copy_tree(repo, tmp / "b-new")
        yield Rotation(only, states)
    finally:
        rh.close_gpg_home(home)


def rotation_checks(rotation: Rotation, names: list[str], engine: Engine, image: str, server: rh.Server,
                    tmp_path: Path) -> list[str]:
    """Clients holding only A, only B, or the published keyring, against states; the failures."""
    script = rh.AptScript()
    for state in names:
        root = rotation.states[state]
        url = server.add(f"rotation-{state}", root)
        for holder, ring in (("A", rotation.only["A"]), ("B", rotation.only["B"]), ("published", keyring(root))):
            script.client(f"{state} / {holder}", url, ["bookworm"], ring)
            script.update()
            script.client(f"{state} / {holder} / by-hash", url, ["bookworm"], ring)
            script.update("Acquire::By-Hash=force")
    checks = rh.run_apt(engine, image, script, tmp_path)
    failures = []
    for c in checks.values():
        state, holder = c.name.split(" / ")[:2]
        if holder == "A" and state != "A+B":
            if c.updates[0].returncode == 0 or not any("NO_PUBKEY" in ln or "not signed" in ln for ln in c.lines):
                failures.append(f"{c.name}: a client holding only the retired key A still accepts the"
                                f" repository\n{c.report()}")
        elif not c.clean:
            failures.append(f"{c.name}: not clean\n{c.report()}")
    return failures


def test_key_rotation(rotation: Rotation, engine: Engine, image: str, server: rh.Server, tmp_path: Path) -> None:
    """Signed by A and B: clients of either key are clean. Then by B: only B's clients are."""
    failures = rotation_checks(rotation, ["A+B", "B, new package"], engine, image, server, tmp_path)
    assert not failures, "\n\n".join(failures)


def test_key_rotation_takes_effect_without_new_packages(rotation: Rotation, engine: Engine, image: str,
                                                        server: rh.Server, tmp_path: Path) -> None:
    """Retiring key A is one publish with KRONOS_SIGNING_KEYS=B, whether or not a package changed."""
    failures = rotation_checks(rotation, ["B, nothing else changed"], engine, image, server, tmp_path)
    assert not failures, "\n\n".join(failures)


# --- 4. bad input --------------------------------------------------------------------------


@dataclass
class BadCase:
    id: str
    error: str  # a regex the one error line must match


BAD = [BadCase("missing key", r"signing key [0-9A-F]{40} not found"),
       BadCase("expired key", r"signing key [0-9A-F]{40} expired on \d{4}-\d\d-\d\d"),
       BadCase("wrong passphrase", r"cannot sign with [0-9A-F]{40}: bad passphrase"),
       BadCase("wrong passphrase file", r"cannot sign with [0-9A-F]{40}: bad passphrase"),
       BadCase("conflicting pool file", r"pool file pool/main/k/kt-bad/kt-bad_1\.0-1_all\.deb already exists"
                                        r" with other content")]


@dataclass
class BadRepo:
    root: Path
    home: Path
    out: rh.Outputs
    good: str
    expiring: str
    locked: str


@pytest.fixture(scope="module")
def bad_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BadRepo]:
    tmp = tmp_path_factory.mktemp("bad")
    home = rh.gpg_home()
    try:
        good = rh.new_key(home, ARCHIVE_UID)
        expiring = rh.new_key(home, "Short Lived <short@example.invalid>", expire="1d")
        locked = rh.new_key(home, "Locked <locked@example.invalid>", passphrase="right")
        out = rh.Outputs(tmp / "out")
        write_outputs(out, [Recipe("bookworm", "bad", "kt-bad", (("kt-bad", "1.0-1"),)),
                            Recipe("trixie", "other", "kt-other", (("kt-other", "1.0-1"),))])
        root = tmp / "repo"
        assert (p := rh.publish(SUITES, rh.Env(root, home, out.root, keys=good))).returncode == 0, ok(p)
        yield BadRepo(root, home, out, good, expiring, locked)
    finally:
        rh.close_gpg_home(home)


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_is_refused_and_changes_nothing(case: BadCase, bad_repo: BadRepo, tmp_path: Path) -> None:
    root = rh.copy_tree(bad_repo.root, tmp_path / "repo")
    out = rh.Outputs(tmp_path / "out")
    shutil.copytree(bad_repo.out.root, out.root, dirs_exist_ok=True, symlinks=True)
    # something new to publish, so that a publish that writes before it fails is caught
    write_outputs(out, [Recipe("bookworm", "new", "kt-new", (("kt-new", "1.0-1"),))])
    env = rh.Env(root, bad_repo.home, out.root, keys=bad_repo.good)
    if case.id == "missing key":
        env.keys = "0123456789ABCDEF0123456789ABCDEF01234567"
    elif case.id == "expired key":
        env.keys = bad_repo.expiring
        env.now = int(time.time()) + 2 * 86400
    elif case.id == "wrong passphrase":
        env.keys, env.passphrase = bad_repo.locked, "wrong"
    elif case.id == "wrong passphrase file":
        (tmp_path / "pass").write_text("wrong\n")
        env.keys, env.passphrase = bad_repo.locked, "right"
        env.passphrase_file = tmp_path / "pass"
    else:
        write_outputs(out, [Recipe("bookworm", "bad", "kt-bad", (("kt-bad", "1.0-1"),), payload="rebuilt")])
    before = rh.snapshot(root)
    proc = rh.publish(SUITES, env)
    text = proc.stdout + proc.stderr
    errors = [ln for ln in text.splitlines() if ln.startswith("kronos: error:")]
    assert proc.returncode != 0, ok(proc)
    assert "Traceback" not in text, ok(proc)
    assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1], ok(proc)
    assert re.search(case.error, errors[0]), errors[0]
    after = rh.snapshot(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    tops = sorted({"/".join(k.split("/")[:2]) for k in changed})
    assert not changed, f"{case.id}: the refused publish changed {len(changed)} paths, below {tops}: {changed[-3:]}"


# --- 5. checklist items that need apt's view -----------------------------------------------


def test_date_never_goes_backwards_and_release_info_is_stable(tmp_path: Path, engine: Engine, image: str,
                                                              server: rh.Server, keys: Keys) -> None:
    out = rh.Outputs(tmp_path / "out")
    repo = tmp_path / "repo"
    t0 = int(time.time()) - 7200
    states: list[Path] = []
    for i, (now, recipe) in enumerate(((t0, "first"), (t0 - 3600, "second"), (t0 + 60, "third"))):
        write_outputs(out, [Recipe(s, recipe, f"kt-{recipe}", ((f"kt-{recipe}", "1.0-1"),)) for s in SUITES])
        env = rh.Env(repo, keys.home, out.root, keys=keys.archive, now=now)
        assert (p := rh.publish(SUITES, env)).returncode == 0, ok(p)
        states.append(rh.copy_tree(repo, tmp_path / f"state{i}"))
    for suite in SUITES:
        fields = [rh.release_fields(s, suite) for s in states]
        dates = [email.utils.parsedate_to_datetime(f["Date"]).timestamp() for f in fields]
        assert all(f["Date"].endswith(" UTC") for f in fields), [f["Date"] for f in fields]
        assert all(a < b for a, b in zip(dates, dates[1:], strict=False)), \
            f"{suite}: Date did not increase with every publish: {[f['Date'] for f in fields]}"
        assert dates == [t0, t0 + 1, t0 + 60], [f["Date"] for f in fields]
        for key in ("Origin", "Label", "Codename", "Suite", "Architectures", "Components"):
            assert len({f.get(key) for f in fields}) == 1, f"{suite}: {key} changed: {[f.get(key) for f in fields]}"
        assert fields[0]["Codename"] == fields[0]["Suite"] == suite
    for i, s in enumerate(states):
        server.add(f"date{i}", s)
    script = rh.AptScript()
    pkgs = ["kt-first", "kt-second", "kt-third"]
    script.client("moving client", f"{server.url}/live", SUITES, keyring(repo))
    for i in range(3):
        script.switch_live(server.url, f"date{i}")
        script.update()
    script.madison(pkgs)
    script.client("second, seen after the first", f"{server.url}/live", SUITES, keyring(repo))
    script.switch_live(server.url, "date0")
    script.update()
    script.switch_live(server.url, "date1")
    script.update()
    script.madison(pkgs)
    checks = rh.run_apt(engine, image, script, tmp_path)
    for name, want in (("moving client", pkgs), ("second, seen after the first", pkgs[:2])):
        c = checks[name]
        assert c.clean, c.report()
        assert c.madison == {(p, "1.0-1", s) for p in want for s in SUITES}, c.report()


def test_superseded_files_stay_for_the_grace_period(tmp_path: Path, engine: Engine, image: str,
                                                    server: rh.Server, keys: Keys) -> None:
    config = tmp_path / "repository.toml"
    text = (rh.ROOT / "repo" / "repository.toml").read_text()
    text = re.sub(r"(?m)^grace_hours\s*=\s*\d+", "grace_hours = 1", text)
    text = re.sub(r"(?m)^keep_versions\s*=\s*\d+", "keep_versions = 1", text)
    assert "grace_hours = 1" in text and "keep_versions = 1" in text
    config.write_text(text)
    out = rh.Outputs(tmp_path / "out")
    repo = tmp_path / "repo"
    t0 = int(time.time()) - 3 * 3600
    steps = [(t0, [Recipe("bookworm", "a", "kt-ga", (("kt-ga", "1.0-1"),)),
                   Recipe("bookworm", "b", "kt-gb", (("kt-gb", "1.0-1"),))]),
             (t0 + 60, [Recipe("bookworm", "a", "kt-ga", (("kt-ga", "2.0-1"),)),  # 1.0-1 superseded
                        Recipe("bookworm", "c", "kt-gc", (("kt-gc", "1.0-1"),))]),
             (t0 + 60 + 3600 + 1, [Recipe("bookworm", "d", "kt-gd", (("kt-gd", "1.0-1"),))])]  # past the grace
    gens: list[Path] = []
    for i, (now, recipes) in enumerate(steps):
        write_outputs(out, recipes)
        env = rh.Env(repo, keys.home, out.root, keys=keys.archive, now=now, config=config)
        assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
        gens.append(rh.copy_tree(repo, tmp_path / f"g{i}"))

    def byhash(root: Path) -> set[str]:
        text = (root / "dists/bookworm/Release").read_text().split("SHA256:\n", 1)[1].split("SHA512:", 1)[0]
        return {f"dists/bookworm/{Path(name).parent}/by-hash/SHA256/{h}"
                for h, _, name in (ln.split() for ln in text.splitlines() if ln.startswith(" "))}

    superseded1, superseded2 = byhash(gens[0]) - byhash(gens[1]), byhash(gens[1]) - byhash(gens[2])
    assert superseded1 and superseded2
    assert all((gens[1] / p).is_file() for p in superseded1), "superseded by-hash files gone within the grace"
    assert not any((gens[2] / p).exists() for p in superseded1), "superseded by-hash files kept past the grace"
    assert all((gens[2] / p).is_file() for p in superseded2), "just superseded by-hash files gone"
    old_deb = "pool/main/k/kt-ga/kt-ga_1.0-1_all.deb"
    assert (gens[1] / old_deb).is_file() and not (gens[2] / old_deb).exists()

    # clients that read InRelease just before a publish and the indices just after it
    script = rh.AptScript()
    cases = {"g1 release, g2 tree (in grace)": (gens[1], gens[0]), "g2 release, g3 tree (in grace)": (gens[2], gens[1]),
             "g1 release, g3 tree (past grace)": (gens[2], gens[0])}
    for i, (name, (root, release)) in enumerate(cases.items()):
        script.client(name, server.add(f"grace{i}", root, release_from=release), ["bookworm"], keyring(repo))
        script.update("Acquire::By-Hash=force")
        script.madison(["kt-ga", "kt-gb", "kt-gc", "kt-gd"])
        if release is gens[0]:
            script.download("kt-ga=1.0-1")
    checks = rh.run_apt(engine, image, script, tmp_path)
    in_grace = checks["g1 release, g2 tree (in grace)"]
    assert in_grace.clean, in_grace.report()
    assert in_grace.madison == {("kt-ga", "1.0-1", "bookworm"), ("kt-gb", "1.0-1", "bookworm")}, in_grace.report()
    assert checks["g2 release, g3 tree (in grace)"].clean, checks["g2 release, g3 tree (in grace)"].report()
    past = checks["g1 release, g3 tree (past grace)"]
    assert past.updates[0].returncode != 0, f"the by-hash files outlived the grace period\n{past.report()}"
