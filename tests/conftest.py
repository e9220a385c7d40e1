"""Shared test configuration, and the one set of real builds a test session shares: the integration
tests and the vm tier (which boots what the session published) use the same `session` and `published`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import Session
    from tests.integration.published_repo import Published

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Session]:
    """Every recipe built for every target, once per test session (tests/integration/conftest.py)."""
    from tests.integration.conftest import build_session

    yield from build_session(tmp_path_factory, pytestconfig)


@pytest.fixture(scope="session")
def published(session: Session) -> Iterator[Published]:
    """The session's outputs published for every target and served on 127.0.0.1."""
    from tests.integration.published_repo import serve_published

    yield from serve_published(session)
