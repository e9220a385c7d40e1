"""Version conventions per target, compared by Debian's rules (python-debian)."""

from __future__ import annotations

from debian.debian_support import Version

from ..config import Target


def authored(upstream: str, target: Target, n: int) -> str:
    """Our own package: plain revision -n where the target says so (sid), else -1<suffix n>."""
    if target.plain_revision:
        return f"{upstream}-{n}"
    return f"{upstream}-1{target.version_suffix.format(n=n)}"


def rebuilt(source_version: str, target: Target, n: int) -> str:
    """A rebuild or backport of an archive source: its version plus the target's suffix."""
    return f"{source_version}{target.version_suffix.format(n=n)}"


def upstream_of(version: str) -> str:
    return str(Version(version).upstream_version)


def is_newer(a: str, b: str) -> bool:
    return Version(a) > Version(b)
