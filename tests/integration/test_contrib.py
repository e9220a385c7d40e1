"""Contributor builds with real Docker, for bookworm only: a tree with its own debian/ (native, and
3.0 (quilt) with its .orig beside it), built as it is with the target's local revision; the graph
reads the tree's own debian/control; --keep-version and the publish that refuses it; `--dsc` (signed
and checked, unsigned); a failing build keeps its tree and --shell-on-failure opens a shell there
(commands piped in); bad input is one line each."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import BuildInfo

from kronos.config import load_settings
from kronos.engine import ContainerSpec, get_engine
from kronos.pipeline import Pipeline

from . import repo_helpers as rh
from .checkout import ROOT, scratch_project
from .conftest import KRONOS, kronos
from .contrib_trees import (
    FAILING_RULES,
    MAINTAINER,
    TARGET,
    dpkg_source,
    env_for,
    export,
    make_key,
    sign,
    write_orig,
    write_tree,
)

pytestmark = pytest.mark.integration


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one `kronos: error:` line of a failed run (and no traceback)."""
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout, proc.stdout[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("kronos: error:")]
    assert len(lines) == 1, proc.stdout[-3000:]
    return lines[0]


def local_recipe(root: Path, name: str, path: str, extra: str = "") -> Path:
    d = root / "recipes" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "recipe.toml").write_text(f'targets = ["{TARGET}"]\n[source]\nkind = "local"\npath = "{path}"\n{extra}')
    return d


@pytest.fixture
def project() -> Iterator[Path]:
    with scratch_project("kcon-") as root:
        yield root


def test_own_trees_native_and_quilt_build_with_local_revision(project: Path) -> None:
    """kn (native) and kq (quilt, .orig beside the tree, build-depends on kn): the graph orders kq after
    kn from kq's own debian/control, kq installs our kn, versions get bookworm's ~bpo12+1."""
    kn = local_recipe(project, "kn", "src")
    write_tree(kn / "src", "kn", "1.0")
    kq = local_recipe(project, "kq", "kq-1.0")
    write_tree(kq / "kq-1.0", "kq", "2.0-1", fmt="3.0 (quilt)", payload="quilted",
               build_depends="debhelper-compat (= 13), kn (>= 1.0~)")
    write_orig(kq / "kq-1.0", kq / "kq_2.0.orig.tar.gz")
    env = env_for(project)

    graph = kronos("graph", "--target", TARGET, env=env, root=project)
    assert graph.returncode == 0, graph.stdout[-3000:]
    assert f"{TARGET}: kn kq" in graph.stdout and "kq -> kn" in graph.stdout, graph.stdout

    began = time.monotonic()
    proc = kronos("build", "--target", TARGET, env=env, root=project)
    assert proc.returncode == 0, proc.stdout[-6000:]
    print(f"two own-tree builds: {time.monotonic() - began:.0f}s")
    assert "kn: 1.0 is built as 1.0~bpo12+1" in proc.stdout
    assert "kq: 2.0-1 is built as 2.0-1~bpo12+1" in proc.stdout
    out = project / "out" / TARGET
    assert (out / "kn" / "kn_1.0~bpo12+1_all.deb").is_file()
    assert {p.name for p in (out / "kq").iterdir()} >= {
        "kq_2.0-1~bpo12+1_all.deb", "kq_2.0-1~bpo12+1.dsc", "kq_2.0.orig.tar.gz", "kq_2.0-1~bpo12+1.debian.tar.xz"}
    record = json.loads((out / "kq" / "build.json").read_text())
    assert record["version"] == "2.0-1~bpo12+1" and record["source"] == "kq"
    assert "tree/debian/control" in record["inputs"] and "source/orig" in record["inputs"]
    assert "sibling/kn" in record["inputs"]
    # our kn was in the build environment (the .buildinfo's record of it: the build-deps layer that
    # installed it may come from an earlier run, keyed by kn's content key, so its log need not be this one)
    with next((out / "kq").glob("*.buildinfo")).open() as f:
        installed = str(BuildInfo(f)["Installed-Build-Depends"])
    assert "kn (= 1.0~bpo12+1)" in installed, installed
    ledger = json.loads((project / "out" / "ledger" / TARGET / "kq.json").read_text())
    assert [(b["version"], b["n"]) for b in ledger["builds"]] == [("2.0-1~bpo12+1", 1)]

    again = kronos("build", "--target", TARGET, env=env, root=project)
    assert again.returncode == 0 and "kq 2.0-1~bpo12+1 (bookworm) is up to date" in again.stdout, again.stdout
    (kq / "kq-1.0" / "debian" / "rules").write_text((kq / "kq-1.0" / "debian" / "rules").read_text() + "\n")
    changed = kronos("build", "--target", TARGET, "--only", "kq", env=env, root=project)
    assert changed.returncode == 0 and "2.0-1~bpo12+2" in changed.stdout, changed.stdout[-3000:]


