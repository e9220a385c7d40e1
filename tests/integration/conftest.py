"""One set of real builds per test session (the `session` fixture of tests/conftest.py), and the signed
loopback archive of the bad-input and error tests."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kronos.config import Settings, load_settings
from kronos.engine import Engine, get_engine
from kronos.images import Image
from kronos.pipeline import Pipeline

from . import archive_fixture as af
from .checkout import CACHE, ROOT

KRONOS = Path(sys.executable).with_name("kronos")
TARGETS = ("sid", "trixie", "bookworm", "noble", "resolute")
WARM_DIR = CACHE.parent / "kronos-test"  # behind the same 0700 directory as the download cache


@dataclass
class Session:
    out: Path
    env: dict[str, str]
    first: subprocess.CompletedProcess[str]
    settings: Settings
    engine: Engine
    images: dict[str, Image]
    warm: bool  # the outputs of an earlier session were copied in (see build_path_digest)


def kronos(*args: str, env: dict[str, str], root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the installed `kronos` program like a user does."""
    return subprocess.run([str(KRONOS), *args], cwd=root, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)


# What the session's build outputs are a function of beyond kronos's own content keys: the code of
# every stage up to the build (publishing and uploads come after it). A warm run reuses the outputs of
# the last successful session only when none of it changed; otherwise it builds everything again.
_BUILD_PATH = ("kronos", "containers", "recipes", "patches", "kronos.toml", "pyproject.toml", "constraints.txt")
_AFTER_BUILD = ("publish", "upload")


def build_path_digest(root: Path) -> str:
    h = hashlib.sha256()
    for top in _BUILD_PATH:
        base = root / top
        for path in sorted([base] if base.is_file() else base.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or "__pycache__" in rel.parts or (rel.parts[0] == "kronos" and
                                                                     rel.parts[1] in _AFTER_BUILD):
                continue
            h.update(f"{rel.as_posix()}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _show_now(config: pytest.Config, text: str) -> None:
    """Write to the terminal at once, not only in the summary at the end (which a run cut short by CI
    never prints)."""
    capture = config.pluginmanager.getplugin("capturemanager")  # None under -p no:capture
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stderr.write(text)
        sys.stderr.flush()


def build_session(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Iterator[Session]:
    """Build every recipe for every target once (the `session` fixture of tests/conftest.py). Warm: the
    outputs of the last successful session (under the test cache, keyed by build_path_digest) are copied
    in first, and kronos's own content keys decide what is up to date; KRONOS_TEST_COLD=1 (CI's fresh
    clone is always cold) builds all."""

    out = tmp_path_factory.mktemp("out")
    warm = WARM_DIR / f"session-{build_path_digest(ROOT)}"
    reused = warm.is_dir() and not os.environ.get("KRONOS_TEST_COLD")
    if reused:
        shutil.copytree(warm, out, symlinks=True, dirs_exist_ok=True)
    env = dict(os.environ, KRONOS_OUTPUT_DIR=str(out), KRONOS_ROOT=str(ROOT))
    env.pop("KRONOS_TARGETS", None)
    first = kronos("build", "--jobs", "2", *(a for t in TARGETS for a in ("--target", t)), env=env)
    if first.returncode != 0:
        report = f"kronos build failed:\n{first.stdout[-6000:]}"
        _show_now(config, f"\nThe test session's build failed; every test that needs it errors.\n{report}\n")
        pytest.fail(report)
    shutil.rmtree(WARM_DIR, ignore_errors=True)
    shutil.copytree(out, warm, symlinks=True)
    settings = load_settings(ROOT, env={"KRONOS_OUTPUT_DIR": str(out), "KRONOS_CACHE_DIR": env["KRONOS_CACHE_DIR"]})
    engine = get_engine()
    pipeline = Pipeline(settings, engine)
    images = {img.target: img for img in pipeline.images(list(TARGETS))}
    yield Session(out, env, first, settings, engine, images, reused)


# the small signed archive of the bad-input and error tests (archive_fixture.py)
@pytest.fixture(scope="module")
def gpg() -> Iterator[af.GpgHome]:
    home = af.GpgHome()
    try:
        yield home
    finally:
        home.close()


@pytest.fixture(scope="module")
def pristine(gpg: af.GpgHome, tmp_path_factory: pytest.TempPathFactory) -> af.Archive:
    return af.build_archive(tmp_path_factory.mktemp("pristine"), gpg)


@pytest.fixture
def archive(pristine: af.Archive, tmp_path: Path) -> af.Archive:
    """A private copy of the archive, free to be broken by the test."""
    return pristine.copy(tmp_path / "served")
