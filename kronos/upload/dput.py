"""dput-ng: the target's profile (JSON, from repo/repository.toml [upload.profiles.<target>]) and the
transfer. The host is configuration only."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..cache import atomic_path
from ..publish.signing import gpg_home
from ..run import run
from .plan import UploadError

# dput-ng's boolean profile keys (its schemas/config.json); TOML gives them as text here
BOOLEAN_KEYS = frozenset({"allow_dcut", "allow_unsigned_uploads", "full_upload_log", "passive_ftp", "run_lintian",
                          "scp_compress"})
REQUIRED_KEYS = ("method", "incoming")


def profile_name(target: str) -> str:
    return f"kronos-{target}"


def where(target: str) -> str:
    return f"repo/repository.toml [upload.profiles.{target}]"


def profile(configured: Mapping[str, str], target: str, family: str, fingerprint: str) -> dict[str, Any]:
    """The dput-ng profile: the configured keys over safe defaults; signed uploads by this key only."""
    data: dict[str, Any] = {"meta": family, "hash": "sha256", "allow_dcut": False}
    for key, value in configured.items():
        if key in BOOLEAN_KEYS:
            if value.lower() not in ("true", "false"):
                raise UploadError(f"{where(target)}.{key}: '{value}' is not true or false")
            data[key] = value.lower() == "true"
        else:
            data[key] = value
    if data.get("allow_unsigned_uploads"):
        raise UploadError(f"{where(target)}.allow_unsigned_uploads: uploads are always signed")
    missing = [k for k in REQUIRED_KEYS if not data.get(k)]
    if data.get("method") != "local" and not data.get("fqdn"):
        missing.insert(0, "fqdn")
    if missing:
        raise UploadError(f"{where(target)}: '{missing[0]}' is required")
    data["allow_unsigned_uploads"] = False
    data["gpg"] = {"allowed_keys": [fingerprint]}
    return data


def write_profile(data: Mapping[str, Any], dest: Path) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")


def transfer(profile_path: Path, changes: Path, gnupghome: Path) -> None:
    """dput-ng reads JSON profiles only from its profile directories (`dput -c` takes an old-style
    dput.cf), so the profile goes into ~/.dput.d/profiles/ of a throwaway HOME; its gpg hook checks the
    signature with the uploader's GnuPG home."""
    name = profile_path.stem
    with tempfile.TemporaryDirectory(prefix="kd") as home:
        profiles = Path(home) / ".dput.d" / "profiles"
        profiles.mkdir(parents=True)
        shutil.copyfile(profile_path, profiles / f"{name}.json")
        with gpg_home(gnupghome) as h:
            proc = run(["dput", name, changes], env={"HOME": home, "GNUPGHOME": str(h)}, check=False)
    if proc.returncode != 0:
        text = proc.stdout.decode(errors="replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        raise UploadError(f"dput {name} {changes.name} failed (exit {proc.returncode}):"
                          f" {lines[-1] if lines else 'no output'}")
