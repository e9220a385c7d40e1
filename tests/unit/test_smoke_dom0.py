"""The smoke dom0 and what it is made from: the published repository, the pin, mmdebstrap's exact
command line, the content key, the check that our packages won, the hypervisor out of our .deb."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from kronos.archive import mirrors
from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.errors import SmokeError
from kronos.smoke import dom0, hypervisor, published

from .smoke_fixture import BUILD_ID, DEBIAN_KEYRING, XEN, XEN_ELF, hypervisor_deb, publish, settings, stack


def _load(root: Path) -> published.Published:
    return published.load(root, "bookworm", "kronos-archive-keyring.pgp")


# --- the published repository ---------------------------------------------------------------------


def test_published_takes_the_highest_version_and_the_origin(tmp_path: Path) -> None:
    root = publish(tmp_path / "repo", stack())
    index = root / "dists/bookworm/main/binary-amd64/Packages"
    older = "Package: xen-utils-4.17\nVersion: 4.17.5-1\nFilename: pool/old.deb\nSHA256: 00\n"
    index.write_text(index.read_text() + "\n" + older)
    release = root / "dists/bookworm/Release"
    digest = hashlib.sha256(index.read_bytes()).hexdigest()
    text = release.read_text().splitlines()
    text[-1] = f" {digest} {index.stat().st_size} main/binary-amd64/Packages"
    release.write_text("\n".join(text) + "\n")
    p = _load(root)
    assert p.origin == "Kronos"
    assert p.binary("xen-utils-4.17").version == XEN
    assert p.xen_hypervisor("amd64").name == "xen-hypervisor-4.17-amd64"
    assert p.xen_series("amd64") == "4.17"
    assert p.deb("libxen-ocaml") == root / f"pool/main/x/xen/libxen-ocaml_{XEN}_amd64.deb"


def test_no_xen_in_the_repository(tmp_path: Path) -> None:
    root = publish(tmp_path / "repo", {"python3-xenapi": "26.21.1-1~bpo12+1"})
    with pytest.raises(SmokeError, match=r"^no xen in the repository .*repo \(suite bookworm: no"
                                         r" xen-hypervisor-\*-amd64 in main/binary-amd64/Packages\); build and"
                                         r" publish it: kronos build --target bookworm --only xen && kronos publish$"):
        _load(root).xen_hypervisor("amd64")


def test_a_missing_package_is_one_line(tmp_path: Path) -> None:
    packages = stack()
    del packages["python3-xenapi"]
    p = _load(publish(tmp_path / "repo", packages))
    with pytest.raises(SmokeError, match=r"^no python3-xenapi in the repository .* \(suite bookworm\); build and"):
        dom0.package_list(p, "amd64")


@pytest.mark.parametrize("damage, message", [
    ("no-suite", r"^no published suite bookworm in .*; run kronos publish$"),
    ("no-keyring", r"has no keyring kronos-archive-keyring.pgp; run kronos publish$"),
    ("packages-changed", r"Packages does not match its Release \(sha256\); run kronos publish again$"),
    ("no-origin", r"Release has no Origin: apt cannot pin the repository; run kronos publish$"),
])
def test_a_damaged_repository_is_one_line(tmp_path: Path, damage: str, message: str) -> None:
    root = publish(tmp_path / "repo", stack(), origin=None if damage == "no-origin" else "Kronos")
    if damage == "no-suite":
        shutil.rmtree(root / "dists")
    elif damage == "no-keyring":
        (root / "kronos-archive-keyring.pgp").unlink()
    elif damage == "packages-changed":
        with (root / "dists/bookworm/main/binary-amd64/Packages").open("a") as f:
            f.write("\n")
    with pytest.raises(SmokeError, match=message):
        _load(root)


# --- what apt is given ----------------------------------------------------------------------------


def test_pin_and_sources() -> None:
    assert dom0.pin("Kronos") == "Package: *\nPin: release o=Kronos\nPin-Priority: 1001\n"
    stanza = Deb822(dom0.kronos_sources("file:///tmp/k/0/public", "bookworm", "main", Path("/tmp/k/1/k.pgp")))
    assert dict(stanza) == {"Types": "deb", "URIs": "file:///tmp/k/0/public", "Suites": "bookworm",
                            "Components": "main", "Signed-By": "/tmp/k/1/k.pgp"}


def test_copy_uri() -> None:
    assert dom0.copy_uri(Path("/tmp/kronos-apt-x/2/public")) == "copy:///tmp/kronos-apt-x/2/public"


def test_package_list_names_our_xen_series(tmp_path: Path) -> None:
    p = _load(publish(tmp_path / "repo", stack()))
    assert dom0.package_list(p, "amd64") == (
        "linux-image-amd64", "openssh-server", "ifupdown", "busybox-static", "systemd-sysv",
        "ocaml-findlib", "xen-system-amd64", "xen-utils-4.17", "libxen-ocaml", "libxen-ocaml-dev", "python3-xenapi")
    assert dom0.package_list(p, "amd64", "ubuntu")[:3] == ("linux-image-virtual", "initramfs-tools", "openssh-server")
    assert dom0.expected_versions(p, "amd64") == {
        "libxen-ocaml": XEN, "libxen-ocaml-dev": XEN, "libxenmisc4.17": XEN, "python3-xenapi": "26.21.1-1~bpo12+1",
        "xen-hypervisor-4.17-amd64": XEN, "xen-hypervisor-common": XEN, "xen-system-amd64": XEN,
        "xen-utils-4.17": XEN, "xen-utils-common": XEN}


def test_archive_lines_add_the_security_suite_this_machine_names(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    apt = tmp_path / "apt"
    apt.mkdir()
    (apt / "debian.sources").write_text(
        f"Types: deb\nURIs: http://127.0.0.1:9/debian-security/\nSuites: bookworm-security\nComponents: main\n"
        f"Signed-By: {DEBIAN_KEYRING}\n")
    monkeypatch.setattr(mirrors, "APT_SOURCES", apt)
    s = settings(tmp_path / "project")
    archives = Archives(s, Cache(s.cache_dir))
    assert dom0.archive_lines(archives, s.target("bookworm")) == [
        "deb http://127.0.0.1:9/debian bookworm main", "deb http://127.0.0.1:9/debian bookworm-updates main",
        "deb http://127.0.0.1:9/debian-security bookworm-security main"]
    (apt / "debian.sources").unlink()
    assert len(dom0.archive_lines(archives, s.target("bookworm"))) == 2


def test_mmdebstrap_argv(tmp_path: Path) -> None:
    s = settings(tmp_path / "project")
    argv = dom0.mmdebstrap_argv(s, s.target("bookworm"), ["deb M bookworm main"], ["a", "b"], ["/k/debian.gpg"],
                                "/s/kronos.sources", "/s/kronos.pref", "/s/rootfs")
    assert argv == [
        "mmdebstrap", "--variant=important", "--mode=root", "--architectures=amd64", "--components=main",
        '--aptopt=APT::Install-Recommends "false"', '--aptopt=Acquire::Check-Valid-Until "false"',
        "--keyring=/k/debian.gpg", "--include=a,b",
        '--setup-hook=mkdir -p "$1/etc/apt/preferences.d"',
        "--setup-hook=copy-in /s/kronos.pref /etc/apt/preferences.d",
        f'--customize-hook=sh {dom0.CUSTOMIZE} "$1"',
        "bookworm", "/s/rootfs", "deb M bookworm main", "/s/kronos.sources"]


# --- the content key ------------------------------------------------------------------------------


def _key(tmp_path: Path, repo: Path) -> str:
    s = settings(tmp_path / "project")
    return dom0.dom0_key(s, Archives(s, Cache(s.cache_dir)), s.target("bookworm"), _load(repo))[0]


def test_dom0_key_follows_content_not_paths(tmp_path: Path) -> None:
    a = _key(tmp_path, publish(tmp_path / "a" / "repo", stack()))
    assert _key(tmp_path, publish(tmp_path / "elsewhere" / "repo", stack())) == a
    assert _key(tmp_path, publish(tmp_path / "b" / "repo", stack("4.17.5+72-g01140da4e8-1+deb12u0+kronos2"))) != a
    other = stack()
    other["python3-xenapi"] = "26.21.1-1~bpo12+2"
    assert _key(tmp_path, publish(tmp_path / "c" / "repo", other)) != a


def test_an_unchanged_dom0_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(tmp_path / "project")
    archives = Archives(s, Cache(s.cache_dir))
    p = _load(publish(tmp_path / "repo", stack()))
    key, inputs = dom0.dom0_key(s, archives, s.target("bookworm"), p)
    slot = s.cache_dir / "smoke" / "bookworm" / key[:16]
    slot.mkdir(parents=True)
    (slot / "dom0.json").write_text(json.dumps({"key": key, "inputs": inputs, "ours": {"libxen-ocaml": XEN}}))

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dom0 was made again")

    monkeypatch.setattr(dom0, "_make", no_build)
    made = dom0.ensure(s, archives, s.target("bookworm"), p)
    assert (made.key, made.image, made.ours) == (key, slot / "dom0.img", {"libxen-ocaml": XEN})
    (slot / "dom0.json").write_text(json.dumps({"key": "0" * 64, "inputs": {}, "ours": {}}))
    with pytest.raises(AssertionError, match="made again"):
        dom0.ensure(s, archives, s.target("bookworm"), p)


# --- what was installed ---------------------------------------------------------------------------


def test_installed_versions_and_the_pin_check(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        f"Package: xen-utils-4.17\nStatus: install ok installed\nVersion: {XEN}\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: xen-hypervisor-4.17-amd64\nStatus: install ok installed\nVersion: 4.17.7+13-0+deb12u1\n")
    installed = dom0.installed_versions(tmp_path)
    assert installed == {"xen-utils-4.17": XEN, "xen-hypervisor-4.17-amd64": "4.17.7+13-0+deb12u1"}
    dom0.check_ours(installed, {"xen-utils-4.17": XEN}, "Kronos")
    with pytest.raises(SmokeError, match=(
            r"^dom0 did not get our packages from the repository \(pin o=Kronos\): xen-hypervisor-4.17-amd64"
            rf" 4.17.7\+13-0\+deb12u1 \(ours: {re.escape(XEN)}\), libxen-ocaml not installed")):
        dom0.check_ours(installed, {"xen-hypervisor-4.17-amd64": XEN, "libxen-ocaml": XEN}, "Kronos")


def test_customize_script_writes_what_the_issue_asks() -> None:
    script = dom0.CUSTOMIZE.read_text()
    for needle in ("iface eth0 inet static", "/dev/vda\\t/\\text4", "kronos-dom0", "kronos.ssh_key=",
                   "Before=ssh.service", "*kronos.sources", dom0.PIN_NAME):
        assert needle in script, needle


# --- the hypervisor -------------------------------------------------------------------------------


def test_hypervisor_out_of_our_deb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deb = hypervisor_deb(tmp_path)
    p = _load(publish(tmp_path / "repo", stack(), deb=deb))
    h = hypervisor.extract(p, "amd64", tmp_path / "cache")
    assert h.elf.read_bytes() == XEN_ELF
    assert h.gz_path == "/boot/xen-4.17-amd64.gz"
    assert h.gz_sha256 == hashlib.sha256(gzip.compress(XEN_ELF, mtime=0)).hexdigest()
    assert h.build_id == BUILD_ID  # the build-id note, what the running Xen must report
    assert h.config["CONFIG_SHADOW_PAGING"] == "y"
    assert h.config["CONFIG_PV_SHIM"] == "n"
    assert h.config["CONFIG_NR_CPUS"] == "256"
    assert (h.package, h.version) == ("xen-hypervisor-4.17-amd64", XEN)

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("extracted again")

    monkeypatch.setattr(hypervisor, "run", no_run)
    assert hypervisor.extract(p, "amd64", tmp_path / "cache") == h


def test_hypervisor_that_is_no_elf_or_a_changed_deb(tmp_path: Path) -> None:
    deb = hypervisor_deb(tmp_path, gz=gzip.compress(b"MZ not an elf"))
    p = _load(publish(tmp_path / "repo", stack(), deb=deb))
    with pytest.raises(SmokeError, match=r"/boot/xen-4.17-amd64.gz does not hold an ELF image$"):
        hypervisor.extract(p, "amd64", tmp_path / "cache")
    with (p.root / p.binary("xen-hypervisor-4.17-amd64").filename).open("ab") as f:
        f.write(b"!")
    with pytest.raises(SmokeError, match=r"does not match the repository's Packages \(sha256\); run kronos publish"):
        hypervisor.extract(p, "amd64", tmp_path / "cache")
