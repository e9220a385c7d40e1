"""One set of real builds per test session, shared by the integration tests."""

from __future__ import annotations

import os
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
from .checkout import ROOT

KRONOS = Path(sys.executable).with_name("kronos")
TARGETS = ("sid", "trixie", "bookworm", "noble", "resolute")


@dataclass
class Session:
    out: Path
    env: dict[str, str]
    first: subprocess.CompletedProcess[str]
    settings: Settings
    engine: Engine
    images: dict[str, Image]


def kronos(*args: str, env: dict[str, str], root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the installed `kronos` program like a user does."""
    return subprocess.run([str(KRONOS), *args], cwd=root, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    # KRONOS_TEST_OUTPUT_DIR reuses the outputs of an earlier session (a developer's shortcut; CI starts empty)
    reuse = os.environ.get("KRONOS_TEST_OUTPUT_DIR")
    out = Path(reuse) if reuse else tmp_path_factory.mktemp("out")
    env = dict(os.environ, KRONOS_OUTPUT_DIR=str(out), KRONOS_ROOT=str(ROOT))
    env.pop("KRONOS_TARGETS", None)
    first = kronos("build", *(a for t in TARGETS for a in ("--target", t)), env=env)
    if first.returncode != 0:
        pytest.fail(f"kronos build failed:\n{first.stdout[-6000:]}")
    settings = load_settings(ROOT, env={"KRONOS_OUTPUT_DIR": str(out), "KRONOS_CACHE_DIR": env["KRONOS_CACHE_DIR"]})
    engine = get_engine()
    pipeline = Pipeline(settings, engine)
    images = {img.target: img for img in pipeline.images(list(TARGETS))}
    yield Session(out, env, first, settings, engine, images)


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
