"""The smoke dom0: a root file system made with mmdebstrap from the target's archive plus our published
repository (pinned, so our xen wins over the archive's security updates), as an ext4 image made with
`mke2fs -d` (no loop mounts), with its kernel and initrd beside it.

Content-keyed: the key covers the mmdebstrap command line (keyrings by sha256, our repository by its
Origin, suite and the sha256 of its Packages index), the package list, our packages' versions and the
customize script. An unchanged dom0 is reused from the cache."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822, Packages

from ..archive.access import Archives
from ..cache import replace_dir, sha256_file
from ..config import Settings, Target
from ..errors import SmokeError
from ..images import apt_options, sources_lines
from ..keys import content_key
from ..log import info, step
from ..run import run
from ..sandbox import apt_readable
from .published import Published

FORMAT = 1  # bump when what goes into a dom0 changes in a way the key does not see
IMAGE_SIZE = "3G"
CUSTOMIZE = Path(__file__).with_name("dom0-customize.sh")
SOURCES_NAME = "kronos.sources"  # mmdebstrap writes it as sources.list.d/<nnnn>kronos.sources
PIN_NAME = "kronos.pref"
# from the target's archive, besides its kernel (KERNEL); ours are added by package_list()
# ocaml-findlib: the checks compile an OCaml program against our libxen-ocaml-dev in dom0
ARCHIVE_PACKAGES = ("openssh-server", "ifupdown", "busybox-static", "systemd-sysv",
                    "ocaml-findlib")
# dom0's kernel by archive family, each a PV dom0 kernel (CONFIG_XEN_PV, CONFIG_XEN_DOM0, hvc0 built in).
# Ubuntu: the generic kernel without linux-modules-extra (and without linux-firmware, which
# linux-image-generic brings): privcmd, gntdev, evtchn, xenfs and netback are in linux-modules;
# blkback is in -extra, which the smoke's guests (a ramdisk, no disk) do not need. Ubuntu's kernel only
# recommends initramfs-tools (Debian's depends on it), and mmdebstrap installs no recommends.
KERNEL = {"debian": ("linux-image-{arch}",), "ubuntu": ("linux-image-virtual", "initramfs-tools")}


@dataclass(frozen=True)
class Dom0:
    key: str
    directory: Path
    image: Path  # ext4, the root file system (/dev/vda); boot it with snapshot=on: it is the cache
    kernel: Path
    initrd: Path
    ours: Mapping[str, str]  # our packages in dom0 -> the version installed (= the repository's)


def our_packages(published: Published, arch: str) -> tuple[str, ...]:
    """Our packages dom0 installs by name; each must be in our repository (one error line if not)."""
    names = (f"xen-system-{arch}", f"xen-utils-{published.xen_series(arch)}", "libxen-ocaml", "libxen-ocaml-dev",
             "python3-xenapi")
    for name in names:
        published.binary(name)
    return names


def package_list(published: Published, arch: str, family: str = "debian") -> tuple[str, ...]:
    return (*(k.format(arch=arch) for k in KERNEL[family]), *ARCHIVE_PACKAGES, *our_packages(published, arch))


def expected_versions(published: Published, arch: str) -> dict[str, str]:
    """Every binary of our repository that dom0 must have at our version: the named ones and the rest of
    xen's (libraries, hypervisor) that come with them."""
    series = published.xen_series(arch)
    names = set(our_packages(published, arch)) | {published.xen_hypervisor(arch).name, "xen-utils-common",
                                                  "xen-hypervisor-common", "libxenmisc" + series,
                                                  f"libxenmisc{series}t64"}  # noble: the 64-bit time_t name
    return {n: published.binaries[n].version for n in sorted(names) if n in published.binaries}


def pin(origin: str) -> str:
    """The APT preferences that make apt install our packages even when the archive has higher versions
    (bookworm-security's xen 4.17.7 sorts above our rebuild of 4.17.5)."""
    return f"Package: *\nPin: release o={origin}\nPin-Priority: 1001\n"


