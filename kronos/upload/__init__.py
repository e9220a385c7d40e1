"""Stage 4b: signed source-only uploads (Sid, PPAs) of the packages we author.

For each of our recipes built for the target: the version the repository serves, strictly newer than
the last upload -> out/uploads/<target>/<source>_<version>/ with the .dsc and its files, a source
.buildinfo and .changes signed like debsign, the uploader's public key, the dput-ng profile and the
lintian log -> checked -> sent with dput-ng (not with --dry-run) -> recorded in the upload ledger.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import images
from ..archive.access import Archives
from ..build import scratch
from ..cache import Cache, atomic_path, replace_dir
from ..config import Settings, Target
from ..engine import Engine, get_engine
from ..log import info, step
from ..publish.publisher import Publisher
from ..publish.settings import RepoSettings
from ..publish.signing import signer
from .artefacts import prepare, read_changes, sign, source_only
from .check import lintian, verify
from .dput import profile, profile_name, transfer, where, write_profile
from .ledger import UploadLedger
from .plan import Candidate, UploadError, candidates, require_published, require_upload_target
from .uploader import Uploader, require_uid, uploader

__all__ = ["UploadError", "upload", "verify"]

KEYRING = "uploader-keyring.pgp"
LINTIAN_LOG = "lintian.log"


@dataclass(frozen=True)
class Context:
    settings: Settings
    target: Target
    who: Uploader
    profile: Mapping[str, Any] | None
    engine: Engine
    image: images.Image

    @property
    def root(self) -> Path:
        return self.settings.output_dir / "uploads" / self.target.name


def _prepare(ctx: Context, c: Candidate) -> Path:
    """Make, sign and check one upload; return its .changes in out/uploads/<target>/<name>/."""
    final = ctx.root / c.name
    staged = ctx.root / f".{c.name}.new"
    failed = ctx.root / f"{c.name}.failed"
    for d in (staged, failed):
        shutil.rmtree(d, ignore_errors=True)
    try:
        with scratch(ctx.settings.cache_dir, "upload-") as work:
            a = prepare(c, str(ctx.settings.maintainer), staged, work)
        changes = read_changes(a.changes)
        source_only(changes, a.changes, ctx.target.distribution)
        require_uid(ctx.who.uids, str(changes.get("Changed-By", "")), ctx.who.fingerprint)
        sign(a, ctx.who.signer.clearsign)
        keyring = staged / KEYRING
        with atomic_path(keyring) as tmp:
            tmp.write_bytes(ctx.who.signer.export(armor=False))
        if ctx.profile is not None:
            write_profile(ctx.profile, staged / f"{profile_name(ctx.target.name)}.json")
        verify(a.changes, keyring, ctx.target.distribution)
        info(f"signatures and checksums of {a.changes.name} verify against {ctx.who.fingerprint}")
        with step(f"lintian {a.changes.name} in a clean {ctx.target.name} container"):
            lint = lintian(ctx.engine, ctx.image, a.changes, staged / LINTIAN_LOG)
        if not lint.ok:
            os.replace(staged, failed)
            raise UploadError(f"lintian rejects {c.source} {c.version} ({ctx.target.name}): {lint.summary};"
                              f" see {failed / LINTIAN_LOG}")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    replace_dir(staged, final)
    return final / a.changes.name


def upload(settings: Settings, repo: RepoSettings, target: str, dry_run: bool) -> list[Path]:
    """Prepare, sign and check the source-only uploads for target; send them unless dry_run.
    Returns the signed .changes files."""
    require_upload_target(repo.upload_targets, target)
    t = settings.target(target)
    configured = repo.upload_profiles.get(target)
    if not configured and not dry_run:
        raise UploadError(f"no upload host configured for {target} in {where(target)} (--dry-run needs none)")
    cands = candidates(settings, t)
    served = Publisher(repo, lambda: signer(repo), settings.architecture).listing().get(target, [])
    require_published(cands, served, target)
    ledger = UploadLedger.for_target(settings.output_dir, target)
    with ledger.locked():
        for c in cands:
            ledger.require_newer(c.source, c.version)
        who = uploader(settings, repo)
        require_uid(who.uids, str(settings.maintainer), who.fingerprint)
        prof = profile(configured, target, settings.archive_of(t).family, who.fingerprint) if configured else None
        engine = get_engine()
        image = images.ensure(settings, engine, Archives(settings, Cache(settings.cache_dir)), t)
        ctx = Context(settings, t, who, prof, engine, image)
        done: list[tuple[Candidate, Path]] = []
        for c in cands:
            with step(f"Source-only upload of {c.source} {c.version} for {target}"):
                done.append((c, _prepare(ctx, c)))
        if dry_run:
            info(f"dry run: {len(done)} upload(s) prepared and checked, nothing sent or recorded")
            return [changes for _, changes in done]
        for c, changes in done:
            with step(f"dput {profile_name(target)} {changes.name}"):
                transfer(changes.parent / f"{profile_name(target)}.json", changes, repo.gnupghome)
            ledger.record(c.source, c.version)
    return [changes for _, changes in done]
