"""Tiny hand-written source trees with their own debian/ (arch all, debhelper-compat 13) for the
contributor-build tests, a test GnuPG key to sign a .dsc with, and the environment of a scratch project."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TARGET = "bookworm"
MAINTAINER = "Kronos Tests <tests@example.invalid>"
CONTROL = """Source: {source}
Section: misc
Priority: optional
Maintainer: {maintainer}
Build-Depends: {build_depends}
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: {source}
Architecture: all
Depends: ${{misc:Depends}}
Description: kronos contributor-build test package {source}
 It installs one small file.
"""
CHANGELOG = """{source} ({version}) unstable; urgency=medium

  * Hand-written test package.

 -- {maintainer}  Tue, 01 Dec 2026 00:00:00 +0000
"""
RULES = "#!/usr/bin/make -f\n%:\n\tdh $@\n"
FAILING_RULES = RULES + "\noverride_dh_auto_build:\n\techo the build breaks here; false\n"


def write_tree(tree: Path, source: str, version: str, fmt: str = "3.0 (native)", payload: str = "hello",
               build_depends: str = "debhelper-compat (= 13)", rules: str = RULES) -> Path:
    """A source tree at `tree` with its own debian/; returns tree."""
    debian = tree / "debian"
    (debian / "source").mkdir(parents=True, exist_ok=True)
    (tree / "greeting").write_text(f"{payload}\n")
    (debian / "source" / "format").write_text(f"{fmt}\n")
    (debian / "control").write_text(CONTROL.format(source=source, maintainer=MAINTAINER,
                                                   build_depends=build_depends))
    (debian / "changelog").write_text(CHANGELOG.format(source=source, version=version, maintainer=MAINTAINER))
    (debian / "rules").write_text(rules)
    (debian / "rules").chmod(0o755)
    (debian / f"{source}.install").write_text(f"greeting usr/share/{source}/\n")
    return tree


def write_orig(tree: Path, dest: Path) -> Path:
    """The upstream tarball of tree (its files without debian/) at dest, as <name>-<version>/."""
    top = dest.name.split(".orig.")[0].replace("_", "-")
    subprocess.run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--exclude=debian",
                    f"--transform=s,^\\.,{top},", "-czf", str(dest), "-C", str(tree), "."], check=True)
    return dest


def dpkg_source(tree: Path) -> Path:
    """`dpkg-source -b` of tree in its parent directory; the .dsc made."""
    subprocess.run(["dpkg-source", "-b", tree.name], cwd=tree.parent, check=True, capture_output=True)
    return next(tree.parent.glob("*.dsc"))


def env_for(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_") or k == "KRONOS_CACHE_DIR"}
    env.update(KRONOS_ROOT=str(root), KRONOS_OUTPUT_DIR=str(root / "out"), KRONOS_TARGETS=TARGET, **extra)
    return env


def gpg(home: Path, *args: str) -> str:
    return subprocess.run(["gpg", "--batch", "--homedir", str(home), *args], check=True, capture_output=True,
                          text=True).stdout


def make_key(home: Path, uid: str) -> None:
    """A signing key (no passphrase) in home."""
    gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1y")


def sign(home: Path, dsc: Path, uid: str) -> None:
    """Clear-sign dsc in place with uid's key."""
    signed = dsc.with_suffix(".asc")
    gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--local-user", uid, "--clearsign",
        "--output", str(signed), str(dsc))
    signed.replace(dsc)


def export(home: Path, dest: Path) -> Path:
    """The binary public keyring of every key in home (gpgv reads it)."""
    dest.write_bytes(subprocess.run(["gpg", "--batch", "--homedir", str(home), "--export"], check=True,
                                    capture_output=True).stdout)
    return dest
