"""The piuparts gate: Debian's piuparts on the host, per source package (all its binaries together).

Why on the host: piuparts is a chroot tool that runs as root and mounts /proc and /dev/pts in its
chroot; the host is Debian with piuparts from its own archive, and `--basetgz` takes any target's
tarball (`--defaults=ubuntu` for Ubuntu). In a container it would need a privileged one (mounts) and a
piuparts of each target; its own `--docker-image` mode needs a network bridge our engine does not have.

The base is a minbase tarball of the target made by mmdebstrap (images.minbase_argv), not the buildd
image: build-essential there would hide a missing Depends. Our packages reach the chroot through an
ephemeral signed repository (sibling_repo), bind-mounted, with Signed-By its throwaway key:

1. install and purge, then upgrade from the archive's version where the archive has the package; the
   other recipes' packages of the target come from the ephemeral repository;
2. where the published repository serves another version of the source for the target: upgrade from it
   (its .debs through a second ephemeral repository).

A failure that is the infrastructure's (the mirror unreachable, the chroot not made) is an error, not
the package's fault. An install-purge failure of a package the archive has too is tried on the
archive's own version: when that fails the same way, the verdict says so.

A stop sends piuparts SIGINT (it cleans its chroot up on KeyboardInterrupt, not on SIGTERM); whatever
it leaves mounted under its scratch directory is unmounted and removed."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from debian.deb822 import Packages
from debian.debfile import DebFile
from debian.debian_support import Version

from .. import sibling_repo
from ..archive.access import Archives
from ..cache import sha256_file
from ..config import Settings, Target
from ..errors import KronosError
from ..executor.locks import KeyedLocks, Once
from ..images import minbase_argv
from ..keys import content_key
from ..log import info, step
from ..run import die_with_parent, run
from ..sandbox import apt_readable
from .gate import Finding, Subject
from .policy import GatePolicy
from .verdict import Outcome

BASE_FORMAT = 1  # bump when what goes into the minbase tarball changes
STOP_GRACE = 10.0  # seconds piuparts has to clean up after SIGINT
_BASES = KeyedLocks()
# apt could not reach or verify an archive; the chroot could not be made: not the package's fault
_INFRA = re.compile(r"Failed to fetch|Temporary failure resolving|Could not connect|Connection refused|"
                    r"Unable to connect|Some index files failed to download|Could not resolve|"
                    r"Piuparts caught exception|No space left on device|Cannot initiate the connection|"
                    r"The repository .* is not signed|NO_PUBKEY|Unable to fetch some archives")
_FAIL = re.compile(r"FAIL: (.*(?:\n[ \t]+\S.*)*)")
_TESTS = {"Installation and purging test.": "install-purge",
          "Installation, upgrade and purging tests.": "upgrade"}


def piuparts_version() -> str:
    out = run(["dpkg-query", "-W", "-f", "${Version}", "piuparts"], check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise KronosError("piuparts is not installed on this host (apt-get install piuparts; make does it)")
    return out.stdout.decode().strip()


SCRATCH = ("kq-piuparts", "kq-repo")  # /tmp/<prefix>-<kronos pid>-<random>


@contextlib.contextmanager
def chroot_scratch(kind: str = SCRATCH[0]) -> Iterator[Path]:
    """A directory under /tmp named for this process (piuparts' --tmpdir, an ephemeral repository);
    at the end of the block anything still mounted under it (a piuparts killed mid-run) is unmounted,
    then it is removed."""
    d = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir="/tmp"))
    try:
        yield d
    finally:
        _remove(d)


def _remove(d: Path) -> None:
    for mount in mounts_under(d):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        return b"kronos" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def sweep() -> list[Path]:
    """Remove what a kronos that is gone (SIGKILL) left of piuparts: chroots with their mounts,
    ephemeral repositories; each removal is said."""
    removed = []
    for kind in SCRATCH:
        for d in sorted(Path("/tmp").glob(f"{kind}-*-*")):
            pid = d.name.removeprefix(f"{kind}-").split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                _remove(d)
                removed.append(d)
                info(f"removed {d}, left by a kronos that is gone (pid {pid})")
    return removed


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first."""
    prefix = str(path.resolve())
    found = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def binary_names(debs: Sequence[Path]) -> list[str]:
    return sorted({DebFile(str(d)).debcontrol()["Package"] for d in debs})


def _version(deb: Path) -> str:
    return str(DebFile(str(deb)).debcontrol()["Version"])


def _names(field: str) -> set[str]:
    """The package names a Depends-like field mentions (every alternative; no versions, no arch)."""
    return {alt.strip().split()[0].split(":")[0] for part in field.split(",") for alt in part.split("|")
            if alt.strip()}


def installed_with(debs: Sequence[Path], others: Sequence[Path]) -> list[Path]:
    """Those of `others` that installing debs may pull in: the closure of Depends and Pre-Depends over
    the packages others provide (by name or Provides). What a piuparts run installs of ours besides the
    package, and so what its verdict depends on."""
    provides: dict[str, list[Path]] = {}
    wants: dict[Path, set[str]] = {}
    for d in others:
        control = DebFile(str(d)).debcontrol()
        for name in {control["Package"], *_names(control.get("Provides", ""))}:
            provides.setdefault(name, []).append(d)
        wants[d] = _names(control.get("Depends", "")) | _names(control.get("Pre-Depends", ""))
    todo = set()
    for d in debs:
        control = DebFile(str(d)).debcontrol()
        todo |= _names(control.get("Depends", "")) | _names(control.get("Pre-Depends", ""))
    found: set[Path] = set()
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        for d in provides.get(name, []):
            if d not in found:
                found.add(d)
                todo |= wants[d] - seen
    return sorted(found)


class PiupartsGate:
    name = "piuparts"

    def __init__(self, settings: Settings, archives: Archives, siblings: dict[str, list[Path]],
                 served: dict[tuple[str, str], list[Path]]) -> None:
        self.settings = settings
        self.archives = archives
        self.siblings = siblings  # target -> every .deb of ours built for it (out/<target>/*)
        self.served = served  # (target, source) -> the published repository's .debs of that source
        self._bases: dict[str, Once[tuple[Path, str]]] = {}
        self._version = Once(piuparts_version)
        self._lock = threading.Lock()

    # the base tarball ----------------------------------------------------------------------------

    def base(self, target: Target) -> tuple[Path, str]:
        """(the target's minbase tarball, its key), made once per run and once across processes."""
        with self._lock:
            once = self._bases.setdefault(target.name, Once(lambda: self._make_base(target)))
        return once()

    def _make_base(self, target: Target) -> tuple[Path, str]:
        archive = self.settings.archive_of(target)
        keyrings = self.archives.keyrings(archive)
        named = [f"sha256:{sha256_file(k)}" for k in keyrings]
        key = content_key({"format": BASE_FORMAT, "argv": minbase_argv(self.settings, self.archives, target,
                                                                       Path("OUT"), named)})
        home = self.settings.cache_dir / "qa"
        tarball = home / f"minbase-{target.name}-{key[:16]}.tar.gz"
        with _BASES.hold(f"minbase:{target.name}", across=self.settings.cache_dir / "locks"):
            if tarball.exists():
                return tarball, key
            home.mkdir(parents=True, exist_ok=True)
            partial = tarball.with_name(f".{tarball.name}.{os.getpid()}.part.tar.gz")
            try:
                with step(f"Making the minbase tarball for {target.name} (piuparts' base)"), \
                        apt_readable(keyrings) as readable:
                    run(minbase_argv(self.settings, self.archives, target, partial, readable))
                os.replace(partial, tarball)
            except KronosError as e:
                raise KronosError(f"cannot make the minbase tarball for {target.name}: {e}") from None
            finally:
                partial.unlink(missing_ok=True)
            for old in home.glob(f"minbase-{target.name}-*.tar.gz"):
                if old != tarball:
                    old.unlink(missing_ok=True)
        return tarball, key

    # the gate ------------------------------------------------------------------------------------

    def _others(self, subject: Subject) -> list[Path]:
        own = {d.resolve() for d in subject.debs}
        return [d for d in self.siblings.get(subject.target.name, []) if d.resolve() not in own]

    def _served(self, subject: Subject) -> list[Path]:
        """The published repository's .debs of subject's source for its target at versions below subject's
        (what an upgrade starts from; a higher served version is no upgrade path to test)."""
        debs = self.served.get((subject.target.name, subject.source), [])
        return [d for d in debs if Version(_version(d)) < Version(subject.version)]

    def inputs(self, subject: Subject) -> dict[str, Any]:
        _, base = self.base(subject.target)
        served = self._served(subject)
        return {
            "piuparts": self._version(),
            "base": base,
            # what the chroot may install of ours besides the package: a change there can change the result
            "siblings": sorted(sha256_file(d) for d in installed_with(subject.debs, self._others(subject))),
            "served": sorted(sha256_file(d) for d in served),
        }

    def argv(self, subject: Subject, tarball: Path, tmp: Path, repos: Sequence[Path],
             policy: GatePolicy) -> list[str]:
        target = subject.target
        archive = self.settings.archive_of(target)
        mirror = self.archives.mirror(archive, target.suite)
        argv = ["piuparts", "--basetgz", str(tarball), "--distribution", target.suite,
                "--mirror", f"{mirror} {' '.join(target.components)}", "--tmpdir", str(tmp),
                "--defaults", "ubuntu" if archive.family == "ubuntu" else "debian"]
        if archive.snapshot:
            argv.append("--no-check-valid-until")
        # our overrides: paths piuparts ignores (with ':' it says so when one is seen)
        argv += [f"--ignore=:{path}" for path, _ in policy.overrides]
        for repo in repos:
            argv += ["--bindmount", str(repo), "--extra-repo",
                     f"deb [signed-by={repo / sibling_repo.KEYRING}] file:{repo / 'repo'} ./"]
        return argv

    def _piuparts(self, argv: list[str], log: Path, title: str) -> tuple[int, str]:
        with step(title):
            # killed with kronos (SIGKILL) it still gets SIGINT, and cleans its chroot up
            proc = run(die_with_parent(argv, "INT"), check=False, stop_signal=signal.SIGINT, stop_grace=STOP_GRACE)
        text = proc.stdout.decode(errors="replace")
        with log.open("a") as f:
            f.write(f"+ {' '.join(argv)}\n{text}\n")
        return proc.returncode, text

    def judge(self, subject: Subject, policy: GatePolicy, work: Path, log: Path) -> Finding:
        tarball, _ = self.base(subject.target)
        debs = subject.debs
        if not debs:
            return Finding(Outcome.PASS, "no binary packages to test")
        others = self._others(subject)
        served = self._served(subject)
        details: dict[str, Any] = {"packages": binary_names(debs), "runs": []}
        log.write_text("")
        with repository(others) as siblings, chroot_scratch() as tmp:
            repos = [siblings] if siblings else []
            code, text = self._piuparts(self.argv(subject, tarball, tmp, repos, policy) + [str(d) for d in debs], log,
                                        f"piuparts {subject.label}: install, purge, upgrade from the archive")
            found = self._classify("archive", code, text, policy)
            details["runs"].append(found)
            if found["outcome"] == Outcome.PASS.value and served:
                with repository(served) as old:
                    assert old is not None
                    argv = self.argv(subject, tarball, tmp, [*repos, old], policy) + ["--no-install-purge-test"]
                    code, text = self._piuparts(argv + [str(d) for d in debs], log,
                                                f"piuparts {subject.label}: upgrade from our served version")
                found = self._classify("served", code, text, policy)
                details["runs"].append(found)
            if found["outcome"] == Outcome.FAIL.value and found["test"] == "install-purge":
                baseline = self._baseline(subject, tarball, tmp, debs, log, policy)
                if baseline is not None:
                    details["baseline"] = baseline
                    if baseline["outcome"] == Outcome.FAIL.value and baseline["test"] == found["test"]:
                        found = dict(found, outcome=Outcome.ARCHIVE_FAILS.value)
        said = log.read_text(errors="replace")
        details["overridden"] = {path: reason for path, reason in policy.overrides if f"IGNORED PATH: {path}" in said}
        return Finding(Outcome(found["outcome"]), found["summary"], details)

    def _classify(self, run_name: str, code: int, text: str, policy: GatePolicy) -> dict[str, Any]:
        if code == 0:
            return {"run": run_name, "outcome": Outcome.PASS.value, "test": "",
                    "summary": _passes(text) or "passed"}
        fails = [m.group(1).strip() for m in _FAIL.finditer(text)]
        test = next((_TESTS[f] for f in fails if f in _TESTS), "")
        infra = _INFRA.search(text)
        blocked = _archive_blocked(text)
        if blocked and not infra and not fails:
            return {"run": run_name, "outcome": Outcome.PASS.value, "test": "",
                    "summary": f"{_passes(text)}; no upgrade test from the archive: its version cannot be installed"
                               f" beside our other packages ({blocked})"}
        if infra or not test:
            why = _line_of(text, infra.start()) if infra else _last(text)
            return {"run": run_name, "outcome": Outcome.ERROR.value, "test": test,
                    "summary": f"piuparts could not test ({run_name} run, exit {code}): {why}"}
        detail = next((f for f in fails if f not in _TESTS), fails[0])
        outcome = Outcome.FAIL if test in policy.fail_on else Outcome.PASS
        note = "" if outcome is Outcome.FAIL else " (not failed on, by policy)"
        return {"run": run_name, "outcome": outcome.value, "test": test,
                "summary": f"{test} ({run_name}): {_flat(detail)}{note}"}

    def _baseline(self, subject: Subject, tarball: Path, tmp: Path, debs: Sequence[Path], log: Path,
                  policy: GatePolicy) -> dict[str, Any] | None:
        """The archive's own version of the same binaries, through the same install-purge test: None
        when the archive does not have them."""
        names = binary_names(debs)
        argv = self.argv(subject, tarball, tmp, [], policy) + ["--apt", "--no-upgrade-test", *names]
        title = f"piuparts {subject.target.name}: the archive's {' '.join(names)} (baseline)"
        code, text = self._piuparts(argv, log, title)
        if code != 0 and "Unable to locate package" in text:
            return None
        return self._classify("baseline", code, text, GatePolicy(self.name, False, ("install-purge",)))


@contextlib.contextmanager
def repository(debs: Sequence[Path]) -> Iterator[Path | None]:
    """An ephemeral signed flat repository of debs that apt in a chroot can read (a world-readable
    directory under /tmp, bind-mounted at the same path); None when there are no debs."""
    if not debs:
        yield None
        return
    with chroot_scratch(SCRATCH[1]) as d:
        sibling_repo.make(tuple(debs), d / "r")
        for p in [d, *d.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        yield d / "r"


def served_debs(repo_root: Path, suite: str, arch: str) -> dict[str, list[Path]]:
    """source name -> the .debs the published repository serves in suite (from its Packages indices)."""
    out: dict[str, list[Path]] = {}
    dists = repo_root / "dists" / suite
    for index in sorted(dists.glob(f"*/binary-{arch}/Packages")) + sorted(dists.glob("*/binary-all/Packages")):
        with index.open() as f:
            for p in Packages.iter_paragraphs(f, use_apt_pkg=False):
                source = str(p.get("Source", p["Package"])).split(" ")[0]
                path = repo_root / p["Filename"]
                if path.exists() and path not in out.get(source, []):
                    out.setdefault(source, []).append(path)
    return out


def _passes(text: str) -> str:
    """What passed, and why an upgrade was not tested, in piuparts' words."""
    said = [m.strip().rstrip(".") for m in re.findall(r"PASS: (.*)", text) if "All tests" not in m]
    said += ["no upgrade test: the archive does not have the packages"] * ("Can't test upgrade" in text)
    return "; ".join(said)


def _archive_blocked(text: str) -> str:
    """After a passed install-purge test, the archive's version of the packages could not be installed
    (the start of piuparts' upgrade test) because one of our other packages replaces what it depends
    on (an OCaml library at a new ABI): the first unmet dependency, or "" when that is not what happened."""
    passed = text.find("PASS: Installation and purging test.")
    if passed < 0:
        return ""
    rest = text[passed:]
    unmet = re.search(r"have unmet dependencies:\n\s*(\S.*)", rest)
    if unmet is None or "ERROR: Command failed" not in rest or "apt-get', '-y', 'install'" not in rest:
        return ""
    return _flat(unmet.group(1))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _line_of(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return _flat(text[start:end if end >= 0 else None])


def _last(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return _flat(lines[-1]) if lines else "no output"
