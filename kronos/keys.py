"""Content keys: a build or an image is a function of the hash of its inputs."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_key(inputs: Any) -> str:
    """sha256 of the canonical JSON of inputs."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()
