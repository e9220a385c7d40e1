"""Base images: mmdebstrap --variant=buildd -> tarball -> engine image.

An image has two keys: what it is made from (mmdebstrap's command line, its tag: a run reuses the image
while that is unchanged) and what it is (the sha256 of the root filesystem tarball, its CONTENT label).
Builds and their layers are keyed by the content: the engine's own image id differs between two engines
holding the same image, and two mmdebstrap runs of one command line can differ (a mirror moves), so an
image is made once and shipped to the engines that lack it (`shipped`: the engine's own archive of it, by
sha256 in the artefact store), and a package's key is the same whichever engine builds it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .archive.access import Archives
from .cache import sha256_file
from .config import Settings, Target
from .engine import Engine
from .executor.locks import KeyedLocks
from .keys import content_key
from .log import info, step
from .run import run
from .sandbox import apt_readable

IMAGE_FORMAT = 2  # bump when what goes into an image changes (2: the CONTENT label)
BUILDER_UID = 1000
REPOSITORY = "kronos/base"
CONTENT = "org.kronos.rootfs-sha256"  # the image's label: its root filesystem tarball's sha256
_ENSURING = KeyedLocks()  # one ensure() per target at a time: concurrent builds wait, then reuse it
# sbuild installs fakeroot too: packages without Rules-Requires-Root: no need it.


@dataclass(frozen=True)
class Image:
    target: str
    ref: str
    id: str
    key: str  # what it is made from (its tag)
    content: str  # what it is: the root filesystem's sha256 (the CONTENT label)


def apt_options(snapshot: bool) -> list[str]:
    opts = ['APT::Install-Recommends "false"']
    if snapshot:
        opts.append('Acquire::Check-Valid-Until "false"')
    return opts


def sources_lines(mirror: str, target: Target, suites: tuple[str, ...]) -> list[str]:
    comps = " ".join(target.components)
    return [f"deb {mirror} {suite} {comps}" for suite in suites]


def extra_sources(settings: Settings, archives: Archives, target: Target) -> str:
    """apt's lines for the target's extra suites (the build-deps phase adds them)."""
    mirror = archives.mirror(settings.archive_of(target), target.suite)
    return "\n".join(sources_lines(mirror, target, target.extra_suites))


def _mmdebstrap_head(settings: Settings, target: Target, variant: str, keyrings: Sequence[Path | str]) -> list[str]:
    archive = settings.archive_of(target)
    argv = [
        "mmdebstrap",
        f"--variant={variant}",
        "--mode=root",
        f"--architectures={settings.architecture}",
        f"--components={','.join(target.components)}",
    ]
    argv += [f"--aptopt={opt}" for opt in apt_options(archive.snapshot)]
    # a build container is thrown away or committed whole, never half-written: dpkg need not fsync
    # each file (mmdebstrap keeps the option in the image, so every build-deps phase takes it too)
    argv.append("--dpkgopt=force-unsafe-io")
    argv += [f"--keyring={k}" for k in keyrings]
    return argv


def mmdebstrap_argv(settings: Settings, archives: Archives, target: Target, out: Path,
                    keyrings: Sequence[Path | str]) -> list[str]:
    """mmdebstrap's command line; keyrings are the files apt reads (see sandbox.apt_readable)."""
    mirror = archives.mirror(settings.archive_of(target), target.suite)
    argv = _mmdebstrap_head(settings, target, "buildd", keyrings)
    argv.append(f"--include={','.join(('fakeroot', *target.include))}")
    argv += [
        f'--customize-hook=chroot "$1" useradd --create-home --uid {BUILDER_UID} --shell /bin/bash builder',
        '--customize-hook=mkdir -p "$1/build" "$1/kronos" && chroot "$1" chown builder:builder /build',
        '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
        target.suite,
        str(out),
    ]
    argv += sources_lines(mirror, target, (target.suite, *target.pockets))
    return argv


def minbase_argv(settings: Settings, archives: Archives, target: Target, out: Path,
                 keyrings: Sequence[Path | str]) -> list[str]:
    """mmdebstrap's command line for a minimal (minbase) tarball of the target's suite, the base QA
    tools such as piuparts start from: only Essential packages and apt, so a missing Depends shows.
    Each keyring is also put in the tarball's trusted.gpg.d (a tool that rewrites sources.list
    keeps apt able to verify the archive)."""
    mirror = archives.mirror(settings.archive_of(target), target.suite)
    argv = _mmdebstrap_head(settings, target, "minbase", keyrings)
    if target.include:
        argv.append(f"--include={','.join(target.include)}")
    for n, keyring in enumerate(keyrings):
        argv.append(f"--customize-hook=upload {keyring} /etc/apt/trusted.gpg.d/kronos-archive-{n}.gpg")
    argv += ['--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb', target.suite, str(out)]
    argv += sources_lines(mirror, target, (target.suite,))
    return argv


def image_key(settings: Settings, archives: Archives, target: Target) -> str:
    """The image's content key: mmdebstrap's command line with each keyring named by its sha256,
    so moving the checkout or the cache does not change it."""
    keyrings = [f"sha256:{sha256_file(k)}" for k in archives.keyrings(settings.archive_of(target))]
    argv = mmdebstrap_argv(settings, archives, target, Path("OUT"), keyrings)
    return content_key({"format": IMAGE_FORMAT, "argv": argv})


@contextlib.contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="image-", dir=settings.cache_dir))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ensure(settings: Settings, engine: Engine, archives: Archives, target: Target,
           refresh: bool = False) -> Image:
    """The target's base image: reused when its key is known to the engine, else built."""
    with _ENSURING.hold(f"image:{target.name}", across=settings.cache_dir / "locks"):
        return _ensure(settings, engine, archives, target, refresh)


def _ensure(settings: Settings, engine: Engine, archives: Archives, target: Target, refresh: bool) -> Image:
    key = image_key(settings, archives, target)
    ref = f"{REPOSITORY}-{target.name}:{key[:16]}"
    existing = engine.image_id(ref)
    content = (engine.image_labels(ref) or {}).get(CONTENT, "")
    if existing and content and not refresh:
        info(f"image {ref} is up to date")
        return Image(target.name, ref, existing, key, content)
    with step(f"Building base image for {target.name} ({target.suite})"), _scratch(settings) as tmp:
        tarball = tmp / "rootfs.tar"
        # apt reads the keyrings as its sandbox user: hand it copies it can read
        with apt_readable(archives.keyrings(settings.archive_of(target))) as keyrings:
            run(mmdebstrap_argv(settings, archives, target, tarball, keyrings))
        content = sha256_file(tarball)
        image_id = engine.import_image(tarball, f"{REPOSITORY}-{target.name}", key[:16], {CONTENT: content})
    for old in engine.images(f"{REPOSITORY}-{target.name}:"):
        if old != ref:
            engine.remove_image(old)
    return Image(target.name, ref, image_id, key, content)



def holds(engine: Engine, ref: str, content: str) -> bool:
    """Whether the engine has image ref with this root filesystem content."""
    return (engine.image_labels(ref) or {}).get(CONTENT) == content
