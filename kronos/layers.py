"""Tool layers: an image plus packages from the target's archive (containers/tool-layer.sh, as root with
network), committed once under a tag that its inputs key, and reused while it exists (the repro and
autopkgtest layers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .cache import sha256_file
from .engine import ContainerSpec, Engine
from .errors import KronosError
from .executor.locks import KeyedLocks
from .keys import content_key

# what apt, dpkg and useradd need as root: apt's sandbox drops to _apt (setuid/setgid) and kills its
# methods, dpkg chowns and chmods files it does not own and keeps setuid bits
CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID")
_MAKING = KeyedLocks()  # two jobs wanting one layer: one makes it, the other waits and reuses it


def key(engine: Engine, base: str, script: Path, packages: Sequence[str], env: Mapping[str, str]) -> str:
    """The tag of the layer of packages (and env) over base: what it is made of."""
    return content_key({"base": engine.image_id(base), "script": sha256_file(script), "packages": list(packages),
                        "env": dict(sorted(env.items()))})[:16]


def layer(engine: Engine, base: str, repository: str, script: Path, log: Path, packages: Sequence[str], *,
          env: Mapping[str, str] | None = None, labels: tuple[tuple[str, str], ...] = (),
          locks: Path | None = None) -> str:
    """repository:<key>, made from base by script (containers/tool-layer.sh) with packages and env
    unless it exists. Raises KronosError naming the log when the script fails."""
    env = dict(env or {})
    tag = key(engine, base, script, packages, env)
    ref = f"{repository}:{tag}"
    with _MAKING.hold(ref, across=locks):
        if engine.image_id(ref):
            return ref
        spec = ContainerSpec(image=base, command=("/bin/sh", f"/kronos/{script.name}", *packages), network="host",
                             env=tuple(sorted(env.items())), capabilities=CAPABILITIES, labels=labels)
        with engine.container(spec) as c:
            c.put(script, "/kronos")
            code = c.run(log)
            if code != 0:
                last = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
                raise KronosError(f"cannot make {ref} over {base} (exit {code}{': ' + last[0] if last else ''});"
                                  f" log: {log}")
            c.commit(repository, tag)
    return ref
