"""Real OpenPGP keys and real InRelease files for the release tests, made by gpg.

Key ages come from gpg's --faked-system-time, never from sleeping:

    Keys()                        an ephemeral GnuPG home (short path under /tmp); close() kills its agent
    keys.new_key(uid, created, expires)  -> fingerprint; created is seconds since the epoch
    keys.clearsign(text, dest, uids, at=..., digest=...)  one signature per uid, made at time `at`
    keys.revoke(fingerprint)      imports the key's own revocation certificate
    keys.export(dest)             the binary public keyring gpgv reads (revocations included)
    release_text(suite, date, valid_until)  a minimal Release
    publish(root, suite, text, keys, uids)  dists/<suite>/InRelease under root, signed now
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from tests.integration.archive_fixture import serve

DAY = 86400
NOW = int(time.time())


class Keys:
    def __init__(self) -> None:
        # Short: gpg-agent's socket lives in the home and socket paths max out near 100 chars.
        self.home = Path(tempfile.mkdtemp(prefix="kr", dir="/tmp"))
        self.home.chmod(0o700)

    def gpg(self, *args: str, at: int | None = None) -> bytes:
        fake = ["--faked-system-time", str(at)] if at is not None else []
        proc = subprocess.run(["gpg", "--batch", "--no-tty", "--quiet", *fake, *args], capture_output=True,
                              env={**os.environ, "GNUPGHOME": str(self.home)}, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"gpg {' '.join(args)} failed:\n{proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def new_key(self, uid: str, created: int, expires: str) -> str:
        self.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", expires, at=created)
        for line in self.gpg("--with-colons", "--list-keys", uid).decode().splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        raise RuntimeError(f"no fingerprint for {uid}")

    def clearsign(self, text: str, dest: Path, uids: list[str], at: int | None = None,
                  digest: str = "SHA512") -> Path:
        src = self.home / "Release"
        src.write_text(text)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        users = [arg for uid in uids for arg in ("--local-user", uid)]
        self.gpg(*users, "--digest-algo", digest, "--clearsign", "--output", str(dest), str(src), at=at)
        return dest

    def revoke(self, fingerprint: str) -> None:
        cert = self.home / "openpgp-revocs.d" / f"{fingerprint}.rev"
        # gpg writes it with the armor header escaped by a colon, so it is not imported by accident
        text = cert.read_text().replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----")
        fixed = self.home / "revoke.asc"
        fixed.write_text(text)
        self.gpg("--import", str(fixed))

    def export(self, dest: Path) -> Path:
        dest.write_bytes(self.gpg("--export"))
        return dest

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(self.home)},
                       capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def rfc1123(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def release_text(suite: str, date: int, valid_until: int | None = None) -> str:
    lines = ["Origin: Kronos", "Label: Kronos release test", f"Suite: {suite}", f"Codename: {suite}",
             f"Date: {rfc1123(date)}"]
    if valid_until is not None:
        lines.append(f"Valid-Until: {rfc1123(valid_until)}")
    lines += ["Architectures: amd64", "Components: main", "SHA256:",
              f" {'0' * 64} 0 main/source/Sources"]
    return "\n".join(lines) + "\n"


def publish(root: Path, suite: str, text: str, keys: Keys, uids: list[str]) -> Path:
    """dists/<suite>/InRelease under root, signed now by uids."""
    return keys.clearsign(text, root / "dists" / suite / "InRelease", uids)


@dataclass
class Mirror:
    """A loopback mirror of one suite whose InRelease a test re-signs with any Date."""

    url: str
    root: Path
    keyring: Path
    keys: Keys
    suite: str
    signer: str

    def sign(self, date: int) -> None:
        text = release_text(self.suite, date=date, valid_until=date + 30 * DAY)
        self.keys.clearsign(text, self.root / "dists" / self.suite / "InRelease", [self.signer])


@contextmanager
def signed_mirror(root: Path, suite: str, signer: str) -> Iterator[Mirror]:
    """A mirror served on 127.0.0.1 from root/mirror, signed by a fresh key of signer."""
    keys = Keys()
    try:
        keys.new_key(signer, created=NOW - 30 * DAY, expires="2y")
        with serve(root / "mirror") as url:
            yield Mirror(url, root / "mirror", keys.export(root / "keyring.gpg"), keys, suite, signer)
    finally:
        keys.close()