def kronos_sources(repo_url: str, suite: str, component: str, keyring: Path | str) -> str:
    stanza = Deb822()
    stanza["Types"] = "deb"
    stanza["URIs"] = repo_url
    stanza["Suites"] = suite
    stanza["Components"] = component
    stanza["Signed-By"] = str(keyring)
    return str(stanza.dump())


def copy_uri(path: Path) -> str:
    """apt's copy: method URI of a local repository."""
    return "copy:" + path.resolve().as_uri().removeprefix("file:")


def archive_lines(archives: Archives, target: Target) -> list[str]:
    """The target's suites and pockets, plus its security suite when this machine's apt names one for the
    archive's keyring (so the pin is really put to the test)."""
    return [line for mirror, suite in archives.default_suites(target)
            for line in sources_lines(mirror, target, (suite,))]


def mmdebstrap_argv(settings: Settings, target: Target, lines: Sequence[str], packages: Sequence[str],
                    keyrings: Sequence[Path | str], sources: Path | str, pin_file: Path | str,
                    rootfs: Path | str) -> list[str]:
    """mmdebstrap's command line. keyrings, sources (our .sources) and pin_file are what apt reads."""
    archive = settings.archive_of(target)
    argv = [
        "mmdebstrap",
        "--variant=important",
        "--mode=root",
        f"--architectures={settings.architecture}",
        f"--components={','.join(target.components)}",
    ]
    argv += [f"--aptopt={opt}" for opt in apt_options(archive.snapshot)]
    argv += [f"--keyring={k}" for k in keyrings]
    argv.append(f"--include={','.join(packages)}")
    argv += [
        '--setup-hook=mkdir -p "$1/etc/apt/preferences.d"',
        f"--setup-hook=copy-in {pin_file} /etc/apt/preferences.d",
        f'--customize-hook=sh {CUSTOMIZE} "$1"',
        target.suite,
        str(rootfs),
        *lines,
        str(sources),
    ]
    return argv


def dom0_key(settings: Settings, archives: Archives, target: Target,
             published: Published) -> tuple[str, dict[str, object]]:
    """The dom0's content key and the inputs it was computed from (no path in it)."""
    arch = settings.architecture
    keyrings = [f"sha256:{sha256_file(k)}" for k in archives.keyrings(settings.archive_of(target))]
    lines = archive_lines(archives, target)
    family = settings.archive_of(target).family
    argv = mmdebstrap_argv(settings, target, lines, package_list(published, arch, family), keyrings,
                           "KRONOS_SOURCES", "KRONOS_PIN", "ROOTFS")
    inputs: dict[str, object] = {
        "format": FORMAT,
        "argv": [a.replace(str(CUSTOMIZE), "CUSTOMIZE") for a in argv],
        "customize": sha256_file(CUSTOMIZE),
        "pin": pin(published.origin),
        "repository": {"origin": published.origin, "suite": published.suite,
                       "packages_sha256": published.packages_sha256},
        "ours": expected_versions(published, arch),
        "image_size": IMAGE_SIZE,
    }
    return content_key(inputs), inputs


def installed_versions(rootfs: Path) -> dict[str, str]:
    """Package -> version of what dpkg has installed in rootfs."""
    out = {}
    with (rootfs / "var/lib/dpkg/status").open() as f:
        for stanza in Packages.iter_paragraphs(f, use_apt_pkg=False):
            if stanza.get("Status", "").endswith(" installed"):
                out[stanza["Package"]] = stanza["Version"]
    return out


def check_ours(installed: Mapping[str, str], expected: Mapping[str, str], origin: str) -> None:
    """Every one of our packages is installed at our version, or the pin did not hold: one error line."""
    wrong = [f"{name} {installed.get(name, 'not installed')} (ours: {version})"
             for name, version in expected.items() if installed.get(name) != version]
    if wrong:
        raise SmokeError(f"dom0 did not get our packages from the repository (pin o={origin}): {', '.join(wrong)}")


