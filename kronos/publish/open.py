"""The project's publisher: its repository settings and a Publisher that signs with its key."""

from __future__ import annotations

from ..config import Settings
from .publisher import Publisher
from .settings import RepoSettings, load_repo_settings
from .signing import signer


def publisher(s: Settings) -> tuple[RepoSettings, Publisher]:
    repo = load_repo_settings(s.root)
    # the publisher signs the new generation before it writes anything visible: no probe signature
    return repo, Publisher(repo, lambda: signer(repo, probe=False), s.architecture)
