"""The publish lock: an flock on <root>/.lock that only the publishing process holds, its holder in
<root>/.lock.pid, and a bounded wait that says who holds it (kronos/holding.py).

The descriptor is close-on-exec and no process is forked while it is held (the .deb readers are
spawned), so the kernel drops the lock when the holder dies, however it dies."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from .. import holding
from .fault import checkpoint
from .tree import PublishError

TIMEOUT_KEY = "repository.lock_timeout, env KRONOS_PUBLISH_LOCK_TIMEOUT"


def holder(root: Path) -> str:
    """Who holds the lock, for a person: the recorded pid, whether it runs, who has the file open."""
    return holding.holder(root / ".lock", root / ".lock.pid")


@contextlib.contextmanager
def locked(root: Path, timeout: float) -> Iterator[None]:
    """Serialize publishes; wait at most `timeout` seconds for the holder, saying who it is."""
    with holding.held(root / ".lock", root / ".lock.pid", timeout, "the publish lock", TIMEOUT_KEY, PublishError):
        checkpoint("locked")
        yield
