"""The three publishers, each timed the same way: a full publish + sign of the set into a fresh
repository, then adding one package and republishing. One GnuPG key signs for all three."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, BenchError, ensure_commands, timed
from bench.publish_debs import SUITE, DebSet, add_extra_recipe


@dataclass(frozen=True)
class Key:
    home: Path  # GNUPGHOME
    fpr: str


@contextmanager
def signing_key() -> Iterator[Key]:
    """An ephemeral GnuPG home (short path under /tmp: the agent's socket) with an ed25519 key without
    passphrase; its agent is stopped and the home removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Kronos Bench <bench@localhost>",
                        "ed25519", "sign", "1y"], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env, check=True,
                             capture_output=True, text=True).stdout
        yield Key(home, next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")))
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env)
        shutil.rmtree(home, ignore_errors=True)


class Runner:
    """Runs the tools' commands for one benchmark: logs in work/logs, repositories in work/runs."""

    def __init__(self, work: Path, key: Key, kronos: str) -> None:
        self.work, self.key, self.kronos = work, key, kronos
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def timed(self, label: str, argv: list[str], env: dict[str, str] | None = None) -> float:
        """Wall clock of one command; its output goes to work/logs/<label>.log; a failure stops the bench."""
        logf = self.logs / f"{label}.log"
        el, rc = timed(argv, logf, env=env)
        if rc != 0:
            raise BenchError(f"{label}: {argv[0]} exited {rc}; see {logf}:\n{logf.read_text()[-3000:]}")
        return el

    def fresh(self, tool: str, i: int) -> Path:
        base = self.work / "runs" / f"{tool}-{i}"
        shutil.rmtree(base, ignore_errors=True)
        return base

    def gpg_env(self) -> dict[str, str]:
        return {**os.environ, "GNUPGHOME": str(self.key.home)}

    def kronos_env(self, out: Path, repo: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_") and k != "GNUPGHOME"}
        env.update(KRONOS_ROOT=str(ROOT), KRONOS_OUTPUT_DIR=str(out), KRONOS_REPO_PATH=str(repo),
                   KRONOS_GNUPGHOME=str(self.key.home), KRONOS_SIGNING_KEYS=self.key.fpr,
                   KRONOS_SIGNING_PASSPHRASE="")
        return env


def dists_dir(work: Path, tool: str, i: int) -> Path:
    """Where run i of tool publishes its dists/."""
    base = work / "runs" / f"{tool}-{i}"
    return {"kronos": base / "repo", "reprepro": base, "aptly": base / "root" / "public"}[tool] / "dists"


def count_packages(packages: Path) -> int:
    return sum(1 for line in packages.read_text().splitlines() if line.startswith("Package: "))


def check(label: str, dists: Path, want: int) -> None:
    got = count_packages(dists / SUITE / "main" / "binary-amd64" / "Packages")
    if got != want:
        raise BenchError(f"{label}: Packages lists {got} packages, expected {want}")
    if not (dists / SUITE / "InRelease").exists() or not (dists / SUITE / "Release.gpg").exists():
        raise BenchError(f"{label}: no InRelease/Release.gpg in {dists / SUITE}")


def verify(r: Runner, tool: str, dists: Path) -> None:
    """The InRelease verifies with gpg against the bench key."""
    v = subprocess.run(["gpg", "--batch", "--verify", str(dists / SUITE / "InRelease")],
                       env=r.gpg_env(), capture_output=True)
    if v.returncode != 0:
        raise BenchError(f"{tool}: InRelease does not verify:\n{v.stderr.decode()}")


# ------------------------------------------------------------------------------------------------
# one run of each tool: (full publish, add-one) wall-clock seconds


def kronos_run(r: Runner, i: int, s: DebSet) -> tuple[float, float]:
    """`kronos publish --target sid` (CLI subprocess) over an output dir of recipe dirs."""
    r.fresh("kronos", i)
    dists = dists_dir(r.work, "kronos", i)
    env = r.kronos_env(s.out, dists.parent)
    argv = [r.kronos, "publish", "--target", SUITE]
    full = r.timed(f"kronos-{i}-full", argv, env)
    check(f"kronos run {i}", dists, s.count)
    rdir = add_extra_recipe(s.out, s.extra)
    try:
        add = r.timed(f"kronos-{i}-add", argv, env)
    finally:
        shutil.rmtree(rdir)
    check(f"kronos run {i} add-one", dists, s.count + 1)
    return full, add


def reprepro_run(r: Runner, i: int, s: DebSet) -> tuple[float, float]:
    """`includedeb` of all (exports Packages . .gz .xz, SignWith); no by-hash, no SHA512."""
    base = r.fresh("reprepro", i)
    (base / "conf").mkdir(parents=True)
    (base / "conf" / "distributions").write_text(
        "Origin: Bench\nLabel: Bench\nSuite: sid\nCodename: sid\nArchitectures: amd64\nComponents: main\n"
        "Description: reprepro bench\nDebIndices: Packages Release . .gz .xz\n"
        f"SignWith: {r.key.fpr}\n")
    env = r.gpg_env()
    rr = ["reprepro", "--silent", "-b", str(base)]
    full = r.timed(f"reprepro-{i}-full", [*rr, "includedeb", SUITE, *map(str, s.files)], env)  # exports at the end
    check(f"reprepro run {i}", base / "dists", s.count)
    add = r.timed(f"reprepro-{i}-add", [*rr, "includedeb", SUITE, str(s.extra)], env)
    check(f"reprepro run {i} add-one", base / "dists", s.count + 1)
    return full, add


def aptly_run(r: Runner, i: int, s: DebSet) -> tuple[float, float]:
    """`repo create` + `repo add` + `publish repo -acquire-by-hash -skip-contents` (gz + bz2, SHA512,
    by-hash; no xz); add-one: `repo add` + `publish update`."""
    base = r.fresh("aptly", i)
    base.mkdir(parents=True)
    conf = base / "aptly.conf"
    conf.write_text(json.dumps({"rootDir": str(base / "root"), "architectures": [], "gpgProvider": "gpg",
                                "gpgDisableSign": False, "gpgDisableVerify": False,
                                "skipContentsPublishing": True, "downloadConcurrency": 1}))
    env = r.gpg_env()
    a = ["aptly", f"-config={conf}"]
    sign = ["-batch", f"-gpg-key={r.key.fpr}", "-skip-contents"]
    full = r.timed(f"aptly-{i}-create", [*a, "repo", "create", "bench"], env)
    full += r.timed(f"aptly-{i}-add", [*a, "repo", "add", "bench", str(s.debs_dir)], env)
    full += r.timed(f"aptly-{i}-publish", [*a, "publish", "repo", *sign, "-acquire-by-hash",
                                            f"-distribution={SUITE}", "-component=main",
                                            "-architectures=amd64", "-origin=Bench", "-label=Bench", "bench"], env)
    dists = dists_dir(r.work, "aptly", i)
    check(f"aptly run {i}", dists, s.count)
    add = r.timed(f"aptly-{i}-add-one", [*a, "repo", "add", "bench", str(s.extra)], env)
    add += r.timed(f"aptly-{i}-update", [*a, "publish", "update", *sign, SUITE], env)
    check(f"aptly run {i} add-one", dists, s.count + 1)
    return full, add


TOOLS: dict[str, Callable[[Runner, int, DebSet], tuple[float, float]]] = {
    "kronos": kronos_run,
    "reprepro": reprepro_run,
    "aptly": aptly_run,
}


def ensure_tools(tools: list[str]) -> None:
    """Refuse unknown tool names; install reprepro/aptly when missing."""
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise BenchError(f"unknown tool {', '.join(unknown)} (known: {', '.join(TOOLS)})")
    ensure_commands({t: t for t in tools if t != "kronos"})

