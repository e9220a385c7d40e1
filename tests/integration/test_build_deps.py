"""The build-deps phase with real Docker and apt: siblings come from a signed, pinned local repository
(even below the archive's version), apt verifies it, and the containers keep only the capabilities
they need (the deps container apt's and dpkg's, the build container none)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.debian_support import Version

from kronos import sibling_repo
from kronos.archive.access import Archives
from kronos.build import DEPS_CAPABILITIES, Builder, BuildJob
from kronos.cache import Cache
from kronos.config import Settings, load_settings
from kronos.engine import ContainerSpec, Engine, get_engine
from kronos.errors import BuildError
from kronos.images import Image, ensure, extra_sources
from kronos.recipe import BuildOptions

from . import repo_helpers as rh
from .checkout import CACHE, ROOT
from .conftest import TARGETS

pytestmark = pytest.mark.integration

TARGET = "bookworm"
SIBLING_VERSION = "1.0-1"  # bookworm's own hello is 2.10-3: the archive carries a higher version
# capability numbers of linux/capability.h, for the expected CapEff mask
CAP_NUMBERS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
               "SETGID": 6, "SETUID": 7}


@dataclass
class Env:
    settings: Settings
    engine: Engine
    archives: Archives
    builder: Builder
    tmp: Path

    def image(self, target: str = TARGET) -> Image:
        return ensure(self.settings, self.engine, self.archives, self.settings.target(target))

    def job(self, dsc: Path, debs: tuple[Path, ...], log: Path) -> BuildJob:
        """capcheck 1.0 of dsc for TARGET over its base image, as a runner would be handed it."""
        target = self.settings.target(TARGET)
        image = self.image()
        return BuildJob("capcheck", target, BuildOptions(), image.ref, image.content, dsc, "1.0", debs, log,
                        self.settings.containers_dir, extra_sources(self.settings, self.archives, target))


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="kbd-") as tmp:
        settings = load_settings(ROOT, env={"KRONOS_OUTPUT_DIR": str(Path(tmp) / "out"),
                                            "KRONOS_CACHE_DIR": str(CACHE)})
        engine = get_engine()
        archives = Archives(settings, Cache(settings.cache_dir))
        yield Env(settings, engine, archives, Builder(engine, settings.cache_dir / "locks"), Path(tmp))


CAPABILITIES_POSTINST = "#!/bin/sh\nset -e\nsed -n 's/^CapEff:/kronos-test deps CapEff:/p' /proc/self/status\n"


def sibling_deb(dest: Path, name: str, version: str) -> Path:
    """A tiny binary package whose postinst prints the capabilities dpkg runs it with."""
    return rh.make_deb(dest, name, version, postinst=CAPABILITIES_POSTINST)


RULES = """#!/usr/bin/make -f
build build-arch build-indep:
\tdpkg-query -W -f='kronos-test build sees $${Package} $${Version}\\n' $(REPORT)
\tsed -n -e 's/^\\(Cap[A-Za-z]*\\|NoNewPrivs\\):/kronos-test build \\1:/p' /proc/self/status
\tid -un
binary binary-arch binary-indep: build
\tmkdir -p debian/tmp/DEBIAN
\tdpkg-gencontrol -pcapcheck -Pdebian/tmp
\tdpkg-deb --build debian/tmp ..
clean:
\trm -rf debian/tmp debian/files
"""


def source_package(dest: Path, build_depends: str = "hello", report: str = "hello") -> Path:
    """A native source package; its build reports its view and the versions of the packages in report."""
    tree = dest / "capcheck-1.0"
    (tree / "debian" / "source").mkdir(parents=True)
    (tree / "debian" / "source" / "format").write_text("3.0 (native)\n")
    (tree / "debian" / "control").write_text(
        "Source: capcheck\nMaintainer: Kronos Tests <tests@example.invalid>\nSection: misc\nPriority: optional\n"
        f"Build-Depends: {build_depends}\nRules-Requires-Root: no\n\n"
        "Package: capcheck\nArchitecture: all\nDescription: build-deps test\n reports the build's view.\n")
    (tree / "debian" / "changelog").write_text(
        "capcheck (1.0) unstable; urgency=medium\n\n  * Test.\n\n"
        " -- Kronos Tests <tests@example.invalid>  Thu, 01 Jan 2026 00:00:00 +0000\n")
    rules = tree / "debian" / "rules"
    rules.write_text(RULES.replace("\n", f"\nREPORT = {report}\n", 1))
    rules.chmod(0o755)
    subprocess.run(["dpkg-source", "-b", tree.name], cwd=dest, check=True, capture_output=True)
    return dest / "capcheck_1.0.dsc"


def cap_mask(names: tuple[str, ...]) -> str:
    return f"{sum(1 << CAP_NUMBERS[n] for n in names):016x}"


def test_sibling_below_archive_version_is_installed_with_least_privilege(env: Env) -> None:
    work = env.tmp / "job"
    deb = sibling_deb(work / "siblings", "hello", SIBLING_VERSION)
    dsc = source_package(work / "src")
    log = work / "capcheck.build"
    job = env.job(dsc, (deb,), log)
    ref = f"kronos/deps-{TARGET}:{env.builder.deps_key(job)[:16]}"
    env.engine.remove_image(ref)  # a layer of an earlier run of this test: made anew
    try:
        produced = env.builder.build(job, work / "out")
        text = log.read_text(errors="replace")
        assert [p.name for p in produced if p.suffix == ".deb"] == ["capcheck_1.0_all.deb"], text[-3000:]
        # apt verified the local repository like any other: no warning, no error
        assert not [ln for ln in text.splitlines() if re.match(r"^[WE]: ", ln)], text[-3000:]
        # the pin beats bookworm's hello 2.10-3
        assert f"kronos-test build sees hello {SIBLING_VERSION}\n" in text, text[-3000:]
        # dpkg ran the sibling's postinst with exactly the deps container's capabilities
        assert f"kronos-test deps CapEff:\t{cap_mask(DEPS_CAPABILITIES)}" in text, text[-3000:]
        # the build container has none, not even in its bounding set, and cannot gain any
        for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            assert f"kronos-test build {field}:\t{'0' * 16}" in text, text[-3000:]
        assert "kronos-test build NoNewPrivs:\t1" in text, text[-3000:]
        # the committed layer has the sibling, not the run's repository, key or pin
        layer = run_in(env, ref, (
            "dpkg-query -W -f='layer hello ${Version}\\n' hello\n"
            "ls /etc/apt/sources.list.d /etc/apt/preferences.d /kronos\n"
        ), network="none")
        assert f"layer hello {SIBLING_VERSION}" in layer and "kronos-local" not in layer, layer
        # the layer's key depends on the debs, not on the key made for the run
        assert env.engine.image_id(ref)
        assert env.builder.deps_image(job, work / "again") == ref
    finally:
        env.engine.remove_image(ref)


def run_in(env: Env, image: str, script: str, network: str = "host",
           files: tuple[Path, ...] = ()) -> str:
    """Run script as root in a container of image with files in /kronos; fail unless it exits 0."""
    with tempfile.TemporaryDirectory(prefix="kbr-") as tmp:
        (Path(tmp) / "test.sh").write_text("set -eu\n" + script)
        log = Path(tmp) / "log"
        spec = ContainerSpec(image=image, command=("/bin/sh", "/kronos/test.sh"), network=network)
        with env.engine.container(spec) as c:
            c.put(Path(tmp) / "test.sh", "/kronos")
            for f in files:
                c.put(f, "/kronos")
            code = c.run(log)
        text = log.read_text(errors="replace")
        assert code == 0, text[-3000:]
        return text


APT_STATES = r"""
install -m 0644 /kronos/local/kronos-local.sources /etc/apt/sources.list.d/
install -m 0644 /kronos/local/kronos-local.pref /etc/apt/preferences.d/
update() {
    echo "== $1"
    find /var/lib/apt/lists -maxdepth 1 -type f -delete  # read every index anew
    if apt-get update --error-on=any > /tmp/out 2>&1; then echo "update ok"; else echo "update failed"; fi
    grep -E '^(W|E): ' /tmp/out || true
}
update intact
apt-cache policy hello
cp /kronos/local/repo/Packages /tmp/Packages
sed -i 's/^Version: .*/Version: 9.9-1/' /kronos/local/repo/Packages
update tampered-packages
apt-cache policy hello
if apt-get install -y --no-install-recommends hello=9.9-1 > /tmp/out 2>&1; then echo "install ok"
else echo "install refused"; fi
grep -E '^(W|E): ' /tmp/out || true
cp /tmp/Packages /kronos/local/repo/Packages
cp /kronos/other/kronos-local.pgp /kronos/local/kronos-local.pgp
update other-key
"""


@pytest.mark.parametrize("target", TARGETS)
def test_local_repository_is_verified_and_pinned(env: Env, target: str) -> None:
    """apt of every target (gpgv on older releases, sqv on newer) verifies and pins the repository."""
    work = env.tmp / f"states-{target}"
    deb = sibling_deb(work / "siblings", "hello", SIBLING_VERSION)
    local = sibling_repo.make((deb,), work / "local")
    other = sibling_repo.make((deb,), work / "other")  # a second run: another ephemeral key
    assert (local / "kronos-local.pgp").read_bytes() != (other / "kronos-local.pgp").read_bytes()
    sources = (local / "kronos-local.sources").read_text()
    assert "Signed-By: /kronos/local/kronos-local.pgp" in sources and "trusted" not in sources
    text = run_in(env, env.image(target).ref, APT_STATES, files=(local, other))
    intact, tampered, other_key = (part.split("== ", 1)[0] for part in text.split("== ")[1:])
    assert intact.startswith("intact\nupdate ok\n") and not re.search(r"^[WE]: ", intact, re.M), intact
    # candidate: the sibling at 1001, although the archive's hello is higher
    assert re.search(rf"Candidate: {re.escape(SIBLING_VERSION)}\n", intact), intact
    assert re.search(rf"\*?\*?\s*{re.escape(SIBLING_VERSION)} 1001\n\s+1001 file:/kronos/local/repo", intact), intact
    archive = re.findall(r"^\s+(\S+) 500\n\s+500 \S+ ", intact, re.M)
    assert archive and all(Version(v) > Version(SIBLING_VERSION) for v in archive), intact
    # a Packages that differs from the signed Release fails the update (so the deps phase stops);
    # apt keeps the file of a file: source, but unauthenticated: unpinned, and not installed
    assert "update failed" in tampered, tampered
    mismatch = r"^E: Failed to fetch file:/kronos/local/repo/\./Packages\s+Hash Sum mismatch"
    assert re.search(mismatch, tampered, re.M), tampered
    assert "9.9-1 1001" not in tampered and "install refused" in tampered, tampered
    assert re.search(r"^E: There were unauthenticated packages", tampered, re.M), tampered
    # signed by a key that is not the Signed-By one: refused
    assert "update failed" in other_key, other_key
    assert re.search(r"^[WE]: .*(NO_PUBKEY|Missing key) ", other_key, re.M), other_key  # gpgv | sqv
    assert "E: The repository 'file:/kronos/local/repo ./ InRelease' is not signed." in other_key, other_key


def test_versioned_build_dependency_only_a_backport_meets(env: Env) -> None:
    """debhelper (>= 13.20): bookworm has 13.11.4, bookworm-backports 13.23~bpo12+1. It comes from
    backports with what it needs from there (libdebhelper-perl of the same version); curl, which
    backports also carries, comes from bookworm."""
    target = env.settings.target(TARGET)
    assert "bookworm-backports" in target.extra_suites
    work = env.tmp / "backports"
    dsc = source_package(work / "src", "debhelper (>= 13.20), curl", "debhelper libdebhelper-perl curl")
    log = work / "capcheck.build"
    job = env.job(dsc, (), log)
    ref = f"kronos/deps-{TARGET}:{env.builder.deps_key(job)[:16]}"
    env.engine.remove_image(ref)
    try:
        try:
            env.builder.build(job, work / "out")
        except BuildError:
            pytest.fail(log.read_text(errors="replace")[-3000:])
        text = log.read_text(errors="replace")
        assert ("kronos: from the extra suites: debhelper/bookworm-backports"
                " libdebhelper-perl/bookworm-backports\n") in text, text[-3000:]
        versions = dict(re.findall(r"^kronos-test build sees (\S+) (\S+)$", text, re.M))
        assert re.fullmatch(r"13\.\d+.*~bpo12\+\d+", versions["debhelper"]), versions
        assert versions["libdebhelper-perl"] == versions["debhelper"], versions
        assert "~bpo" not in versions["curl"] and versions["curl"].startswith("7."), versions
    finally:
        env.engine.remove_image(ref)
