"""Bad input gives one line that names the thing, a non-zero exit and no traceback (unless --debug).

Every test runs the real `kronos` program in a temporary project whose kronos.toml adds
`testarchive`: a tiny signed archive built by archive_fixture and served on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import archive_fixture as af

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KRONOS = Path(sys.executable).with_name("kronos")
TARGET = "bookworm"
RECIPE = "hello"  # the debian-kind recipe of the test archive's package
WRONG_SHA = "0" * 63 + "1"


@pytest.fixture
def mirror(archive: af.Archive) -> Iterator[str]:
    with af.serve(archive.root) as url:
        yield url


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


class Project:
    """A kronos project root in a temporary directory; run() runs the kronos program in it."""

    def __init__(self, root: Path, mirror: str, keyring: Path) -> None:
        self.root = root
        self.cache = root.parent / "cache"
        self.out = root.parent / "out"
        root.mkdir()
        shutil.copytree(REPO / "containers", root / "containers")
        (root / "kronos.toml").write_text(textwrap.dedent(f"""\
            [archives.testarchive]
            family = "debian"
            mirror = "{mirror}"
            keyring = "{keyring}"
            snapshot = true
            """))

    def recipe(self, name: str, text: str) -> Path:
        path = self.root / "recipes" / name / "recipe.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def hello_recipe(self) -> Path:
        return self.recipe(RECIPE, f"""\
            targets = ["{TARGET}"]

            [source]
            kind = "debian"
            archive = "testarchive"
            suite = "{af.SUITE}"
            package = "{af.PACKAGE}"
            """)

    def patch_series(self, recipe: str, layer: str, series: str, patches: dict[str, str]) -> Path:
        d = self.root / "patches" / recipe / layer
        d.mkdir(parents=True, exist_ok=True)
        (d / "series").write_text(series)
        for name, text in patches.items():
            (d / name).write_text(text)
        return d

    def env(self, debug_env: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KRONOS_MIRROR_", "KRONOS_SNAPSHOT_"))
               and k not in ("KRONOS_DEBUG", "KRONOS_CONFIG", "KRONOS_TARGETS")}
        env.update(KRONOS_ROOT=str(self.root), KRONOS_CACHE_DIR=str(self.cache),
                   KRONOS_OUTPUT_DIR=str(self.out))
        if debug_env:
            env["KRONOS_DEBUG"] = "1"
        return env

    def run(self, *args: str, debug: bool = False, debug_env: bool = False, timeout: float = 900) -> Result:
        argv = [str(KRONOS), *(["--debug"] if debug else []), *args]
        proc = subprocess.run(argv, cwd=self.root, env=self.env(debug_env), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def project(tmp_path: Path, mirror: str, archive: af.Archive) -> Project:
    return Project(tmp_path / "project", mirror, archive.keyring)


def fails_in_one_line(result: Result, *names: object) -> str:
    """Non-zero exit, no traceback, stderr ends in `kronos: error: …` naming every one of names."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    line = result.last_line
    assert line.startswith("kronos: error:"), result.stderr
    for name in names:
        assert str(name) in line, f"{name!r} not in {line!r}"
    return line


def check(project: Project, args: list[str], *names: object, debug: str = "flag") -> str:
    """fails_in_one_line for args; then again with --debug (or KRONOS_DEBUG=1): a traceback."""
    line = fails_in_one_line(project.run(*args), *names)
    again = project.run(*args, debug=debug == "flag", debug_env=debug == "env")
    assert again.returncode != 0
    assert "Traceback (most recent call last)" in again.stderr, again.stderr
    last = again.last_line
    assert last.startswith("kronos.errors.") and last.endswith(line.removeprefix("kronos: error: ")), last
    return line


BUILD = ["build", "--target", TARGET]


# --- 1 malformed recipes ------------------------------------------------------------------------


