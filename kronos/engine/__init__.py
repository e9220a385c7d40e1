"""Container engines behind one small interface (Docker first)."""

from __future__ import annotations

from .base import ContainerSpec, Engine, EngineContainer

__all__ = ["ContainerSpec", "Engine", "EngineContainer", "get_engine"]


def get_engine(name: str = "docker") -> Engine:
    """The engine registered under `name`."""
    from . import docker  # noqa: F401  (registers itself)

    return Engine.create(name)