@pytest.mark.parametrize("case", ["no-debian", "no-changelog", "missing-orig", "missing-configured-orig"])
def test_bad_trees_are_one_line(project: Path, case: str) -> None:
    d = local_recipe(project, "kb", "src", 'orig = "nowhere.tar.gz"\n' if case == "missing-configured-orig" else "")
    tree = d / "src"
    if case == "no-debian":
        tree.mkdir()
        (tree / "README").write_text("no packaging here\n")
        expected = f"no debian/ directory (looked for {tree}/debian)"
    elif case == "no-changelog":
        write_tree(tree, "kb", "1.0")
        (tree / "debian" / "changelog").unlink()
        expected = f"no debian/changelog (looked for {tree}/debian/changelog)"
    else:
        write_tree(tree, "kb", "1.0-1", fmt="3.0 (quilt)")
        expected = (f"the configured orig {d / 'nowhere.tar.gz'} does not exist" if case.startswith("missing-conf")
                    else f"none of {d / 'kb_1.0.orig.tar.gz'}, {d / 'kb_1.0.orig.tar.xz'}")
    line = error_line(kronos("build", "--target", TARGET, env=env_for(project), root=project))
    assert expected in line, line


@pytest.fixture
def signing(project: Path) -> Iterator[dict[str, str]]:
    """The repository settings and a signing key of the project's own (publishing)."""
    (project / "repo").mkdir()
    (project / "repo" / "repository.toml").write_text((ROOT / "repo" / "repository.toml").read_text())
    home = rh.gpg_home()
    try:
        fpr = rh.new_key(home, "Kronos Contrib Test Archive <archive@example.invalid>")
        yield {"KRONOS_GNUPGHOME": str(home), "KRONOS_SIGNING_KEYS": fpr, "KRONOS_SIGNING_PASSPHRASE": "",
               "KRONOS_REPO_PATH": str(project / "public")}
    finally:
        rh.close_gpg_home(home)


