"""The sbuild side of build_overhead: the .dsc kronos made, and `sbuild --chroot-mode=unshare` runs of it
timed by the sections of sbuild's log."""

from __future__ import annotations

import hashlib
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.build_setup import as_user, chown_tree
from bench.common import BenchError, tail


@dataclass
class Dsc:
    path: Path
    architecture: list[str]
    files: list[tuple[str, str]]  # (name, sha256)

    @classmethod
    def read(cls, path: Path) -> Dsc:
        text = path.read_text(errors="replace")
        if text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
            text = text.split("\n\n", 1)[1].split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]
        fields: dict[str, str] = {}
        key = None
        for line in text.splitlines():
            if line[:1].isspace() and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, v = line.partition(":")
                key = key.strip().lower()
                fields[key] = v.strip()
        files = []
        for line in fields.get("checksums-sha256", "").splitlines():
            parts = line.split()
            if len(parts) == 3:
                files.append((parts[2], parts[0]))
        if not files:
            raise BenchError(f"{path}: no Checksums-Sha256 files")
        return cls(path, fields.get("architecture", "").split(), files)

    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def copy_to(self, dest: Path) -> Path:
        """The .dsc and its files, checked against its sha256s, copied into dest; the copy's path."""
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path, dest / self.path.name)
        for name, sha in self.files:
            src = self.path.parent / name
            if not src.exists():
                raise BenchError(f"{self.path}: file {name} is missing next to it")
            if hashlib.sha256(src.read_bytes()).hexdigest() != sha:
                raise BenchError(f"{src}: sha256 does not match the .dsc")
            shutil.copy2(src, dest / name)
        return dest / self.path.name


@dataclass
class SbuildRun:
    wall: float
    log: Path
    phases: dict[str, float] = field(default_factory=dict)
    sections: dict[str, float] = field(default_factory=dict)  # log section -> seconds, in order


def _watch_sections(proc: subprocess.Popen[bytes], rundir: Path, start: float) -> dict[str, float]:
    """Wait for sbuild, timing the sections of its .build log ("| Title |" under a "+---" or
    "+===" rule) by when each header appears. The first (package) header's section is the chroot
    setup (unpacking the tarball); Cleanup includes removing the unpacked chroot."""
    seen: list[tuple[str, float]] = [("sbuild start", 0.0)]
    log: Path | None = None
    pos, buf, prev = 0, b"", ""
    while True:
        done = proc.poll() is not None
        if log is None:
            found = [p for p in rundir.glob("*.build") if not p.is_symlink()]
            log = found[0] if found else None
        if log is not None:
            with log.open("rb") as f:
                f.seek(pos)
                chunk = f.read()
            pos += len(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            now = time.monotonic() - start
            for raw in lines:
                line = raw.decode(errors="replace")
                if prev.startswith(("+---", "+===")) and line.startswith("| ") and line.rstrip().endswith("|"):
                    title = line.strip("| \n")
                    title = "chroot setup (unpack tarball)" if len(seen) == 1 else title
                    seen.append((title, now))
                prev = line
        if done:
            break
        time.sleep(0.1)
    end = time.monotonic() - start
    out: dict[str, float] = {}
    for (title, t), nxt in zip(seen, [*(t for _, t in seen[1:]), end], strict=True):
        out["teardown (after Summary)" if title == "Summary" else title] = nxt - t
    return out


def sbuild_arch_options(dsc: Dsc) -> list[str]:
    arches = set(dsc.architecture)
    if arches == {"all"}:
        return ["--arch-all", "--no-arch-any"]
    if "all" in arches:
        return ["--arch-all", "--arch-any"]  # like kronos's dpkg-buildpackage -b
    return ["--no-arch-all", "--arch-any"]


def run_sbuild(pw: pwd.struct_passwd, dsc: Dsc, work: Path, name: str, dist: str, chroot: str,
               profiles: list[str], build_options: str) -> SbuildRun:
    """One `sbuild --chroot-mode=unshare` of a fresh copy of dsc in work/name, as pw's user; timed."""
    rundir = work / name
    if rundir.exists():
        shutil.rmtree(rundir)
    copied = dsc.copy_to(rundir)
    chown_tree(rundir, pw)
    argv = ["sbuild", "--chroot-mode=unshare", f"--dist={dist}", f"--chroot={chroot}",
            "--no-run-lintian", "--no-run-piuparts", "--no-run-autopkgtest", "--no-source",
            f"--build-dir={rundir}", *sbuild_arch_options(dsc)]
    if profiles:
        argv.append(f"--profiles={','.join(profiles)}")
    argv.append(str(copied))
    env = {"DEB_BUILD_OPTIONS": build_options} if build_options else {}
    out_log = work / f"{name}.out"
    with out_log.open("wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(as_user(pw, argv, env), cwd=rundir, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        sections = _watch_sections(proc, rundir, start)
        wall = time.monotonic() - start
    logs = sorted(p for p in rundir.glob("*.build") if not p.is_symlink())
    log = logs[-1] if logs else out_log
    text = log.read_text(errors="replace") if logs else ""
    stdout = out_log.read_bytes()
    summary = {}
    for line in text.split("| Summary", 1)[-1].splitlines():
        if m := re.match(r"^([A-Za-z-]+): (.*)$", line):
            summary[m[1]] = m[2].strip()
    if proc.returncode != 0 or summary.get("Status") != "successful":
        raise BenchError(f"sbuild failed (exit {proc.returncode}, status {summary.get('Status', '?')});"
                         f" log: {log}\n{tail(text or stdout.decode(errors='replace'), 30)}")
    if not list(rundir.glob("*.deb")):
        raise BenchError(f"sbuild produced no .deb; log: {log}")
    run = SbuildRun(wall, log, sections=sections)
    for key, phase in (("Install-Time", "install"), ("Build-Time", "build"), ("Package-Time", "package")):
        if summary.get(key, "").isdigit():
            run.phases[phase] = float(summary[key])
    return run
