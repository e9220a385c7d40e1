"""The machine's own apt policy, read with apt-config (which honours APT_CONFIG)."""

from __future__ import annotations

import functools

from .errors import CommandError, ConfigError
from .run import run

CHECK_VALID_UNTIL = "Acquire::Check-Valid-Until"


@functools.cache
def checks_valid_until(apt_config: str | None = None) -> bool:
    """Whether apt on this machine enforces Valid-Until: apt's default (yes) unless its configuration
    says Acquire::Check-Valid-Until "false", as it does on hosts that read frozen snapshot mirrors.

    `apt_config` is the APT_CONFIG of the settings' environment (None: apt's usual files)."""
    env = {"APT_CONFIG": apt_config} if apt_config else None
    where = f" (APT_CONFIG={apt_config})" if apt_config else ""
    try:
        proc = run(["apt-config", "shell", "CHECK", f"{CHECK_VALID_UNTIL}/b"], env=env, merge_stderr=False)
    except CommandError as e:
        if e.returncode == 127:  # no apt on this machine: nothing overrides apt's default
            return True
        raise ConfigError(f"cannot read {CHECK_VALID_UNTIL} from apt's configuration{where}: {e}") from None
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.startswith("CHECK="):
            return line.strip() != "CHECK='false'"
    return True
