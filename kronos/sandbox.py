"""Files read by programs that drop privileges (apt's sandbox user `_apt`).

apt fetches and verifies as `_apt`: a keyring given with `--keyring`/`Signed-By` or a `file:`
repository must be readable by that user, and so must every directory above it. A checkout in
root's home (mode 0700 on Debian) or in any `mktemp -d` is not. `apt_readable()` hands such
programs copies in a directory of their own under the system's temporary directory, mode 0755,
removed when the block ends. What goes there is public by nature (archive keyrings, packages
that are about to be published); nothing secret may be passed to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import KronosError


def traversable(directory: Path) -> bool:
    """Whether a user that is neither owner nor in the group can reach names inside directory."""
    directory = directory.resolve()
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in (directory, *directory.parents))


def others_can_read(path: Path) -> bool:
    """Whether a user that is neither the owner nor in the group can read path (file or tree)."""
    path = path.resolve()
    if not traversable(path.parent):
        return False
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        wanted = stat.S_IROTH | stat.S_IXOTH
        return mode & wanted == wanted and all(others_can_read(p) for p in path.iterdir())
    return bool(mode & stat.S_IROTH)


def _open_up(root: Path) -> None:
    """Give others read access to root's tree (directories 0755, files 0644, executables 0755)."""
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        if p.is_dir():
            p.chmod(0o755)
        else:
            p.chmod(0o755 if p.stat().st_mode & stat.S_IXUSR else 0o644)


@contextlib.contextmanager
def apt_readable(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Copies of paths (files or directory trees) that apt's sandbox user can read, same names,
    in one fresh directory; removed when the block ends."""
    spool_root = Path(tempfile.gettempdir())
    if not traversable(spool_root):
        raise KronosError(
            f"temporary directory {spool_root} is not readable by apt's sandbox user _apt;"
            " set TMPDIR to a directory every user can traverse"
        )
    spool = Path(tempfile.mkdtemp(prefix="kronos-apt-", dir=spool_root))
    try:
        spool.chmod(0o755)
        copies = []
        for i, src in enumerate(paths):
            slot = spool / str(i)
            slot.mkdir()
            dest = slot / src.name
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=False)
            else:
                shutil.copyfile(src, dest)
            copies.append(dest)
        _open_up(spool)
        yield copies
    finally:
        shutil.rmtree(spool, ignore_errors=True)
