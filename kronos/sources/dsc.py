"""A source package the user hands over (`kronos build --dsc`): its files checked against the .dsc's
Checksums-Sha256, its signature checked with gpgv against a keyring the user names (or plainly
reported as unsigned or unchecked)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Dsc

from ..cache import sha256_file
from ..errors import CommandError, FetchError, VerifyError
from ..run import run

SIGNED_HEADER = "-----BEGIN PGP SIGNED MESSAGE-----"


@dataclass(frozen=True)
class GivenDsc:
    source: str
    version: str
    dsc: Path  # in a directory holding all of the source package's files
    checksums: tuple[tuple[str, str], ...]  # (file name, sha256) of the .dsc and every file it lists
    signature: str  # "verified with <keyring>", "unsigned" or "signature not checked (no --keyring)"


def read(path: Path) -> Dsc:
    """The .dsc's fields; one error when it is missing or not a source control file."""
    if not path.is_file():
        raise FetchError(f"{path}: no such .dsc")
    with path.open(encoding="utf-8", errors="replace") as f:
        dsc = Dsc(f)
    if not dsc.get("Source") or not dsc.get("Version"):
        raise FetchError(f"{path}: not a source package control file (no Source or Version field)")
    return dsc


def signature(path: Path, keyring: Path | None) -> str:
    """Check the .dsc's signature with gpgv against keyring; say what was (not) checked."""
    signed = path.read_text(encoding="utf-8", errors="replace").lstrip().startswith(SIGNED_HEADER)
    if keyring is None:
        return "signature not checked (no --keyring)" if signed else "unsigned"
    if not signed:
        raise VerifyError(f"{path}: not signed, but --keyring {keyring} asks for a signature check")
    if not keyring.is_file():
        raise VerifyError(f"{path}: keyring {keyring} does not exist")
    try:
        run(["gpgv", "--keyring", str(keyring.resolve()), str(path)])
    except CommandError as e:
        reason = next((ln for ln in e.output.splitlines() if "BAD" in ln or "No public key" in ln
                       or "Can't check" in ln), "gpgv failed")
        raise VerifyError(f"{path}: signature does not verify with keyring {keyring} ({reason.strip()})") from None
    return f"verified with {keyring}"


def plain_name(name: str, where: str) -> str:
    """A file name a .dsc or a Sources entry lists: a name in the source package's own directory,
    never a path (`../x`, `a/b`, `.`); one error line naming where it came from otherwise."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise VerifyError(f"{where}: lists {name!r}, which is not a plain file name")
    return name


def fetch(path: Path, keyring: Path | None, dest: Path) -> GivenDsc:
    """Check the .dsc (signature, listed files and their sha256) and copy it and its files into dest."""
    dsc = read(path)
    listed = dsc.get("Checksums-Sha256") or []
    if not listed:
        raise VerifyError(f"{path}: no Checksums-Sha256 field")
    for item in dsc.get("Files") or []:
        plain_name(str(item["name"]), str(path))
    status = signature(path, keyring)
    dest.mkdir(parents=True, exist_ok=True)
    checksums = [(path.name, sha256_file(path))]
    for item in listed:
        name, sha = plain_name(str(item["name"]), str(path)), str(item["sha256"])
        given = path.with_name(name)
        if not given.is_file():
            raise FetchError(f"{path}: lists {name}, which is missing (looked for {given})")
        if sha256_file(given) != sha:
            raise VerifyError(f"{path}: {given} does not match the sha256 the .dsc lists for it")
        shutil.copyfile(given, dest / name)
        checksums.append((name, sha))
    shutil.copyfile(path, dest / path.name)
    return GivenDsc(str(dsc["Source"]), str(dsc["Version"]), dest / path.name, tuple(checksums), status)