def test_keep_version_builds_as_is_and_publish_refuses_other_bytes(project: Path, signing: dict[str, str]) -> None:
    d = local_recipe(project, "kn", "src")
    write_tree(d / "src", "kn", "1.0")
    env = env_for(project, **signing)
    first = kronos("build", "--target", TARGET, "--keep-version", "--publish", env=env, root=project)
    assert first.returncode == 0, first.stdout[-6000:]
    out = project / "out" / TARGET / "kn"
    assert (out / "kn_1.0_all.deb").is_file() and (out / "kn_1.0.dsc").is_file()
    assert "is built as" not in first.stdout
    record = json.loads((out / "build.json").read_text())
    assert record["version"] == "1.0" and record["kept-version"] is True and record["inputs"]["keep-version"] is True
    log = (out / "kn_1.0.build").read_text()  # no changelog entry of ours: exactly the tree's top entry
    assert "source version 1.0\n" in log and f"source changed by {MAINTAINER}\n" in log, log[-3000:]
    pool = project / "public" / "pool" / "main" / "k" / "kn" / "kn_1.0_all.deb"
    assert pool.is_file() and pool.read_bytes() == (out / "kn_1.0_all.deb").read_bytes()

    write_tree(d / "src", "kn", "1.0", payload="other bytes, same version")
    before = rh.snapshot(project / "public")
    refused = kronos("build", "--target", TARGET, "--keep-version", "--publish", env=env, root=project)
    line = error_line(refused)
    assert "already serves pool/main/k/kn/kn_1.0_all.deb with other content" in line, line
    assert "--keep-version" in line and "nothing was published" in line, line
    assert rh.snapshot(project / "public") == before
    ledger = json.loads((project / "out" / "ledger" / TARGET / "kn.json").read_text())
    assert [(b["version"], b["n"]) for b in ledger["builds"]] == [("1.0", 0)]  # the newer kept build
    assert ledger["builds"][0]["key"] == json.loads((out / "build.json").read_text())["key"]

    revised = kronos("build", "--target", TARGET, "--publish", env=env, root=project)
    assert revised.returncode == 0, revised.stdout[-6000:]
    assert "kn: 1.0 is built as 1.0~bpo12+1" in revised.stdout
    assert (pool.parent / "kn_1.0~bpo12+1_all.deb").is_file()
    installed = apt_install(project / "public", "kn=1.0~bpo12+1", project / "apt.log")
    assert "GREETING other bytes, same version" in installed, installed[-3000:]


def apt_install(public: Path, spec: str, log: Path) -> str:
    """Install spec from the published repository with real apt in a fresh bookworm container (no network);
    the container's output."""
    engine = get_engine()
    image = Pipeline(load_settings(ROOT, env=rh.clean_env()), engine).images([TARGET])[0].ref
    keyring = next(public.glob("*-archive-keyring.pgp")).name
    opts = "-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/only"
    script = "\n".join([
        "set -eu", "chmod -R a+rX /tmp/r", "mkdir -p /tmp/only",
        f"printf 'Types: deb\\nURIs: file:/tmp/r/public\\nSuites: {TARGET}\\nComponents: main\\n"
        f"Signed-By: /tmp/r/public/{keyring}\\n' >/tmp/only/t.sources",
        f"apt-get {opts} update --error-on=any", f"DEBIAN_FRONTEND=noninteractive apt-get {opts} install -y {spec}",
        f"echo GREETING $(cat /usr/share/{spec.split('=')[0]}/greeting)", ""])
    staged = log.parent / "r"
    staged.mkdir()
    shutil.copytree(public, staged / "public")
    (staged / "install.sh").write_text(script)
    with engine.container(ContainerSpec(image=image, command=("sh", "/tmp/r/install.sh"), network="none")) as c:
        c.put(staged, "/tmp")
        rc = c.run(log)
    output = log.read_text(errors="replace")
    assert rc == 0, output[-3000:]
    return output


