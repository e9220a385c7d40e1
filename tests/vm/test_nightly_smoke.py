"""The nightly's smoke stage for real: our xen published to a staging suite, booted in QEMU with a dom0
that never comes up (a broken dom0 command line, as test_smoke.py's case): the smoke fails, and what
dom0 installs and changed since the last green smoke (xen, on a first night) is held back; the rest is
promoted."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.nightly.command import Night, new_run
from kronos.nightly.decide import Package, decide
from kronos.nightly.smoke import smoke_staging
from kronos.nightly.stages import records
from kronos.publish.open import publisher
from kronos.publish.outputs import uploads

from .test_smoke import ROOT, Repo, qemu_of
from .test_smoke import repo as repo  # the fixture: the session's published repository, or KRONOS_SMOKE_REPO

pytestmark = pytest.mark.vm


@pytest.fixture
def gnupg() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))  # short: gpg-agent's socket path
    yield home
    subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(home)), check=False)
    shutil.rmtree(home, ignore_errors=True)


def test_a_failed_smoke_of_staging_holds_back_what_dom0_installs(repo: Repo, tmp_path: Path, gnupg: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the session's outputs; with KRONOS_SMOKE_REPO (make vm: <checkout>/repo/public), that checkout's out/
    builds = repo.builds or repo.path.parent.parent / "out"
    if not (builds / "bookworm" / "xen" / "build.json").is_file():
        pytest.fail(f"no xen build in {builds}: build the stack first (make run, or the test session's build)")
    out = tmp_path / "out"
    out.mkdir()
    (out / "bookworm").symlink_to(builds / "bookworm")  # the builds, read only; the night's records are new
    for name in [k for k in os.environ if k.startswith("KRONOS_") and k != "KRONOS_CACHE_DIR"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KRONOS_REPO_PATH", str(tmp_path / "repo"))
    monkeypatch.setenv("KRONOS_GNUPGHOME", str(gnupg))
    monkeypatch.setenv("KRONOS_SIGNING_PASSPHRASE", "")
    settings = dataclasses.replace(load_settings(ROOT), output_dir=out)

    _, pub = publisher(settings)
    found, _ = uploads(settings, ["bookworm"])
    pub.publish({"bookworm-staging": found["bookworm"]})
    after = records(settings, ["bookworm"])
    pkgs = [Package("bookworm", recipe, "up to date", str(r["version"]), {},
                    tuple(str(f) for f in r["files"] if str(f).endswith(".deb"))) for (_, recipe), r in after.items()]
    night: Night = new_run(settings, ["bookworm"], 1)
    night.decisions = decide(pkgs)

    monkeypatch.setenv("KRONOS_SMOKE_DOM0_APPEND", "root=/dev/vdz")
    failed, changed = smoke_staging(settings, night, ["bookworm"], retries=0)

    record = night.smoke["bookworm"]
    assert record["result"] == "failed" and record["failure"] == "infrastructure", record
    assert "dom0-ssh" in failed["bookworm"] and "/dev/vdz" in failed["bookworm"], failed
    assert "xen" in changed["bookworm"] and "ocaml-re" not in changed["bookworm"], changed
    assert {"serial.log", "qemu.log"} <= set(record["artefacts"]), record
    states = {d.package.recipe: d.state.value for d in decide(pkgs, failed, changed)}
    assert states["xen"] == "held back by smoke"
    assert states["ocaml-re"] == "up to date" and states["dh-ocaml"] == "up to date"
    assert qemu_of(Path(record["run_dir"])) == []
    # a failed smoke is never stored as green: the next night boots again
    assert not (out / "nightly" / "smoke" / "bookworm" / "green.json").exists()
