"""sbuild's set-up for build_overhead (not measured; skipped when already done): its packages, the
unprivileged user with subordinate ids, and the chroot tarball of the target's suite and pockets."""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import PATH, BenchError, ensure_commands, fmt_s, log, tail

USER = "kbench"
SUBID_COUNT = 65536


def ensure_packages() -> None:
    ensure_commands({"sbuild": "sbuild", "mmdebstrap": "mmdebstrap", "newuidmap": "uidmap"})


def host_architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()


def host_debian_mirror(suite: str) -> str | None:
    """The Debian mirror URI of the machine's apt sources (deb822 and one-line), or None.

    Prefers an entry listing `suite`; otherwise any non-security Debian entry."""
    entries: list[tuple[list[str], list[str]]] = []  # (uris, suites)
    srcdir = Path("/etc/apt/sources.list.d")
    for p in sorted(srcdir.glob("*.sources")) if srcdir.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", p.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                entries.append((fields.get("uris", "").split(), fields.get("suites", "").split()))
    lists = [Path("/etc/apt/sources.list"), *sorted(srcdir.glob("*.list"))] if srcdir.is_dir() else []
    for p in lists:
        if not p.exists():
            continue
        for line in p.read_text(errors="replace").splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                entries.append(([words[1]], [words[2]]))
    for want_suite in (True, False):
        for uris, suites in entries:
            if not uris or any("security" in s for s in suites) or "security" in uris[0]:
                continue
            if "ubuntu" in uris[0]:
                continue
            if not want_suite or suite in suites:
                return uris[0].rstrip("/")
    return None


def ensure_user() -> pwd.struct_passwd:
    """The user sbuild runs as, with a free range of SUBID_COUNT ids in /etc/subuid and /etc/subgid."""
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        log(f"creating user {USER}")
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
        pw = pwd.getpwnam(USER)
    home = Path(pw.pw_dir)
    if not home.is_dir():
        home.mkdir(parents=True)
        os.chown(home, pw.pw_uid, pw.pw_gid)
    for db in (Path("/etc/subuid"), Path("/etc/subgid")):
        lines = db.read_text().splitlines() if db.exists() else []
        if any(line.split(":")[0] in (USER, str(pw.pw_uid)) for line in lines if line.strip()):
            continue
        top = 100000
        for line in lines:
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                top = max(top, int(parts[1]) + int(parts[2]))
        log(f"adding {USER}:{top}:{SUBID_COUNT} to {db}")
        with db.open("a") as f:
            if lines and not db.read_text().endswith("\n"):
                f.write("\n")
            f.write(f"{USER}:{top}:{SUBID_COUNT}\n")
    return pw


def as_user(pw: pwd.struct_passwd, argv: list[str], extra_env: dict[str, str] | None = None) -> list[str]:
    """argv run as pw's user (runuser) in a clean environment."""
    env = [f"PATH={PATH}", f"HOME={pw.pw_dir}", f"USER={pw.pw_name}", f"LOGNAME={pw.pw_name}",
           "LANG=C.UTF-8"]
    env += [f"{k}={v}" for k, v in (extra_env or {}).items()]
    return ["runuser", "-u", pw.pw_name, "--", "env", "-i", *env, *argv]


def chown_tree(path: Path, pw: pwd.struct_passwd) -> None:
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def ensure_chroot(pw: pwd.struct_passwd, cfg: dict[str, Any], target: str, arch: str) -> Path:
    """~USER/.cache/sbuild/<suite>-<arch>.tar: mmdebstrap --variant=buildd of the target's suite and
    pockets, with fakeroot as in kronos's base image; remade when its command line changes."""
    tcfg = cfg.get("targets", {}).get(target)
    if tcfg is None:
        raise BenchError(f"unknown target {target!r} (not in kronos/defaults.toml or kronos.toml)")
    archive = cfg.get("archives", {}).get(tcfg.get("archive", "debian"), {})
    if archive.get("family", "debian") != "debian":
        raise BenchError(f"target {target}: only Debian targets are supported for the sbuild side")
    suite = str(tcfg.get("suite", target))
    suites = [suite, *tcfg.get("pockets", [])]
    components = [str(c) for c in tcfg.get("components", ["main"])]
    cache = Path(pw.pw_dir) / ".cache" / "sbuild"
    tarball = cache / f"{suite}-{arch}.tar"
    mirror = host_debian_mirror(suite)
    argv = ["mmdebstrap", "--variant=buildd", "--format=tar", f"--architectures={arch}",
            f"--components={','.join(components)}", "--include=fakeroot",
            '--aptopt=Acquire::Check-Valid-Until "false"', '--aptopt=APT::Install-Recommends "false"',
            suite, str(tarball) + ".tmp"]
    if mirror:
        argv += [f"deb {mirror} {s} {' '.join(components)}" for s in suites]
    # else: mmdebstrap's default mirror (and its updates/security pockets)
    # not next to the tarball: sbuild picks any ~/.cache/sbuild/<chroot>.* as a tarball
    stamp = Path(pw.pw_dir) / ".cache" / "kronos-bench" / (tarball.name + ".argv")
    if tarball.exists() and (not stamp.exists() or stamp.read_text() == json.dumps(argv)):
        log(f"chroot tarball {tarball} is there, reused")
        return tarball
    for d in (cache.parent, cache):
        d.mkdir(exist_ok=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    Path(str(tarball) + ".tmp").unlink(missing_ok=True)
    log(f"making the chroot tarball {tarball} (setup, not measured)")
    t0 = time.monotonic()
    proc = subprocess.run(as_user(pw, argv), cwd=pw.pw_dir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise BenchError("mmdebstrap failed:\n" + tail(proc.stdout, 25))
    os.replace(str(tarball) + ".tmp", tarball)
    stamp.parent.mkdir(exist_ok=True)
    stamp.write_text(json.dumps(argv))
    for p in (stamp.parent, stamp):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    log(f"chroot tarball made in {fmt_s(time.monotonic() - t0)}")
    return tarball
