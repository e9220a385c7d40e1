"""repo/repository.toml -> RepoSettings (env overrides: KRONOS_REPO_*, KRONOS_SIGNING_*)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..tomlcheck import Table, load


@dataclass(frozen=True)
class RepoSettings:
    name: str
    origin: str
    label: str
    description: str
    path: Path
    url: str
    component: str
    keep_versions: int
    grace_seconds: int
    valid_days: int
    fingerprints: tuple[str, ...]
    gnupghome: Path
    passphrase_env: str
    passphrase_file: Path | None
    lock_timeout: float = 600.0
    upload_key: str = ""
    upload_targets: tuple[str, ...] = ()
    upload_profiles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def keyring_name(self) -> str:
        return f"{self.name}-archive-keyring.pgp"


def load_repo_settings(root: Path, env: Mapping[str, str] | None = None) -> RepoSettings:
    env = os.environ if env is None else env
    path = Path(env.get("KRONOS_REPO_CONFIG", root / "repo" / "repository.toml"))
    top = Table(load(path), str(path))
    r = top.sub("repository", required=True)
    s = top.sub("signing")
    name = r.text("name", required=True)
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name):
        raise ConfigError(f"{path}: repository.name: '{name}' must be lower-case letters, digits, '.', '-'")
    repo_path = root / env.get("KRONOS_REPO_PATH", r.text("path", "repo/public"))
    url = env.get("KRONOS_REPO_URL", r.text("url", "")) or repo_path.resolve().as_uri()
    fprs = s.strings("fingerprints")
    if env.get("KRONOS_SIGNING_KEYS"):
        fprs = tuple(f.strip() for f in env["KRONOS_SIGNING_KEYS"].split(",") if f.strip())
    for f in fprs:
        if not re.fullmatch(r"[0-9A-Fa-f]{16,40}", f):
            raise ConfigError(f"{path}: signing.fingerprints: '{f}' is not a key fingerprint")
    pfile = env.get("KRONOS_SIGNING_PASSPHRASE_FILE", s.text("passphrase_file", ""))
    settings = RepoSettings(
        name=name,
        origin=r.text("origin", "Kronos"),
        label=r.text("label", "Kronos"),
        description=r.text("description", ""),
        path=repo_path,
        url=url.rstrip("/"),
        component=r.text("component", "main"),
        keep_versions=r.number("keep_versions", 3),
        grace_seconds=int(r.number("grace_hours", 24)) * 3600,
        valid_days=r.number("valid_days", 0),
        fingerprints=tuple(f.upper() for f in fprs),
        gnupghome=root / env.get("KRONOS_GNUPGHOME", s.text("gnupghome", "repo/gnupg")),
        passphrase_env=s.text("passphrase_env", "KRONOS_SIGNING_PASSPHRASE"),
        passphrase_file=(root / pfile) if pfile else None,
        lock_timeout=_seconds(env.get("KRONOS_PUBLISH_LOCK_TIMEOUT"), "KRONOS_PUBLISH_LOCK_TIMEOUT",
                              r.number("lock_timeout", 600), f"{path}: repository.lock_timeout"),
    )
    u = top.sub("upload")
    profiles_table = u.sub("profiles")
    profiles: dict[str, dict[str, str]] = {}
    for tname in profiles_table.data:
        p = profiles_table.sub(tname)
        profiles[tname] = {k: p.text(k, required=True) for k in p.data}
        p.done()
    profiles_table.done()
    upload_key = env.get("KRONOS_UPLOAD_KEY", u.text("key", ""))
    upload_targets = u.strings("targets", ("sid", "noble", "resolute"))
    u.done()
    settings = dataclasses.replace(settings, upload_key=upload_key.upper(), upload_targets=upload_targets,
                                   upload_profiles=profiles)
    r.done()
    s.done()
    top.done()
    if settings.keep_versions < 1:
        raise ConfigError(f"{path}: repository.keep_versions: must be at least 1")
    return settings


def _seconds(text: str | None, name: str, configured: int, where: str) -> float:
    """A wait in seconds (>= 0): the environment's `name` when set, else the configured value."""
    value = float(configured)
    if text is not None and text.strip():
        try:
            value, where = float(text), name
        except ValueError:
            raise ConfigError(f"{name}: '{text}' is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{where}: {value:g} is not a number of seconds >= 0")
    return value
