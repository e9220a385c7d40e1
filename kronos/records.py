"""build.json: the record of one build output (out/<target>/<recipe>/build.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import corrupt, load_json

BUILD_RECORD = "build.json"


def read_build_record(path: Path) -> dict[str, Any]:
    """The record at path; a corrupt one is one StateError naming it and what to do."""
    fix = f"remove {path.parent} and build again"
    data = load_json(path, "the build record", fix)
    if not isinstance(data, dict):
        raise corrupt(path, "the build record", f"a JSON {type(data).__name__}, not an object", fix)
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise corrupt(path, "the build record", '"files" is not a list of file names', fix)
    return data
