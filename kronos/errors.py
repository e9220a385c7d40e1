"""Error types. Every error a user can cause is a KronosError with one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class KronosError(Exception):
    """A failure the user can act on; str() is the one line shown without --debug."""

    exit_code = 1


class ConfigError(KronosError):
    """Malformed kronos.toml, recipe, or an unknown name."""

    exit_code = 2


class FetchError(KronosError):
    """A source or index could not be downloaded."""


class NotServed(FetchError):
    """The server answered that it does not have the file (HTTP 404 or 410, or no such local file)."""

    def __init__(self, message: str, answer: str = "") -> None:
        super().__init__(message)
        self.answer = answer or message  # the server's own words: "HTTP 404 Not Found"


class VerifyError(KronosError):
    """A signature or checksum did not match."""


class PatchError(KronosError):
    """A patch in a series is missing or does not apply."""


class BuildError(KronosError):
    """A package failed to build."""


class FailedBuild(BuildError):
    """A build that failed in its container, kept as the image `image` (build tree in `workdir`)."""

    def __init__(self, message: str, image: str, user: str = "builder", workdir: str = "/build/pkg") -> None:
        super().__init__(message)
        self.image, self.user, self.workdir = image, user, workdir


class EngineError(KronosError):
    """The container engine failed or went away; the line names the operation and the engine."""


class StateError(KronosError):
    """A file kronos keeps (a ledger, a build record, the publish state) is not what kronos wrote."""


class StorageError(KronosError):
    """A local file or directory could not be written (permissions, a full disk, ...)."""


def os_error_line(e: OSError) -> str:
    """An OSError as `strerror: filename` (`-> filename2` for a rename), the way a user reads it."""
    what = e.strerror or str(e) or e.__class__.__name__
    if e.filename is not None:
        what += f": {e.filename}"
        if e.filename2 is not None:
            what += f" -> {e.filename2}"
    return what


def load_json(path: Path, what: str, fix: str) -> Any:
    """The JSON document in path, or a StateError naming the file, `what` it is and how to `fix` it."""
    try:
        return json.loads(path.read_bytes())
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        detail = f"{e.msg} at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
        raise StateError(f"{path}: {what} is corrupt: not valid JSON ({detail}); {fix}") from None


def corrupt(path: Path, what: str, problem: str, fix: str) -> StateError:
    """The error for a state file that is valid JSON but not in the shape kronos writes."""
    return StateError(f"{path}: {what} is corrupt: {problem}; {fix}")


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


class SmokeError(KronosError):
    """The smoke stage (Xen in QEMU from the published repository) cannot start or a stage failed;
    the line names the stage and, once QEMU runs, its serial log."""
