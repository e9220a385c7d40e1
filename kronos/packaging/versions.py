"""Version conventions per target, compared by Debian's rules (python-debian).

Three kinds of version (README, "Version rules"):
- authored: our own package, `<upstream>-1<version_suffix>` (or a plain `-N` where the target says so);
- backport: an archive source from another suite, `<version><version_suffix>` (`~bpo12+N`), which
  sorts below the version it backports;
- own rebuild: an archive source from the target's own suite or pockets. It must sort above the
  archive's version, or apt keeps installing the archive's build, and below the archive's next stable
  or security update of that version, so the archive's fixes still win. The archive numbers its
  updates after `update_tag` (`+deb12u1`, `ubuntu0.24.04.1`, `ubuntu2.1`); the rebuild takes update
  number 0 (`+deb12u0`, `ubuntu0`) unless the version already carries an update number, then appends
  `rebuild_suffix` (`+kronosN`), which sorts below the archive's next number and below a `.N` appended
  to it (`+` sorts before `.`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from debian.debian_support import Version

if TYPE_CHECKING:
    from ..config import Target

_SAMPLE = "1.0-1"  # the version a rule is checked on at load time


def authored(upstream: str, target: Target, n: int) -> str:
    """Our own package: plain revision -n where the target says so (sid), else -1<suffix n>."""
    if target.plain_revision:
        return f"{upstream}-{n}"
    return f"{upstream}-1{target.version_suffix.format(n=n)}"


def rebuilt(source_version: str, target: Target, n: int) -> str:
    """A backport of an archive source from another suite: its version plus the target's suffix."""
    return f"{source_version}{target.version_suffix.format(n=n)}"


def own_suites(target: Target) -> frozenset[str]:
    """The suites whose packages the target's archive updates in place: the suite and its pockets."""
    s = target.suite
    return frozenset((s, *target.pockets, f"{s}-updates", f"{s}-security", f"{s}-proposed-updates"))


def from_own_suite(archive: str, suite: str, target: Target) -> bool:
    return archive == target.archive and suite in own_suites(target)


def own_rebuild(source_version: str, target: Target, n: int) -> str:
    """A rebuild of the target's own source: above it, below the archive's next update of it."""
    return _own(source_version, target.update_tag, target.rebuild_suffix, n)


def _own(version: str, update_tag: str, suffix: str, n: int) -> str:
    rest = suffix.format(n=n)
    if not update_tag or _updated(version, update_tag):
        return f"{version}{rest}"
    return f"{version}{update_tag}0{rest}"


def _updated(version: str, update_tag: str) -> bool:
    """Whether the version already ends in an update number: `+deb12u2`, `ubuntu0.24.04.1`."""
    return re.search(re.escape(update_tag) + r"[0-9]+(\.[0-9]+)*$", version) is not None


def _next_updates(version: str, update_tag: str) -> list[str]:
    """The archive's possible next updates of a version: the number bumped, or `.1` appended."""
    if not update_tag:
        return []
    if not _updated(version, update_tag):
        return [f"{version}{update_tag}1", f"{version}{update_tag}0.1"]
    head, last = re.split(r"(?=[0-9]+$)", version, maxsplit=1)  # _updated: it ends in digits
    return [f"{head}{int(last) + 1}", f"{version}.1"]


def rule_problem(update_tag: str, suffix: str) -> str | None:
    """Why an own-rebuild rule would not sort right (shown on sample versions), or None."""
    originals = [_SAMPLE] + ([f"{_SAMPLE}{update_tag}1"] if update_tag else [])
    for original in originals:
        first, second, far = (_own(original, update_tag, suffix, n) for n in (1, 2, 99))
        if not Version(first) > Version(original):
            return f"gives {first}, which does not sort above {original}"
        if not Version(second) > Version(first):
            return f"gives {second} after {first}, which does not sort above it"
        for update in _next_updates(original, update_tag):
            if not Version(far) < Version(update):
                return f"gives {far}, which does not sort below the archive's update {update}"
    return None


def upstream_of(version: str) -> str:
    return str(Version(version).upstream_version)


def is_newer(a: str, b: str) -> bool:
    return Version(a) > Version(b)
