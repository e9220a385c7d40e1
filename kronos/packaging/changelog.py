"""Writing the per-target changelog entry with python-debian; SOURCE_DATE_EPOCH from it."""

from __future__ import annotations

import email.utils
from pathlib import Path

from debian.changelog import Changelog

from ..config import Maintainer


def add_entry(tree: Path, package: str, version: str, distribution: str, changes: list[str],
              maintainer: Maintainer, timestamp: int) -> None:
    """Prepend an entry to tree/debian/changelog (created when missing)."""
    path = tree / "debian" / "changelog"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            changelog = Changelog(f)
    else:
        changelog = Changelog()
    changelog.new_block(
        package=package,
        version=version,
        distributions=distribution,
        urgency="medium",
        author=str(maintainer),
        date=email.utils.formatdate(timestamp, usegmt=False).replace("-0000", "+0000"),
    )
    changelog.add_change("")
    for line in changes:
        changelog.add_change(f"  * {line}")
    changelog.add_change("")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        changelog.write_to_open_file(f)


def source_date_epoch(tree: Path) -> int:
    """The date of the newest changelog entry, as the reproducible-builds clock."""
    with (tree / "debian" / "changelog").open(encoding="utf-8") as f:
        changelog = Changelog(f, max_blocks=1)
    date = changelog.date
    parsed = email.utils.parsedate_to_datetime(date)
    return int(parsed.timestamp())


def top(tree: Path) -> tuple[str, str]:
    """(source package name, version) of the newest entry."""
    with (tree / "debian" / "changelog").open(encoding="utf-8") as f:
        changelog = Changelog(f, max_blocks=1)
    return str(changelog.package), str(changelog.version)
