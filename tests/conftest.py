"""Shared test configuration, and the one set of real builds a test session shares: the integration
tests and the vm tier (which boots what the session published) use the same `session` and `published`.

The session's build starts in the background as soon as the tests are collected, and the tests are
ordered so that what does not need it runs beside it: the unit tier, then the integration modules
that do not use the session's outputs, then those that do, then the vm tier. At the end pytest prints
the budget line: each tier's time, the session build's, and the total (README, "Tests")."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import Session
    from tests.integration.published_repo import Published
    from tests.integration.session_build import Background

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("unit", "integration", "vm")
# the README's budget for all of `.ci/run` on a fresh machine (CI allows 90 minutes)
BUDGET_MINUTES = 45
_SESSION_FIXTURES = {"session", "published"}
_spent: dict[str, float] = {}
_began: list[float] = []


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def session(pytestconfig: pytest.Config) -> Iterator[Session]:
    """Every recipe built for every target, once per test session (tests/integration/conftest.py)."""
    from tests.integration.conftest import build_session

    yield from build_session(pytestconfig)


@pytest.fixture(scope="session")
def published(session: Session) -> Iterator[Published]:
    """The session's outputs published for every target and served on 127.0.0.1."""
    from tests.integration.published_repo import serve_published

    yield from serve_published(session)


def tier(item: pytest.Item) -> str:
    parts = item.path.relative_to(ROOT / "tests").parts
    return parts[0] if parts[0] in TIERS else "other"


def _needs_session(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    # the vm tier's `repo` is the session's repository unless KRONOS_SMOKE_REPO names another
    return bool(names & _SESSION_FIXTURES) or ("repo" in names and tier(item) == "vm"
                                                and not os.environ.get("KRONOS_SMOKE_REPO"))


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Order by tier and, within the integration tier, the modules that do not wait for the session's
    build first (whole modules, so a module's fixtures are made once); then start that build."""
    needing = {item.path for item in items if _needs_session(item)}

    def rank(item: pytest.Item) -> tuple[int, int]:
        t = tier(item)
        return (TIERS.index(t) if t in TIERS else len(TIERS), int(item.path in needing))

    items.sort(key=rank)
    if needing and not config.option.collectonly:
        from tests.integration import session_build

        session_build.start()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    parts = Path(report.fspath).parts
    name = next((p for p in TIERS if p in parts), "other")
    _spent[name] = _spent.get(name, 0.0) + report.duration


def pytest_sessionstart(session: pytest.Session) -> None:
    _began.append(time.monotonic())


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The budget line: each tier's time (setup, call and teardown of its tests), the session build's
    wall time and how long the tests waited for it, and pytest's total against the budget."""
    if not _spent:
        return  # nothing ran (--collect-only)
    total = time.monotonic() - _began[0] if _began else 0.0
    tiers = ", ".join(f"{name} {_minutes(_spent[name])}" for name in (*TIERS, "other") if name in _spent)
    bg = _background()
    if bg is not None and bg.seconds is not None:
        build = (f"; session build {_minutes(bg.seconds)} ({'warm' if bg.warm else 'cold'}) beside the tests,"
                 f" waited for {_minutes(bg.waited)}")
    elif bg is not None:
        build = "; session build not waited for (still running at the end: stopped)"
    else:
        build = ""
    terminalreporter.write_line(f"budget: {tiers}{build}; pytest {_minutes(total)} in all"
                                f" (.ci/run's budget on a fresh machine: {BUDGET_MINUTES}m)")


def _background() -> Background | None:
    """The session's build, if this run started one (importing the module would copy the checkout)."""
    module = sys.modules.get("tests.integration.session_build")
    return module.current() if module is not None else None  # type: ignore[no-any-return]


def pytest_unconfigure(config: pytest.Config) -> None:
    bg = _background()
    if bg is not None:
        bg.stop()