def _one(rootfs: Path, pattern: str) -> Path:
    found = sorted((rootfs / "boot").glob(pattern))
    if len(found) != 1:
        raise SmokeError(f"dom0 has {len(found)} files /boot/{pattern}, not one: {[p.name for p in found]}")
    return found[0]


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A directory for the root file system under the system's temporary directory, traversable by
    apt's sandbox user (which downloads into the root file system's apt cache)."""
    d = Path(tempfile.mkdtemp(prefix="kronos-dom0-"))
    try:
        d.chmod(0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ensure(settings: Settings, archives: Archives, target: Target, published: Published,
           refresh: bool = False) -> Dom0:
    """The target's dom0: reused when a complete one with the same key is in the cache, else made."""
    key, inputs = dom0_key(settings, archives, target, published)
    home = settings.cache_dir / "smoke" / target.name
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home / ".lock"):  # another run making the same dom0 is waited for, then reused
        return _ensure(settings, archives, target, published, refresh, key, inputs, home)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An flock on path for the block (released by the kernel when the holder dies)."""
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _ensure(settings: Settings, archives: Archives, target: Target, published: Published, refresh: bool,
            key: str, inputs: Mapping[str, object], home: Path) -> Dom0:
    final = home / key[:16]
    record = final / "dom0.json"
    if record.is_file() and not refresh:
        data = json.loads(record.read_text())
        if data.get("key") == key:
            info(f"dom0 {final} is up to date")
            return _dom0(final, data)
    with step(f"Making the dom0 image for {target.name}"):
        staged = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=home))
        try:
            data = _make(settings, archives, target, published, staged, key, inputs)
            replace_dir(staged, final)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    for old in home.iterdir():  # older dom0s, and what a killed run left (no one else stages: we hold the lock)
        if old.is_dir() and old != final:
            shutil.rmtree(old, ignore_errors=True)
    return _dom0(final, data)


def _make(settings: Settings, archives: Archives, target: Target, published: Published, out: Path, key: str,
          inputs: Mapping[str, object]) -> dict[str, object]:
    arch = settings.architecture
    archive_keyrings = archives.keyrings(settings.archive_of(target))
    with _scratch() as scratch, apt_readable([*archive_keyrings, published.keyring, published.root]) as copies:
        *keyrings, our_keyring, repo = copies
        if sha256_file(repo / "dists" / published.suite / published.packages_index) != published.packages_sha256:
            raise SmokeError(f"the repository {published.root} changed while the dom0 was being made; run again")
        sources = scratch / SOURCES_NAME
        # copy: not file: -- apt would hand dpkg (chrooted into the root file system) the pool paths
        # outside it; copy: puts the .debs into the root file system's apt cache like a download
        sources.write_text(kronos_sources(copy_uri(repo), published.suite, "main", our_keyring))
        pin_file = scratch / PIN_NAME
        pin_file.write_text(pin(published.origin))
        rootfs = scratch / "rootfs"
        lines = archive_lines(archives, target)
        family = settings.archive_of(target).family
        run(mmdebstrap_argv(settings, target, lines, package_list(published, arch, family), keyrings, sources,
                            pin_file, rootfs))
        installed = installed_versions(rootfs)
        expected = expected_versions(published, arch)
        check_ours(installed, expected, published.origin)
        shutil.copyfile(_one(rootfs, "vmlinuz-*"), out / "vmlinuz")
        shutil.copyfile(_one(rootfs, "initrd.img-*"), out / "initrd.img")
        run(["mke2fs", "-q", "-t", "ext4", "-L", "kronos-dom0", "-d", rootfs, "-F", out / "dom0.img", IMAGE_SIZE])
    data: dict[str, object] = {"key": key, "inputs": dict(inputs),
                               "ours": {n: installed[n] for n in expected}}
    (out / "dom0.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def _dom0(directory: Path, data: Mapping[str, object]) -> Dom0:
    ours = data.get("ours")
    assert isinstance(ours, dict)
    return Dom0(key=str(data["key"]), directory=directory, image=directory / "dom0.img",
                kernel=directory / "vmlinuz", initrd=directory / "initrd.img", ours=dict(ours))
