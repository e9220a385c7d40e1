"""Build-tree files a recipe keeps with its outputs (`[build.keep."<name>"]`), and what of them
build.json records: the file's origin and sha256, and the values of the Kconfig options named.

The container side is generic (containers/build.sh reads `keep.list`: one `name<TAB>glob` line
each); nothing here knows which package keeps what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .cache import sha256_file
from .errors import BuildError
from .recipe import Keep

KEEP_LIST = "keep.list"
_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def keep_list(keeps: Sequence[Keep]) -> str:
    """The text of keep.list for build.sh."""
    return "".join(f"{k.name}\t{k.path}\n" for k in keeps)


def failure(log: Path) -> str | None:
    """Why build.sh refused a kept file (its `kronos: keep ...` line in the build log), if it did."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    lines = [ln.strip() for ln in text.splitlines() if ln.startswith("kronos: keep ")]
    return lines[-1].removeprefix("kronos: ") if lines else None


def kconfig(text: str) -> dict[str, str]:
    """A Kconfig `.config` as option -> value: `y`, `m`, a number or an unquoted string; `n` for
    `# CONFIG_X is not set`."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _SET.match(line):
            value = m.group(2)
            out[m.group(1)] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
        elif m := _UNSET.match(line):
            out[m.group(1)] = "n"
    return out


def record(keeps: Sequence[Keep], outputs: Path) -> tuple[dict[str, object], dict[str, dict[str, str]]]:
    """build.json's `kept` (name -> its glob and sha256) and `configuration` (name -> option ->
    value, `n` also for an option the file does not mention, as Kconfig reads it) for the kept
    files in outputs."""
    kept: dict[str, object] = {}
    configuration: dict[str, dict[str, str]] = {}
    for k in keeps:
        path = outputs / k.name
        if not path.is_file():
            raise BuildError(f"the build did not produce the kept file {k.name} ({k.path})")
        kept[k.name] = {"path": k.path, "sha256": sha256_file(path)}
        if k.kconfig:
            values = kconfig(path.read_text(errors="replace"))
            configuration[k.name] = {o: values.get(o, "n") for o in k.kconfig}
    return kept, configuration
