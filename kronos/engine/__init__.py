"""Container engines behind one small interface (Docker first)."""

from __future__ import annotations

from .base import ContainerSpec, Engine, EngineContainer

__all__ = ["ContainerSpec", "Engine", "EngineContainer", "get_engine"]


def get_engine(name: str = "docker", host: str | None = None) -> Engine:
    """The engine registered under `name`, at host (else DOCKER_HOST, else the engine's default)."""
    import contextlib
    import os

    from ..lazy import without

    ssh = (host or os.environ.get("DOCKER_HOST", "")).startswith("ssh://")
    # the SDK's ssh transport needs paramiko: imported with the SDK for an ssh:// engine only
    with contextlib.nullcontext() if ssh else without("paramiko"):
        from . import docker  # noqa: F401  (registers itself)

    return Engine.create(name, host)
