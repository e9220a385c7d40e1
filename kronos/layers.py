"""Tool layers: an image plus what one script installs (as root, with network), committed once under a
name that its inputs key, and reused while it exists (the lintian, repro and autopkgtest layers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .engine import ContainerSpec, Engine
from .errors import KronosError
from .executor.locks import KeyedLocks

# what apt, dpkg and useradd need as root: apt's sandbox drops to _apt (setuid/setgid) and kills its
# methods, dpkg chowns and chmods files it does not own and keeps setuid bits
CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID")
_MAKING = KeyedLocks()  # two jobs wanting one layer: one makes it, the other waits and reuses it


def layer(engine: Engine, base: str, repository: str, tag: str, script: Path, log: Path, *,
          args: Sequence[str] = (), labels: tuple[tuple[str, str], ...] = (), locks: Path | None = None) -> str:
    """repository:tag, made from base by running script (put in /kronos) with args unless it exists.
    Raises KronosError naming the log when the script fails."""
    ref = f"{repository}:{tag}"
    with _MAKING.hold(ref, across=locks):
        if engine.image_id(ref):
            return ref
        spec = ContainerSpec(image=base, command=("/bin/sh", f"/kronos/{script.name}", *args), network="host",
                             capabilities=CAPABILITIES, labels=labels)
        with engine.container(spec) as c:
            c.put(script, "/kronos")
            code = c.run(log)
            if code != 0:
                last = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
                raise KronosError(f"cannot make {ref} over {base} (exit {code}{': ' + last[0] if last else ''});"
                                  f" log: {log}")
            c.commit(repository, tag)
    return ref
