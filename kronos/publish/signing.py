"""Signing on the host only: python-gnupg over gpg, loopback pinentry, no agent left behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg

from ..clock import now
from ..errors import KronosError
from ..run import adopt, run
from .settings import RepoSettings


class SigningError(KronosError):
    """A missing, expired or locked signing key."""


MAX_HOME = 80  # gpg-agent's socket path limit is about 100 characters


_active: dict[Path, Path] = {}


@contextlib.contextmanager
def gpg_home(home: Path) -> Iterator[Path]:
    """GNUPGHOME for a block: a short alias when the path is long; the agent is killed at the end
    of the outermost block (nested blocks share one agent)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if home.resolve() in _active:
        yield _active[home.resolve()]
        return
    # one process at a time per home: gpgconf --kill must not stop another's agent mid-sign
    lock = (home / ".kronos-lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    alias = None
    use = home.resolve()
    if len(str(use)) > MAX_HOME:
        alias = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp")) / "h"
        alias.symlink_to(use)
        use = alias
    _active[home.resolve()] = use
    try:
        yield use
    finally:
        del _active[home.resolve()]
        run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(use)}, check=False)
        if alias is not None:
            alias.unlink()
            alias.parent.rmdir()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


class _Gpg(gnupg.GPG):  # type: ignore[misc]
    """python-gnupg whose gpg processes are logged and reached by an interrupt like run()'s."""

    def _open_subprocess(self, args: list[str], passphrase: bool = False) -> Any:
        proc = super()._open_subprocess(args, passphrase)
        adopt(proc)
        return proc


def gpg(home: Path) -> Any:
    """python-gnupg on home (a path from gpg_home())."""
    return _Gpg(gnupghome=str(home))


def create_key(home: Path, uid: str, passphrase: str, algo: str = "ed25519", expire: str = "2y") -> str:
    """Make a signing key in home; return its fingerprint."""
    if algo not in ("ed25519", "rsa3072", "rsa4096"):
        raise SigningError(f"key algorithm '{algo}' is not ed25519 or RSA >= 3072")
    with gpg_home(home) as h:
        argv = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                "--quick-gen-key", uid, algo, "sign", expire]
        run(argv, env={"GNUPGHOME": str(h)}, input=passphrase.encode())
        keys = gpg(h).list_keys(secret=True)
        matching = [k for k in keys if uid in k.get("uids", [])]
        if not matching:
            raise SigningError(f"gpg made no key for {uid} in {home}")
        return str(matching[-1]["fingerprint"])


@dataclass(frozen=True)
class Signer:
    home: Path
    fingerprints: tuple[str, ...]
    passphrase: str

    def check(self) -> list[dict[str, Any]]:
        """Every configured key exists, has a secret part, and has not expired."""
        with gpg_home(self.home) as h:
            keys = gpg(h).list_keys(secret=True)
        found = []
        for fpr in self.fingerprints:
            key = next((k for k in keys if str(k["fingerprint"]).upper().endswith(fpr)), None)
            if key is None:
                raise SigningError(f"signing key {fpr} not found in {self.home}")
            expires = key.get("expires")
            if expires:
                when = dt.datetime.fromtimestamp(int(expires), tz=dt.UTC)
                if when <= now():
                    raise SigningError(f"signing key {fpr} expired on {when:%Y-%m-%d} ({self.home})")
            found.append(key)
        return found

    def _sign(self, data: bytes, mode: list[str]) -> bytes:
        with gpg_home(self.home) as h, tempfile.TemporaryDirectory(prefix="ks") as tmp:
            src = Path(tmp) / "in"
            out = Path(tmp) / "out"
            src.write_bytes(data)
            argv = ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                    "--digest-algo", "SHA512", "--personal-digest-preferences", "SHA512"]
            for fpr in self.fingerprints:
                argv += ["--local-user", f"{fpr}!"]
            argv += [*mode, "--output", str(out), str(src)]
            proc = run(argv, env={"GNUPGHOME": str(h)}, input=self.passphrase.encode(), check=False)
            if proc.returncode != 0 or not out.exists():
                text = proc.stdout.decode(errors="replace")
                lines = [ln for ln in text.splitlines() if ln.strip()]
                why = "bad passphrase" if "Bad passphrase" in text or "bad passphrase" in text else (
                    lines[-1] if lines else f"gpg exit {proc.returncode}")
                raise SigningError(f"cannot sign with {', '.join(self.fingerprints)}: {why}")
            return out.read_bytes()

    def clearsign(self, data: bytes) -> bytes:
        return self._sign(data, ["--clearsign"])

    def detach(self, data: bytes) -> bytes:
        return self._sign(data, ["--armor", "--detach-sign"])

    def export(self, armor: bool) -> bytes:
        with gpg_home(self.home) as h:
            argv = ["gpg", "--batch", "--export", "--export-options", "export-minimal"]
            if armor:
                argv.append("--armor")
            return run([*argv, *self.fingerprints], env={"GNUPGHOME": str(h)}, merge_stderr=False).stdout


def passphrase(settings: RepoSettings) -> str:
    if settings.passphrase_file is not None:
        try:
            return settings.passphrase_file.read_text().rstrip("\n")
        except OSError as e:
            raise SigningError(f"cannot read the passphrase file {settings.passphrase_file}: {e.strerror}") from None
    return os.environ.get(settings.passphrase_env, "")


def signer(settings: RepoSettings, probe: bool = True) -> Signer:
    """The configured signer; without fingerprints, the development key (made on first use).
    `probe` makes a test signature, so a wrong passphrase fails here, before the caller writes."""
    fprs = settings.fingerprints
    secret = passphrase(settings)
    with gpg_home(settings.gnupghome) as h:  # held: two first publishes make one key
        if not fprs:
            uid = f"{settings.origin} development archive key <{settings.name}@localhost>"
            keys = [k for k in gpg(h).list_keys(secret=True) if uid in k.get("uids", [])]
            fpr = str(keys[-1]["fingerprint"]) if keys else create_key(settings.gnupghome, uid, secret)
            fprs = (fpr,)
        s = Signer(settings.gnupghome, fprs, secret)
        s.check()
        if probe:
            s.detach(b"kronos signing check\n")
    return s
