"""What a client reads changes with the one rename of the generation swap, or not at all; directories
left by killed publishes are never served and never cost the previous generation.

Real `kronos publish` processes (killed with SIGKILL at their checkpoints, or failing there), real
gpg, the tree served over HTTP on 127.0.0.1; no container."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import repo_helpers as rh

pytestmark = pytest.mark.integration

CLIENT_FILES = ("kronos-archive-keyring.pgp", "kronos-archive-keyring.asc", "kronos.sources")


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[Path, str, str]]:
    home = rh.gpg_home()
    try:
        yield (home, rh.new_key(home, "Kronos Swap A <swap-a@example.invalid>"),
               rh.new_key(home, "Kronos Swap B <swap-b@example.invalid>"))
    finally:
        rh.close_gpg_home(home)


@pytest.fixture(scope="module")
def server() -> Iterator[rh.Server]:
    with rh.Server().running() as s:
        yield s


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def served(url: str, root: Path) -> dict[str, str]:
    """sha256 of what a client fetches over HTTP: the client files, the signed files and indices of
    every suite, and every pool file (or '404')."""
    paths = list(CLIENT_FILES)
    for suite in ("bookworm", "trixie"):
        paths += [f"dists/{suite}/{n}" for n in ("InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages",
                                                 "main/binary-amd64/Packages.xz")]
    paths += sorted(p.relative_to(root).as_posix() for p in (root / "pool").rglob("*.deb"))
    out = {}
    for path in paths:
        try:
            with urllib.request.urlopen(f"{url}/{path}", timeout=30) as r:
                out[path] = hashlib.sha256(r.read()).hexdigest()
        except urllib.error.HTTPError as e:
            out[path] = str(e.code)
    return out


def kill_at(label: str, targets: list[str], env: rh.Env, limit: int = 40) -> str:
    """SIGKILL a publish at its checkpoint `label` (tried at checkpoint 1, 2, ..., each time on the
    tree as it was: a killed run's leftovers change the next run's checkpoints); its stderr."""
    pristine = rh.copy_tree(env.repo, env.repo.with_name(env.repo.name + ".pristine"))
    for n in range(1, limit):
        shutil.rmtree(env.repo)
        rh.copy_tree(pristine, env.repo)
        env.fault_at = n
        proc = rh.publish(targets, env)
        assert proc.returncode == -9, ok(proc)
        if f"({label})" in proc.stderr:
            env.fault_at = None
            shutil.rmtree(pristine)
            return proc.stderr
    raise AssertionError(f"no checkpoint '{label}' among the first {limit}")


def to_earlier_layout(root: Path) -> None:
    """The tree as an earlier kronos left it: client files as regular files at the top level only."""
    live = root / "dists"
    for name in CLIENT_FILES:
        data = (root / name).read_bytes()
        (root / name).unlink()
        (root / name).write_bytes(data)
        (live / name).unlink(missing_ok=True)


def _first_publish(tmp_path: Path, home: Path, key: str) -> tuple[rh.Outputs, Path, rh.Env]:
    """bookworm served with package kt-one 1.0-1, signed by key."""
    out = rh.Outputs(tmp_path / "out")
    out.add("bookworm", "one", "kt-one", [("kt-one", "1.0-1")])
    repo = tmp_path / "repo"
    env = rh.Env(repo, home, out.root, keys=key)
    assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
    return out, repo, env


@pytest.mark.parametrize("layout", ["current", "earlier"])
def test_client_files_change_with_the_swap(layout: str, tmp_path: Path, keys: tuple[Path, str, str],
                                           server: rh.Server) -> None:
    """Key A serves bookworm; then keys A+B and a new suite (new keyring and .sources). A publish
    killed, or failing, between writing the client files and the swap leaves everything a client
    fetches as it was; the complete publish changes it all at once."""
    home, a, b = keys
    out, repo, env = _first_publish(tmp_path, home, a)
    if layout == "earlier":
        to_earlier_layout(repo)
    url = server.add(f"swap-{layout}", repo)
    before = served(url, repo)
    assert all(len(v) == 64 for k, v in before.items() if "trixie" not in k), before

    out.add("trixie", "two", "kt-two", [("kt-two", "1.0-1")])
    env.keys = f"{a},{b}"
    kill_at("generation written", ["bookworm", "trixie"], env)
    after = served(url, repo)
    changed = sorted(k for k in before if before[k] != after[k])
    assert not changed, f"a publish killed before its swap changed what clients fetch: {changed}"

    gens = sorted(p.name for p in (repo / ".generations").iterdir())
    pool = rh.snapshot(repo / "pool")  # with the files of the killed publish: kept, never published
    out.add("trixie", "three", "kt-three", [("kt-three", "1.0-1")])  # a pool file for the failing publish
    failed = subprocess.run(rh.publish_argv(["bookworm", "trixie"]), cwd=rh.ROOT, text=True, capture_output=True,
                            env={**env.vars(), "KRONOS_FAULT_FAIL": "generation written"}, timeout=120)
    errors = [ln for ln in (failed.stdout + failed.stderr).splitlines() if ln.startswith("kronos: error:")]
    assert failed.returncode != 0, f"the publish did not fail at 'generation written'\n{ok(failed)}"
    assert len(errors) == 1 and "No space left on device" in errors[0], ok(failed)
    after = served(url, repo)
    changed = sorted(k for k in before if before[k] != after[k])
    assert not changed, f"a publish that failed before its swap changed what clients fetch: {changed}"
    assert sorted(p.name for p in (repo / ".generations").iterdir()) == gens, "the failed publish left its generation"
    assert rh.snapshot(repo / "pool") == pool, "the failed publish changed the pool"

    assert (p := rh.publish(["bookworm", "trixie"], env)).returncode == 0, ok(p)
    final = served(url, repo)
    assert all(final[k] != before[k] for k in (*CLIENT_FILES, "dists/bookworm/InRelease")), (before, final)
    assert "Suites: bookworm trixie" in (repo / "kronos.sources").read_text()
    for name in CLIENT_FILES:
        assert os.readlink(repo / name) == f"dists/{name}", f"{name} is not switched by the swap"


def test_leftover_generation_is_not_served_and_costs_nothing(tmp_path: Path, keys: tuple[Path, str, str],
                                                             server: rh.Server) -> None:
    """A publish killed after it made its generation directory leaves it behind; the next publish
    neither serves it nor lets it displace the previous generation, and removes it."""
    home, a, _ = keys
    out, repo, env = _first_publish(tmp_path, home, a)
    first = Path(os.readlink(repo / "dists")).parent.name
    out.add("bookworm", "two", "kt-two", [("kt-two", "1.0-1")])
    kill_at("bookworm Release", ["bookworm"], env)
    leftover = [p.name for p in (repo / ".generations").iterdir() if p.name != first]
    assert len(leftover) == 1 and (repo / ".generations" / leftover[0] / "dists/bookworm/Release").is_file(), leftover
    out.add("bookworm", "three", "kt-three", [("kt-three", "1.0-1")])
    assert (p := rh.publish(["bookworm"], env)).returncode == 0, ok(p)
    live = Path(os.readlink(repo / "dists")).parent.name
    gens = sorted(p.name for p in (repo / ".generations").iterdir())
    assert live != leftover[0], f"the leftover generation {leftover[0]} of a killed publish is served"
    assert first in gens, f"the previous generation {first} was removed, the leftover {leftover[0]} kept: {gens}"
    assert gens == sorted([first, live]), f"the leftover {leftover[0]} stays: {gens}"
    url = server.add("leftover-gen", repo)
    with urllib.request.urlopen(f"{url}/dists/bookworm/main/binary-amd64/Packages", timeout=30) as r:
        packages = r.read().decode()
    assert set(re.findall(r"(?m)^Package: (\S+)$", packages)) == {"kt-one", "kt-two", "kt-three"}
