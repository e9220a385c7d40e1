"""The uploader's key: the configured one, or a development key for the maintainer (host side only)."""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass

from ..config import Settings
from ..publish.settings import RepoSettings
from ..publish.signing import Signer, create_key, gpg, gpg_home, passphrase
from .plan import UploadError


@dataclass(frozen=True)
class Uploader:
    signer: Signer
    fingerprint: str
    uids: tuple[str, ...]


def _identity(uid: str) -> tuple[str, str]:
    name, address = email.utils.parseaddr(uid)
    return " ".join(name.split()), address.lower()


def uid_matches(uid: str, changed_by: str) -> bool:
    """Same name and address ('Name <address>'; addresses compare case-insensitively)."""
    a, b = _identity(uid), _identity(changed_by)
    return bool(a[1]) and a == b


def require_uid(uids: Iterable[str], changed_by: str, fingerprint: str) -> None:
    """Refuse to sign an upload whose Changed-By is not one of the key's UIDs."""
    uids = list(uids)
    if not any(uid_matches(u, changed_by) for u in uids):
        raise UploadError(
            f"uploader key {fingerprint} has no UID matching Changed-By '{changed_by}'"
            f" (its UIDs: {'; '.join(uids) or 'none'}); use a key for the maintainer"
            " (repo/repository.toml [upload] key) or change [maintainer] in kronos.toml"
        )


def _find(settings: RepoSettings, uid: str) -> str | None:
    with gpg_home(settings.gnupghome) as h:
        keys = [k for k in gpg(h).list_keys(secret=True) if uid in k.get("uids", [])]
    return str(keys[-1]["fingerprint"]) if keys else None


def uploader(settings: Settings, repo: RepoSettings) -> Uploader:
    """repo.upload_key, else the development uploader key 'maintainer' in repo.gnupghome (made on first use)."""
    secret = passphrase(repo)
    fpr = repo.upload_key
    if not fpr:
        uid = str(settings.maintainer)
        fpr = _find(repo, uid) or create_key(repo.gnupghome, uid, secret)
    key = Signer(repo.gnupghome, (fpr,), secret).check()[0]
    full = str(key["fingerprint"]).upper()
    return Uploader(Signer(repo.gnupghome, (full,), secret), full, tuple(str(u) for u in key.get("uids", [])))
