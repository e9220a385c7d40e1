"""Error types. Every error a user can cause is a KronosError with one clear line."""

from __future__ import annotations


class KronosError(Exception):
    """A failure the user can act on; str() is the one line shown without --debug."""

    exit_code = 1


class ConfigError(KronosError):
    """Malformed kronos.toml, recipe, or an unknown name."""

    exit_code = 2


class FetchError(KronosError):
    """A source or index could not be downloaded."""


class VerifyError(KronosError):
    """A signature or checksum did not match."""


class PatchError(KronosError):
    """A patch in a series is missing or does not apply."""


class BuildError(KronosError):
    """A package failed to build."""


class CommandError(KronosError):
    """An external command failed."""

    def __init__(self, argv: list[str], returncode: int, output: str = "") -> None:
        import shlex

        self.argv = argv
        self.returncode = returncode
        self.output = output
        lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("E:", "error:", "dpkg-source: error", "ERROR"))]
        tail = (errors or lines)[-1:]
        detail = f": {tail[0]}" if tail else ""
        super().__init__(f"command failed with exit code {returncode}: {shlex.join(argv)}{detail}")
