"""Importing a module with one of its optional dependencies held back."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def without(name: str) -> Iterator[None]:
    """Within: `import name` raises ImportError (a None entry in sys.modules), so a module that
    imports `name` optionally, inside try/except ImportError, goes on without it. After: as before,
    and a later `import name` loads it for real. For the docker SDK, whose ssh transport imports
    paramiko at import time (0.1-0.16 s of every kronos command that talks to the engine, a no-op
    build's largest single cost) though only ssh:// engines use it."""
    if name in sys.modules:  # already loaded: nothing to gain
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get(name, ...) is None:
            del sys.modules[name]