MALFORMED = {
    "syntax": ("""\
        targets = ["bookworm"]
        [source]
        kind = "debian"
        package = "kronos-hello
        """, ["not valid TOML", "line 4"]),
    "unknown-top-key": ("""\
        targets = ["bookworm"]
        colour = "blue"
        [source]
        kind = "debian"
        suite = "kronostest"
        package = "kronos-hello"
        """, ["unknown key 'colour'"]),
    "misspelt-source-key": ("""\
        [source]
        kind = "debian"
        suite = "kronostest"
        pakage = "kronos-hello"
        """, ["source", "missing key 'package'"]),
    "unknown-source-key": ("""\
        [source]
        kind = "debian"
        suite = "kronostest"
        package = "kronos-hello"
        mirror = "nowhere"
        """, ["source", "unknown key 'mirror'"]),
    "wrong-type-top": ("""\
        targets = "bookworm"
        [source]
        kind = "debian"
        suite = "kronostest"
        package = "kronos-hello"
        """, ["targets", "expected list, got str"]),
    "wrong-type-source": ("""\
        [source]
        kind = "debian"
        suite = "kronostest"
        package = "kronos-hello"
        version = 1.0
        """, ["source.version", "expected str, got float"]),
    "wrong-choice": ("""\
        [source]
        kind = "svn"
        """, ["source.kind", "'svn' is not one of"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_recipe(project: Project, case: str) -> None:
    text, names = MALFORMED[case]
    path = project.recipe("broken", text)
    check(project, BUILD, path, *names, debug="flag" if case != "syntax" else "env")


# --- 2 unknown target ---------------------------------------------------------------------------


def test_unknown_target(project: Project) -> None:
    project.hello_recipe()
    line = check(project, ["build", "--target", "nosuch"], "unknown target 'nosuch'", TARGET)
    assert "configured:" in line


def test_recipe_names_unknown_target(project: Project) -> None:
    path = project.recipe("hello", f"""\
        targets = ["nosuch"]
        [source]
        kind = "debian"
        archive = "testarchive"
        suite = "{af.SUITE}"
        package = "{af.PACKAGE}"
        """)
    check(project, BUILD, path, "targets", "unknown target 'nosuch'")


# --- 3 a PyPI sdist that is not the pinned one --------------------------------------------------


def test_pypi_sha256_mismatch(project: Project) -> None:
    path = project.recipe("python3-xenapi", f"""\
        targets = ["{TARGET}"]
        [source]
        kind = "pypi"
        name = "xenapi"
        version = "26.21.1"
        sha256 = "{WRONG_SHA}"
        [packaging]
        source_name = "python-xenapi"
        templates = "debian"
        """)
    (path.parent / "debian").mkdir()
    (path.parent / "debian" / "control").write_text("")
    line = check(project, BUILD, "xenapi==26.21.1", "sha256 mismatch", "xenapi-26.21.1.tar.gz", WRONG_SHA)
    assert re.search(r"got [0-9a-f]{64}$", line), line


# --- 4 a .dsc that does not match the signed index ----------------------------------------------


def _what(archive: af.Archive, file: str) -> list[object]:
    return [f"{archive.package} {archive.version} (testarchive {archive.suite}): file {file}"]


def test_dsc_changed_after_indexing(project: Project, archive: af.Archive) -> None:
    project.hello_recipe()
    dsc = af.tamper_dsc(archive, same_size=True)
    line = check(project, BUILD, *_what(archive, dsc.name), "sha256 mismatch", f"/{dsc.name}")
    listed = af.index_entry(archive, dsc.name)
    assert f"expected {listed}" in line


def test_dsc_grown_after_indexing(project: Project, archive: af.Archive) -> None:
    project.hello_recipe()
    dsc = af.tamper_dsc(archive, same_size=False)
    check(project, BUILD, *_what(archive, dsc.name), "size mismatch", debug="env")


def test_dsc_lists_a_file_the_index_does_not(project: Project, archive: af.Archive, gpg: af.GpgHome) -> None:
    project.hello_recipe()
    af.dsc_disagrees_with_index(archive, gpg)
    check(project, BUILD, archive.package, archive.version, archive.suite, archive.dsc.name,
          archive.tarball.name, "does not match the signed Sources index")


# --- 5 a bad InRelease signature ----------------------------------------------------------------


def test_inrelease_signed_by_unknown_key(project: Project, archive: af.Archive, gpg: af.GpgHome,
                                         mirror: str) -> None:
    project.hello_recipe()
    stranger = af.sign_with_unknown_key(archive, gpg)
    check(project, BUILD, f"{archive.suite} InRelease from {mirror}", "no good signature",
          stranger[-16:], archive.keyring)


def test_inrelease_not_signed(project: Project, archive: af.Archive, mirror: str) -> None:
    project.hello_recipe()
    af.unsign(archive)
    check(project, BUILD, f"{archive.suite} InRelease from {mirror}", "not signed", archive.keyring)


def test_keyring_missing(project: Project, archive: af.Archive, tmp_path: Path) -> None:
    project.hello_recipe()
    missing = tmp_path / "no-such-keyring.gpg"
    toml = project.root / "kronos.toml"
    toml.write_text(toml.read_text().replace(str(archive.keyring), str(missing)))
    check(project, BUILD, f"{archive.suite} InRelease", f"keyring {missing} does not exist")


def test_inrelease_tampered(project: Project, archive: af.Archive, gpg: af.GpgHome, mirror: str) -> None:
    project.hello_recipe()
    af.tamper_signed_text(archive)
    check(project, BUILD, f"{archive.suite} InRelease from {mirror}", "bad signature",
          gpg.signer[-16:], archive.keyring, debug="env")


# --- 6 listed but not downloadable --------------------------------------------------------------


def test_source_file_missing(project: Project, archive: af.Archive, mirror: str) -> None:
    project.hello_recipe()
    gone = af.delete_pool_file(archive, ".tar.xz")
    url = f"{mirror}/pool/main/{archive.package[0]}/{archive.package}/{gone.name}"
    check(project, BUILD, *_what(archive, gone.name), url, "HTTP 404")


def test_dsc_not_served_is_made_from_the_index(project: Project, archive: af.Archive, mirror: str) -> None:
    """A .dsc the mirror does not serve is made from the signed stanza: the build goes on and build.json
    says so; when a tarball is missing too (and not in the cache), one line names the tarball."""
    project.hello_recipe()
    dsc = af.delete_pool_file(archive, ".dsc")
    result = project.run(*BUILD)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert f"{dsc.name} made from the signed Sources index (testarchive {archive.suite}" in said, said
    record = json.loads((project.out / TARGET / RECIPE / "build.json").read_text())
    assert record["dsc-made-from"].startswith(f"testarchive {archive.suite} main/source/Sources")
    assert f"does not serve {dsc.name}: HTTP 404" in record["dsc-made-from"]
    shutil.rmtree(project.cache)
    gone = af.delete_pool_file(archive, ".tar.xz")
    url = f"{mirror}/pool/main/{archive.package[0]}/{archive.package}/{gone.name}"
    check(project, BUILD, *_what(archive, gone.name), url, "HTTP 404")


def test_package_not_in_suite(project: Project) -> None:
    path = project.hello_recipe()
    path.write_text(path.read_text() + 'version = "9.9"\n')
    check(project, BUILD, f"{af.PACKAGE} 9.9", f"testarchive {af.SUITE}")


# --- 7 patches ----------------------------------------------------------------------------------


BAD_PATCH = """\
--- a/hello.txt
+++ b/hello.txt
@@ -1,3 +1,3 @@
 This line is not in hello.txt
-and neither is this one
+so the hunk is rejected
 at all.
"""


def test_patch_does_not_apply(project: Project) -> None:
    project.hello_recipe()
    d = project.patch_series(RECIPE, "common", "does-not-apply.patch\n", {"does-not-apply.patch": BAD_PATCH})
    check(project, BUILD, f"recipe {RECIPE}", f"target {TARGET}", d / "does-not-apply.patch",
          "Hunk #1 FAILED")


def test_series_names_missing_patch(project: Project) -> None:
    project.hello_recipe()
    d = project.patch_series(RECIPE, "common", "# a comment\nnot-there.patch\n", {})
    check(project, BUILD, f"{d / 'series'}:2", "not-there.patch", RECIPE, TARGET, debug="env")


# --- 8 a package that fails to build (Docker) ---------------------------------------------------


FAILING_RULES = "#!/usr/bin/make -f\n%:\n\tdh $@\n\noverride_dh_auto_build:\n\tfalse\n"


def test_build_failure(project: Project) -> None:
    tree = project.root / "src" / "tiny"
    tree.mkdir(parents=True)
    (tree / "README").write_text("A tiny upstream tree.\n")
    path = project.recipe("tiny", f"""\
        targets = ["{TARGET}"]
        [source]
        kind = "local"
        path = "../../src/tiny"
        version = "1.0"
        [packaging]
        source_name = "kronos-tiny"
        """)
    debian = path.parent / "debian"
    (debian / "source").mkdir(parents=True)
    (debian / "source" / "format").write_text("3.0 (quilt)\n")
    (debian / "control.j2").write_text(textwrap.dedent("""\
        Source: {{ source_name }}
        Section: misc
        Priority: optional
        Maintainer: {{ maintainer }}
        Build-Depends: debhelper-compat (= 13)
        Standards-Version: 4.6.2
        Rules-Requires-Root: no

        Package: {{ source_name }}
        Architecture: all
        Depends: ${misc:Depends}
        Description: tiny package whose build fails
         Its rules run false.
        """))
    (debian / "rules").write_text(FAILING_RULES)
    (debian / "rules").chmod(0o755)
    failed_ref = "kronos/failed-bookworm-tiny:1.0-1_bpo12_1"
    try:
        line = check(project, BUILD, "tiny 1.0-1~bpo12+1", f"on {TARGET}", "failed to build", debug="env")
        m = re.search(r"log: (\S+); build tree kept, shell: (docker run .* (\S+:\S+) bash)$", line)
        assert m, line
        log = Path(m.group(1))
        assert log.is_file() and log.is_relative_to(project.out), log
        assert "override_dh_auto_build" in log.read_text(errors="replace")
        assert m.group(3) == failed_ref
    finally:
        subprocess.run(["docker", "image", "rm", "-f", failed_ref], capture_output=True, check=False)


# --- live: a source listed in sid's index whose files answer 404 here ---------------------------


@pytest.mark.live
def test_live_listed_but_not_downloadable(project: Project) -> None:
    project.recipe("psq", f"""\
        targets = ["{TARGET}"]
        [source]
        kind = "debian"
        suite = "sid"
        package = "ocaml-psq"
        """)
    line = check(project, ["build", "--only", "psq"], "ocaml-psq", "sid")
    assert re.search(r"ocaml-psq \S*\d\S* \(debian sid\): file ocaml-psq_\S+: cannot download .*HTTP 404",
                     line), line
