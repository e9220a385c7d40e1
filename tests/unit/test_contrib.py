"""Contributor builds without Docker: recipes without [packaging] and of kind dsc, a tree's own
debian/ (format, changelog, .orig), a given .dsc's checks, the version rule and --keep-version, the
ledger's kept entries, and the shell command of a failed build."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.engine.docker import DockerEngine
from kronos.errors import BuildError, ConfigError, FetchError, VerifyError
from kronos.ledger import Entry, Ledger
from kronos.recipe import BuildOptions, DscSource, LocalSource, Packaging, Recipe, dsc_recipe, load_recipe
from kronos.source_package import Inputs, choose_version, version_note
from kronos.sources import dsc, tree

CHANGELOG = ("kt ({version}) unstable; urgency=medium\n\n  * Test.\n\n"
             " -- T <t@example.invalid>  Tue, 01 Dec 2026 00:00:00 +0000\n")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def own_tree(d: Path, version: str = "1.0-1", fmt: str | None = "3.0 (quilt)") -> Path:
    write(d / "debian" / "changelog", CHANGELOG.format(version=version))
    if fmt is not None:
        write(d / "debian" / "source" / "format", fmt + "\n")
    write(d / "file", "x\n")
    return d


def test_local_recipe_without_packaging_takes_no_version_and_an_orig(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    path = write(tmp_path / "recipes" / "kt" / "recipe.toml",
                 '[source]\nkind = "local"\npath = "src"\norig = "../kt_1.0.orig.tar.gz"\n')
    r = load_recipe(path, s)
    assert r.source == LocalSource((path.parent / "src").resolve(), None, (tmp_path / "recipes" / "kt_1.0.orig.tar.gz"))
    assert r.packaging is None and r.own_debian


@pytest.mark.parametrize(("text", "message"), [
    ('[source]\nkind = "local"\npath = "src"\n[packaging]\nsource_name = "kt"\n', r"source: missing key 'version'"),
    ('[source]\nkind = "local"\npath = "src"\nversion = "1"\norig = "o.tar.gz"\n[packaging]\nsource_name = "kt"\n',
     r"source.orig: only a tree with its own debian/"),
    ('[source]\nkind = "dsc"\npath = "p.dsc"\n[packaging]\nsource_name = "kt"\n',
     r"packaging: a dsc source brings its own debian/"),
    ('[source]\nkind = "dsc"\n', r"source: missing key 'path'"),
])
def test_bad_contributor_recipes_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    s = load_settings(tmp_path, env={})
    path = write(tmp_path / "recipes" / "kt" / "recipe.toml", text)
    (path.parent / "debian").mkdir()
    with pytest.raises(ConfigError, match=message) as e:
        load_recipe(path, s)
    assert str(path) in str(e.value)


def test_dsc_recipe_kind_and_in_memory(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    path = write(tmp_path / "recipes" / "kt" / "recipe.toml",
                 '[source]\nkind = "dsc"\npath = "kt.dsc"\nkeyring = "k.gpg"\n')
    r = load_recipe(path, s)
    assert r.source == DscSource((path.parent / "kt.dsc").resolve(), (path.parent / "k.gpg").resolve())
    given = write(tmp_path / "kt_1.0.dsc", "Format: 3.0 (native)\nSource: kt\nVersion: 1.0\n")
    made = dsc_recipe(given, None, ["bookworm"], s)
    assert (made.name, made.targets, made.source, made.packaging) == ("kt", tuple(s.targets), DscSource(given), None)
    with pytest.raises(ConfigError, match="nosuch"):
        dsc_recipe(given, None, ["nosuch"], s)
    write(given, "Format: 3.0 (native)\nSource: Not_A_Name\nVersion: 1.0\n")
    with pytest.raises(ConfigError, match=r"Source: 'Not_A_Name' is not a valid package name"):
        dsc_recipe(given, None, ["bookworm"], s)


@pytest.mark.parametrize(("fmt", "version", "native"), [
    ("3.0 (native)", "1.0", True), ("3.0 (quilt)", "1.0-1", False), ("1.0", "1.0", True), ("1.0", "1.0-2", False),
])
def test_format_decides_native(fmt: str, version: str, native: bool) -> None:
    assert tree.is_native(fmt, version) is native


def test_unknown_format_and_orig_names() -> None:
    with pytest.raises(FetchError, match=r"'3.0 \(git\)' is not one kronos builds"):
        tree.is_native("3.0 (git)", "1.0")
    assert tree.orig_names("kt", "2:1.2-3") == ["kt_1.2.orig.tar.gz", "kt_1.2.orig.tar.xz", "kt_1.2.orig.tar.bz2"]


def test_prepare_quilt_tree_takes_the_sibling_orig(tmp_path: Path) -> None:
    src = own_tree(tmp_path / "kt-1.0")
    with pytest.raises(FetchError, match=r"none of .*kt_1.0.orig.tar.gz, .*kt_1.0.orig.tar.xz, .*kt_1.0.orig.tar.bz2"):
        tree.prepare(src, None, tmp_path / "w1")
    write(tmp_path / "kt_1.0.orig.tar.xz", "upstream")
    (src / ".git").mkdir()
    own = tree.prepare(src, None, tmp_path / "w2")
    assert (own.source, own.version, own.format) == ("kt", "1.0-1", "3.0 (quilt)")
    assert own.orig == tmp_path / "w2" / "kt_1.0.orig.tar.xz" and not (own.tree / ".git").exists()
    digests = tree.digests(own)
    assert set(digests) == {"tree/debian/changelog", "tree/debian/source/format", "tree/file", "source/orig"}
    assert digests["source/orig"] == hashlib.sha256(b"upstream").hexdigest()
    configured = write(tmp_path / "elsewhere" / "upstream.tar.gz", "other")
    assert tree.prepare(src, configured, tmp_path / "w3").orig == tmp_path / "w3" / "kt_1.0.orig.tar.gz"
    with pytest.raises(FetchError, match=r"is not a .tar.gz, .tar.xz or .tar.bz2"):
        tree.prepare(src, write(tmp_path / "o.zip", "z"), tmp_path / "w4")


def test_prepare_native_tarball_and_missing_debian(tmp_path: Path) -> None:
    own_tree(tmp_path / "kt-2.0", "2.0", "3.0 (native)")
    tarball = tmp_path / "kt.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tmp_path), "kt-2.0"], check=True)
    own = tree.prepare(tarball, None, tmp_path / "w")
    assert (own.version, own.orig, (own.tree / "file").read_text()) == ("2.0", None, "x\n")
    bare = write(tmp_path / "bare" / "README", "")
    with pytest.raises(FetchError, match=r"no debian/ directory \(looked for .*/bare/debian\)"):
        tree.prepare(bare.parent, None, tmp_path / "w5")
    write(tmp_path / "bad" / "debian" / "changelog", "not a changelog\n")
    with pytest.raises(FetchError, match=r"debian/changelog cannot be read"):
        tree.prepare(tmp_path / "bad", None, tmp_path / "w6")


def test_given_dsc_files_must_exist_and_match(tmp_path: Path) -> None:
    data = b"payload"
    sha = hashlib.sha256(data).hexdigest()
    given = write(tmp_path / "kt_1.0.dsc", "Format: 3.0 (native)\nSource: kt\nVersion: 1.0\nChecksums-Sha256:\n"
                                           f" {sha} {len(data)} kt_1.0.tar.xz\n")
    with pytest.raises(FetchError, match=r"lists kt_1.0.tar.xz, which is missing \(looked for .*kt_1.0.tar.xz\)"):
        dsc.fetch(given, None, tmp_path / "a")
    (tmp_path / "kt_1.0.tar.xz").write_bytes(b"other")
    with pytest.raises(VerifyError, match=r"kt_1.0.tar.xz does not match the sha256 the .dsc lists for it"):
        dsc.fetch(given, None, tmp_path / "b")
    (tmp_path / "kt_1.0.tar.xz").write_bytes(data)
    got = dsc.fetch(given, None, tmp_path / "c")
    assert (got.source, got.version, got.signature) == ("kt", "1.0", "unsigned")
    assert dict(got.checksums)["kt_1.0.tar.xz"] == sha and (tmp_path / "c" / "kt_1.0.tar.xz").read_bytes() == data
    with pytest.raises(VerifyError, match=r"not signed, but --keyring .* asks for a signature check"):
        dsc.fetch(given, tmp_path / "k.gpg", tmp_path / "d")
    with pytest.raises(FetchError, match=r"no such .dsc"):
        dsc.fetch(tmp_path / "none.dsc", None, tmp_path / "e")


def _inputs(tmp_path: Path, source: LocalSource | DscSource, packaging: Packaging | None = None) -> Inputs:
    t = load_settings(tmp_path, env={}).targets["bookworm"]
    return Inputs(Recipe("kt", tmp_path, ("bookworm",), (), source, packaging, BuildOptions()), t, "1.0-1", "kt",
                  {}, [], {})


def test_version_rule_and_keep_version(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    for source in (LocalSource(tmp_path, None), DscSource(tmp_path / "kt.dsc")):
        entry, known = choose_version(_inputs(tmp_path, source), "k1", ledger)
        assert (entry.version, entry.n, entry.kept, known) == ("1.0-1~bpo12+1", 1, False, False)
        assert version_note(_inputs(tmp_path, source), entry) == (
            "kt: 1.0-1 is built as 1.0-1~bpo12+1 (the version plus bookworm's local revision, so no two builds"
            " share a version; --keep-version keeps it as it is)")
    kept, _ = choose_version(_inputs(tmp_path, LocalSource(tmp_path, None)), "k2", ledger, keep=True)
    assert (kept.version, kept.base, kept.n, kept.kept) == ("1.0-1", "1.0-1", 0, True)
    assert version_note(_inputs(tmp_path, LocalSource(tmp_path, None)), kept) is None
    ledger.record(kept)
    newer = Entry("k3", "1.0-1", "1.0-1", 0, 5)
    ledger.record(newer)  # a newer kept build of the same version replaces the older
    assert ledger.entries == [newer] and Ledger(ledger.path).entries == [newer]
    assert choose_version(_inputs(tmp_path, LocalSource(tmp_path, None)), "k4", ledger)[0].version == "1.0-1~bpo12+1"
    ledger = Ledger(tmp_path / "other.json")
    ledger.record(Entry("k5", "1.0-1", "1.0", 1, 5))  # a kronos build that happens to carry that version
    with pytest.raises(BuildError, match=r"version 1.0-1 already names another kronos build"):
        choose_version(_inputs(tmp_path, LocalSource(tmp_path, None)), "k6", ledger, keep=True)
    authored = _inputs(tmp_path, LocalSource(tmp_path, "1.0"), Packaging("kt", tmp_path, "c"))
    with pytest.raises(BuildError, match=r"--keep-version needs a source with its own debian/changelog"):
        choose_version(authored, "k7", ledger, keep=True)


def test_a_kept_version_is_never_handed_out_again(tmp_path: Path) -> None:
    """A --keep-version build of a tree whose changelog already says 1.0-1~bpo12+1, then a normal build
    of base version 1.0-1: the first local revision would be that same version, so the next is taken
    (it used to be handed out, and the ledger then refused it with a traceback after the build)."""
    ledger = Ledger(tmp_path / "ledger.json")
    ledger.record(Entry("kept", "1.0-1~bpo12+1", "1.0-1~bpo12+1", 0, 5))
    entry, known = choose_version(_inputs(tmp_path, LocalSource(tmp_path, None)), "normal", ledger)
    assert (entry.version, entry.n, known) == ("1.0-1~bpo12+2", 2, False)
    ledger.record(entry)
    assert {e.version for e in Ledger(ledger.path).entries} == {"1.0-1~bpo12+1", "1.0-1~bpo12+2"}


def test_shell_of_a_failed_build_is_the_docker_run_line() -> None:
    engine = DockerEngine(client=object())
    assert engine.shell_argv("kronos/failed-bookworm-kt:1", "builder", "/build/pkg", tty=False) == [
        "docker", "run", "--rm", "-i", "-u", "builder", "-w", "/build/pkg", "kronos/failed-bookworm-kt:1", "bash"]
    assert engine.shell_argv("i", "builder", "/build/pkg", tty=True)[:5] == ["docker", "run", "--rm", "-i", "-t"]


@pytest.mark.parametrize("name", ["../x", "sub/kt_1.0.tar.xz", "..", "/etc/passwd"])
def test_given_dsc_naming_a_path_is_one_error(tmp_path: Path, name: str) -> None:
    """A .dsc whose Checksums-Sha256 (or Files) names a path, not a file beside it: one error naming the
    .dsc and the name, nothing copied (it was a traceback from Path.with_name)."""
    sha = hashlib.sha256(b"x").hexdigest()
    for field in ("Checksums-Sha256", "Files"):
        given = write(tmp_path / field / "kt_1.0.dsc", "Format: 3.0 (native)\nSource: kt\nVersion: 1.0\n"
                      f"Checksums-Sha256:\n {sha} 1 {'kt_1.0.tar.xz' if field == 'Files' else name}\n"
                      f"Files:\n {sha[:32]} 1 {name}\n")
        with pytest.raises(VerifyError, match=rf"^{given}: lists '{name}', which is not a plain file name$"):
            dsc.fetch(given, None, tmp_path / field / "dest")
        assert not (tmp_path / field / "dest").exists()


def test_names_become_valid_image_names() -> None:
    """A recipe may be called libstdc++ (a legal Debian source name); the image a failed build is kept
    in must still have a name Docker takes, distinct for two names that differ only in such signs."""
    from kronos.build import image_name_part, image_tag

    docker_part = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
    for name in ("ocaml-re", "libstdc++", "a.-b", "g++-12", "x+", "1.0+dfsg"):
        part = image_name_part(name)
        assert re.fullmatch(docker_part, part), (name, part)
    assert image_name_part("ocaml-re") == "ocaml-re"  # an ordinary name stays as it is
    assert image_name_part("libstdc++") != image_name_part("libstdc--")
    assert image_tag("1:2.0-1~bpo12+1") == "1_2.0-1_bpo12_1"
