"""Kronos: build the Xen XAPI toolstack into Debian and Ubuntu packages."""

from __future__ import annotations

__version__ = "0.1.0"
