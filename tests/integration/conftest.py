"""One set of real builds per test session (the `session` fixture of tests/conftest.py), and the signed
loopback archive of the bad-input and error tests."""

from __future__ import annotations

import contextlib
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
from . import session_build
from .checkout import ROOT
from .session_build import KRONOS, TARGETS


@dataclass
class Session:
    out: Path
    env: dict[str, str]
    first: subprocess.CompletedProcess[str]
    settings: Settings
    engine: Engine
    images: dict[str, Image]
    warm: bool  # the outputs of an earlier session were copied in (see session_build.build_path_digest)


def kronos(*args: str, env: dict[str, str], root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the installed `kronos` program like a user does."""
    return subprocess.run([str(KRONOS), *args], cwd=root, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)


def _show_now(config: pytest.Config, text: str) -> None:
    """Write to the terminal at once, not only in the summary at the end (which a run cut short by CI
    never prints)."""
    capture = config.pluginmanager.getplugin("capturemanager")  # None under -p no:capture
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stderr.write(text)
        sys.stderr.flush()


def build_session(config: pytest.Config) -> Iterator[Session]:
    """Every recipe for every target, built once (the `session` fixture of tests/conftest.py): the build
    started in the background when the tests were collected (session_build.py); this waits for it."""
    bg = session_build.start()  # already running, unless the collection hook did not start it
    first = bg.wait()
    if first.returncode != 0:
        report = f"kronos build failed:\n{first.stdout[-6000:]}"
        _show_now(config, f"\nThe test session's build failed; every test that needs it errors.\n{report}\n")
        pytest.fail(report)
    session_build.keep_warm(bg)
    settings = load_settings(ROOT, env={"KRONOS_OUTPUT_DIR": str(bg.out),
                                        "KRONOS_CACHE_DIR": bg.env["KRONOS_CACHE_DIR"]})
    engine = get_engine()
    pipeline = Pipeline(settings, engine)
    images = {img.target: img for img in pipeline.images(list(TARGETS))}
    yield Session(bg.out, bg.env, first, settings, engine, images, bg.warm)


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