@pytest.fixture
def dsc_dir() -> Iterator[Path]:
    """A short directory outside the project for the .dsc, its files and a GnuPG home."""
    d = Path(tempfile.mkdtemp(prefix="kdsc", dir="/tmp"))
    try:
        yield d
    finally:
        subprocess.run(["gpgconf", "--homedir", str(d / "g"), "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(d, ignore_errors=True)


UID = "Kronos Contributor <contributor@example.invalid>"


def test_dsc_unsigned_signed_and_bad(project: Path, dsc_dir: Path) -> None:
    """A .dsc made by dpkg-source -b builds against the project's recipes (its build dependency kn is our
    sibling), unsigned and then signed with a test key checked by gpgv; bad ones are one line each."""
    write_tree(local_recipe(project, "kn", "src") / "src", "kn", "1.0")
    dsc = dpkg_source(write_tree(dsc_dir / "kd-3.0", "kd", "3.0", build_depends="debhelper-compat (= 13), kn"))
    env = env_for(project)
    began = time.monotonic()
    unsigned = kronos("build", "--dsc", str(dsc), "--target", TARGET, env=env, root=project)
    assert unsigned.returncode == 0, unsigned.stdout[-6000:]
    print(f"kn and the unsigned .dsc: {time.monotonic() - began:.0f}s")
    assert f"kd 3.0 from {dsc}: unsigned" in unsigned.stdout
    assert "kd: 3.0 is built as 3.0~bpo12+1" in unsigned.stdout
    out = project / "out" / TARGET / "kd"
    record = json.loads((out / "build.json").read_text())
    assert record["signature"] == "unsigned" and record["recipe"] == "kd" and record["version"] == "3.0~bpo12+1"
    assert f"source/{dsc.name}" in record["inputs"] and "sibling/kn" in record["inputs"]
    assert (project / "out" / TARGET / "kn" / "build.json").is_file()  # built first, as kd's sibling

    home = dsc_dir / "g"
    home.mkdir(mode=0o700)
    make_key(home, UID)
    sign(home, dsc, UID)
    keyring = export(home, dsc_dir / "contributor.gpg")
    signed = kronos("build", "--dsc", str(dsc), "--keyring", str(keyring), "--target", TARGET, env=env, root=project)
    assert signed.returncode == 0, signed.stdout[-6000:]
    assert f"kd 3.0 from {dsc}: verified with {keyring}" in signed.stdout
    assert json.loads((out / "build.json").read_text())["signature"] == f"verified with {keyring}"
    unchecked = kronos("build", "--dsc", str(dsc), "--target", TARGET, env=env, root=project)
    assert unchecked.returncode == 0 and "signature not checked (no --keyring)" in unchecked.stdout
    assert "is up to date" in unchecked.stdout, unchecked.stdout[-3000:]

    other = dsc_dir / "other.gpg"
    other.write_bytes(b"")
    line = error_line(kronos("build", "--dsc", str(dsc), "--keyring", str(other), "--target", TARGET,
                             env=env, root=project))
    assert f"{dsc}: signature does not verify with keyring {other}" in line, line
    text = dsc.read_text()
    dsc.write_text(text.replace("Maintainer: Kronos Tests", "Maintainer: Kronos Tampered"))
    line = error_line(kronos("build", "--dsc", str(dsc), "--keyring", str(keyring), "--target", TARGET,
                             env=env, root=project))
    assert "signature does not verify" in line and "BAD signature" in line, line
    dsc.write_text(text)

    tarball = next(dsc_dir.glob("kd_3.0.tar.*"))
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    line = error_line(kronos("build", "--dsc", str(dsc), "--target", TARGET, env=env, root=project))
    assert f"{dsc}: {tarball} does not match the sha256 the .dsc lists for it" in line, line
    tarball.unlink()
    line = error_line(kronos("build", "--dsc", str(dsc), "--target", TARGET, env=env, root=project))
    assert f"{dsc}: lists {tarball.name}, which is missing (looked for {tarball})" in line, line
    line = error_line(kronos("build", "--dsc", str(dsc_dir / "none.dsc"), "--target", TARGET, env=env, root=project))
    assert f"{dsc_dir / 'none.dsc'}: no such .dsc" in line, line


def test_failed_build_keeps_tree_and_opens_a_shell(project: Path) -> None:
    write_tree(local_recipe(project, "kf", "src") / "src", "kf", "1.0", rules=FAILING_RULES)
    env = env_for(project)
    proc = subprocess.run([str(KRONOS), "build", "--target", TARGET, "--shell-on-failure"], cwd=project, env=env,
                          text=True, input="echo INSIDE $(pwd) $(id -un); ls debian/rules; exit 0\n",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    line = error_line(proc)
    image = "kronos/failed-bookworm-kf:1.0_bpo12_1"
    assert f"build tree kept, shell: docker run --rm -it -u builder -w /build/pkg {image} bash" in line, line
    try:
        assert f"docker run --rm -i -u builder -w /build/pkg {image} bash" in proc.stdout, proc.stdout[-3000:]
        assert "INSIDE /build/pkg builder" in proc.stdout and "\ndebian/rules\n" in proc.stdout, proc.stdout[-3000:]
        assert "the build breaks here" in (project / "out" / "logs" / TARGET / "kf_1.0~bpo12+1.build").read_text()
    finally:
        get_engine().remove_image(image)
