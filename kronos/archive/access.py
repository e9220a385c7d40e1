"""One place that knows how to reach a configured archive: mirror, keyrings, releases."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path

from debian.debian_support import Version

from ..cache import Cache, atomic_path
from ..config import Archive, Settings, Target
from ..errors import FetchError
from ..run import run
from . import indices, mirrors
from .release import SignedRelease, fetch_release


class Archives:
    """Releases and keyrings of the configured archives, memoized for one run."""

    def __init__(self, settings: Settings, cache: Cache) -> None:
        self.settings = settings
        self.cache = cache
        self._releases: dict[tuple[str, str, str], SignedRelease] = {}
        self._keyrings: dict[str, list[Path]] = {}
        self._lock = threading.RLock()  # concurrent builds share this memo (keyrings() calls release())

    def mirror(self, archive: Archive, suite: str) -> str:
        return mirrors.resolve(archive, suite, self.settings.architecture)

    def keyrings(self, archive: Archive) -> list[Path]:
        with self._lock:
            return self._keyrings_locked(archive)

    def _keyrings_locked(self, archive: Archive) -> list[Path]:
        if archive.name not in self._keyrings:
            if archive.keyring is not None:
                self._keyrings[archive.name] = [archive.keyring]
            else:
                self._keyrings[archive.name] = [self._packaged_keyring(archive)]
        return self._keyrings[archive.name]

    def release(self, archive: Archive, suite: str, mirror: str = "") -> SignedRelease:
        """The verified Release of suite, from `mirror` (default: the archive's for that suite)."""
        mirror = mirror or self.mirror(archive, suite)
        key = (archive.name, suite, mirror)
        with self._lock:
            if key not in self._releases:
                self._releases[key] = fetch_release(
                    self.cache, mirror, suite, self.keyrings(archive), archive.snapshot, self.settings.index_max_age,
                )
            return self._releases[key]

    def default_suites(self, target: Target) -> list[tuple[str, str]]:
        """(mirror, suite) of what the target's apt installs from by default: its suite, its pockets, and
        its security suite where this machine's apt names one for the archive's keyring."""
        archive = self.settings.archive_of(target)
        out = [(self.mirror(archive, s), s) for s in (target.suite, *target.pockets)]
        security = f"{target.suite}-security"
        if security not in target.pockets and archive.keyring is not None:
            uri = mirrors.suite_from_apt_sources(archive.keyring, security)
            if uri:
                out.append((uri, security))
        return out

    def _packaged_keyring(self, archive: Archive) -> Path:
        kp = archive.keyring_package
        assert kp is not None
        source = self.settings.archives.get(kp.archive)
        if source is None:
            raise FetchError(f"archive '{archive.name}': keyring_package names unknown archive '{kp.archive}'")
        release = self.release(source, kp.suite)
        arch = self.settings.architecture
        found = []
        for component in ("main",):
            path, ext = release.index(self.cache, f"{component}/binary-{arch}/Packages")
            found += indices.packages(indices.plain(path, ext), kp.package)
        if not found:
            raise FetchError(f"archive '{archive.name}': {kp.package} not found in {kp.archive} {kp.suite}")
        best = max(found, key=lambda p: Version(p["Version"]))
        what = f"{kp.package} {best['Version']} ({kp.suite})"
        deb = self.cache.fetch(
            f"{release.mirror}/{best['Filename']}", best["SHA256"], int(best["Size"]), what
        )
        out = self.cache.root / "keyrings" / f"{best['SHA256']}-{Path(kp.path).name}"
        if not out.exists():
            tar_bytes = run(["dpkg-deb", "--fsys-tarfile", str(deb)]).stdout
            with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
                member = None
                for name in (kp.path, f"./{kp.path}"):
                    try:
                        member = tar.getmember(name)
                        break
                    except KeyError:
                        continue
                extracted = tar.extractfile(member) if member else None
                if extracted is None:
                    raise FetchError(f"{what}: has no file {kp.path}")
                with atomic_path(out) as tmp:
                    tmp.write_bytes(extracted.read())
        return out
