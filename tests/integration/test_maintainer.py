"""Following the README's advice: after a build with the default maintainer, a user sets DEBEMAIL;
the next build is a new revision carrying the new identity, and an upload's lintian check passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from debian.deb822 import Changes, Dsc

from .checkout import ROOT
from .conftest import kronos

pytestmark = pytest.mark.integration


def _must(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
    return proc.stdout


def test_a_new_maintainer_is_a_new_revision_that_uploads(tmp_path: Path) -> None:
    repo_config = tmp_path / "repository.toml"
    shutil.copyfile(ROOT / "repo" / "repository.toml", repo_config)
    gnupghome = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))  # short: gpg-agent's socket path
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRONOS_", "DEBEMAIL", "DEBFULLNAME")) or k in ("KRONOS_DEBUG", "KRONOS_CACHE_DIR")}
    env.update(KRONOS_ROOT=str(ROOT), KRONOS_OUTPUT_DIR=str(tmp_path / "out"),
               KRONOS_REPO_PATH=str(tmp_path / "public"), KRONOS_GNUPGHOME=str(gnupghome),
               KRONOS_REPO_CONFIG=str(repo_config))
    build = ("build", "--target", "sid", "--only", "python3-xenapi")
    out = tmp_path / "out" / "sid" / "python3-xenapi"
    try:
        _must(kronos(*build, env=env), "kronos build (default maintainer)")
        _must(kronos("publish", "--target", "sid", env=env), "kronos publish")
        assert (out / "python-xenapi_26.21.1-1.dsc").exists()

        env.update(DEBFULLNAME="Kronos Release Engineer", DEBEMAIL="release@kronos.invalid")
        second = _must(kronos(*build, env=env), "kronos build (DEBEMAIL set)")
        assert "python3-xenapi 26.21.1-1 (sid) is up to date" not in second, \
            "the maintainer changed but the build was skipped"
        dsc_path = out / "python-xenapi_26.21.1-2.dsc"
        assert dsc_path.exists(), sorted(p.name for p in out.iterdir())
        with dsc_path.open() as f:
            assert Dsc(f)["Maintainer"] == "Kronos Release Engineer <release@kronos.invalid>"
        _must(kronos("publish", "--target", "sid", env=env), "kronos publish (second)")

        proc = kronos("upload", "--target", "sid", "--dry-run", env=env)
        _must(proc, "kronos upload --target sid --dry-run")
        changes = Path(proc.stdout.strip().splitlines()[-1])
        with changes.open() as f:
            ch = Changes(f)
        assert ch["Version"] == "26.21.1-2"
        assert ch["Changed-By"] == "Kronos Release Engineer <release@kronos.invalid>"
        assert "lintian --fail-on error" in (changes.parent / "lintian.log").read_text()
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(gnupghome)), check=False)
        shutil.rmtree(gnupghome, ignore_errors=True)
