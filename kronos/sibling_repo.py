"""The siblings' apt repository of one build-deps phase: signed with a key made for the run, verified
by apt like any other archive, pinned above the target's archive.

The directory made here is copied to /kronos/local in the deps container:

    /kronos/local/repo/{*.deb, Packages, Release, InRelease}   a flat repository
    /kronos/local/kronos-local.pgp                               the ephemeral public key only
    /kronos/local/kronos-local.sources                           deb822, Signed-By the key above
    /kronos/local/kronos-local.pref                              Pin: release o=ORIGIN, 1001

The secret key lives in a throwaway GnuPG home on the host and is gone when the repository is made;
the published repository's key is never used here."""

from __future__ import annotations

import contextlib
import email.utils
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from debian.deb822 import Deb822, Release

from .clock import now
from .publish import indices
from .publish.signing import Signer, create_key, gpg_home
from .run import run

ORIGIN = "kronos-local-siblings"  # no archive uses it: the pin matches this repository only
LABEL = "Kronos siblings of one build"
IN_CONTAINER = "/kronos/local"
KEYRING = "kronos-local.pgp"
SOURCES = "kronos-local.sources"
PREFERENCES = "kronos-local.pref"
PRIORITY = 1001  # above every archive, and allows a version lower than the installed one


@contextlib.contextmanager
def gpg_ephemeral_context() -> Iterator[Path]:
    """A throwaway GNUPGHOME (short path under /tmp: gpg-agent's socket path is limited); its agent
    is killed and the home removed when the block ends."""
    home = Path(tempfile.mkdtemp(prefix="kl", dir="/tmp"))
    try:
        with gpg_home(home) as h:  # one agent for every gpg call of the block
            yield h
    finally:
        run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(home)}, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _packages(debs: tuple[Path, ...], repo: Path) -> bytes:
    stanzas = []
    for deb in debs:
        shutil.copyfile(deb, repo / deb.name)
        stanzas.append(indices.deb_stanza(repo / deb.name, f"./{deb.name}", indices.digest_file(repo / deb.name)))
    return indices.render(sorted((s.dump() for s in stanzas), key=indices.sort_key))


def _release(packages: bytes) -> bytes:
    r = Release()
    r["Origin"] = ORIGIN
    r["Label"] = LABEL
    r["Date"] = email.utils.formatdate(now().timestamp(), usegmt=True).replace("GMT", "UTC")
    d = indices.digest_bytes(packages)
    r["SHA256"] = [{"sha256": d.sha256, "size": str(d.size), "name": "Packages"}]  # type: ignore[assignment]
    return r.dump().encode()


def _config(keyring: str) -> tuple[str, str]:
    """The deb822 .sources entry and the apt preferences that pin the repository."""
    sources = Deb822()
    sources["Types"] = "deb"
    sources["URIs"] = f"file:{IN_CONTAINER}/repo"
    sources["Suites"] = "./"
    sources["Signed-By"] = keyring
    pref = Deb822()
    pref["Package"] = "*"
    pref["Pin"] = f"release o={ORIGIN}"
    pref["Pin-Priority"] = str(PRIORITY)
    return sources.dump(), pref.dump()


def make(debs: tuple[Path, ...], dest: Path) -> Path:
    """The signed, pinned repository of debs in dest (created); return dest."""
    repo = dest / "repo"
    repo.mkdir(parents=True)
    packages = _packages(debs, repo)
    (repo / "Packages").write_bytes(packages)
    release = _release(packages)
    (repo / "Release").write_bytes(release)
    with gpg_ephemeral_context() as home:
        fpr = create_key(home, "Kronos siblings of one build <kronos-local@localhost>", "", expire="1d")
        signer = Signer(home, (fpr,), "")
        (repo / "InRelease").write_bytes(signer.clearsign(release))
        (dest / KEYRING).write_bytes(signer.export(armor=False))
    sources, pref = _config(f"{IN_CONTAINER}/{KEYRING}")
    (dest / SOURCES).write_text(sources)
    (dest / PREFERENCES).write_text(pref)
    return dest
