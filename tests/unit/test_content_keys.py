"""Content keys: they cover every input of a source package and nothing about where files lie."""

from __future__ import annotations

import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import Settings, load_settings
from kronos.images import image_key
from kronos.recipe import load_recipe
from kronos.source_package import SourcePreparer

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def _project(root: Path, keyring: Path) -> Settings:
    root.mkdir(parents=True)
    (root / "kronos.toml").write_text(
        f'[archives.debian]\nmirror = "http://127.0.0.1:9/debian"\nsnapshot = true\nkeyring = "{keyring}"\n'
        '[archives.ubuntu]\nmirror = "http://127.0.0.1:9/ubuntu"\nsnapshot = true\n'
        f'keyring = "{keyring}"\n'
    )
    return load_settings(root, env={"KRONOS_CACHE_DIR": str(root / ".cache")})


@pytest.mark.parametrize("target", ["bookworm", "noble"])
def test_image_key_does_not_depend_on_where_the_keyring_lies(tmp_path: Path, target: str) -> None:
    keys = []
    for where in ("a/deep/checkout", "moved"):
        keyring = tmp_path / where / ".cache" / "keyrings" / "archive-keyring.gpg"
        keyring.parent.mkdir(parents=True)
        shutil.copyfile(DEBIAN_KEYRING, keyring)
        s = _project(tmp_path / where / "project", keyring)
        keys.append(image_key(s, Archives(s, Cache(s.cache_dir)), s.target(target)))
    assert keys[0] == keys[1], "moving the checkout or the cache changes the image's content key"


def test_image_key_follows_the_keyring_content(tmp_path: Path) -> None:
    keyring = tmp_path / "k" / "archive-keyring.gpg"
    keyring.parent.mkdir()
    shutil.copyfile(DEBIAN_KEYRING, keyring)
    s = _project(tmp_path / "p", keyring)
    before = image_key(s, Archives(s, Cache(s.cache_dir)), s.target("bookworm"))
    keyring.write_bytes(keyring.read_bytes()[:-1])
    assert image_key(s, Archives(s, Cache(s.cache_dir)), s.target("bookworm")) != before


def _local_recipe(root: Path) -> Path:
    d = root / "recipes" / "demo"
    (d / "src").mkdir(parents=True)
    (d / "src" / "hello.txt").write_text("hello\n")
    (d / "debian").mkdir()
    (d / "debian" / "control.j2").write_text("Source: {{ source_name }}\nMaintainer: {{ maintainer }}\n")
    (d / "recipe.toml").write_text(
        '[source]\nkind = "local"\npath = "src"\nversion = "1.0"\n'
        '[packaging]\nsource_name = "demo"\nchangelog = "Demo."\n'
    )
    return d / "recipe.toml"


def _source_key(root: Path, env: dict[str, str], work: Path) -> str:
    s = load_settings(root, env={"KRONOS_CACHE_DIR": str(root / ".cache"), **env})
    recipe = load_recipe(root / "recipes" / "demo" / "recipe.toml", s)
    cache = Cache(s.cache_dir)
    inputs, _ = SourcePreparer(s, cache, Archives(s, cache)).fetch(recipe, s.target("sid"), work)
    return inputs.key({})


def test_source_key_covers_the_maintainer(tmp_path: Path) -> None:
    """The maintainer is rendered into debian/control and the changelog: a new one is a new key,
    hence the next local revision (the README's advice to set DEBEMAIL must take effect)."""
    _local_recipe(tmp_path)
    default = _source_key(tmp_path, {}, tmp_path / "w1")
    same = _source_key(tmp_path, {}, tmp_path / "w2")
    other = _source_key(tmp_path, {"DEBEMAIL": "re@kronos.invalid"}, tmp_path / "w3")
    renamed = _source_key(tmp_path, {"DEBFULLNAME": "Someone Else"}, tmp_path / "w4")
    assert default == same
    assert other != default, "the content key ignores the maintainer's address"
    assert renamed != default, "the content key ignores the maintainer's name"


def test_source_key_covers_patch_order_and_strip_level(tmp_path: Path) -> None:
    _local_recipe(tmp_path)
    series = tmp_path / "patches" / "demo" / "common"
    series.mkdir(parents=True)
    for name in ("a.patch", "b.patch"):
        (series / name).write_text("")
    keys = set()
    for i, text in enumerate(("a.patch\nb.patch\n", "b.patch\na.patch\n", "a.patch -p0\nb.patch\n")):
        (series / "series").write_text(text)
        keys.add(_source_key(tmp_path, {}, tmp_path / f"w{i}"))
    assert len(keys) == 3, "reordering a series or changing -pN keeps the content key"


def _apt_can_read(path: Path) -> bool:
    proc = subprocess.run(["runuser", "-u", "_apt", "--", "cat", str(path)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    return proc.returncode == 0


def test_apt_readable_hands_apt_a_copy_it_can_read(tmp_path: Path) -> None:
    from kronos.sandbox import apt_readable, others_can_read

    try:
        pwd.getpwnam("_apt")
    except KeyError:
        pytest.fail("apt's sandbox user _apt does not exist on this host")
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    keyring = private / "keyring.gpg"
    shutil.copyfile(DEBIAN_KEYRING, keyring)
    repo = private / "repo"
    (repo / "sub").mkdir(parents=True, mode=0o700)
    (repo / "sub" / "Packages").write_text("")
    (repo / "sub" / "Packages").chmod(0o600)
    assert not _apt_can_read(keyring) and not others_can_read(keyring)
    with apt_readable([keyring, repo]) as (k, r):
        assert k.name == keyring.name and k.read_bytes() == keyring.read_bytes()
        assert _apt_can_read(k) and _apt_can_read(r / "sub" / "Packages")
        assert others_can_read(k) and others_can_read(r)
    assert not k.exists() and not r.exists()


def test_a_target_with_a_source_of_its_own(tmp_path: Path) -> None:
    """[source.targets.<t>] is that target's source (its version, its files); the other targets' keys
    do not see it, so giving one target its own source rebuilds nothing else."""
    path = _local_recipe(tmp_path)
    for tree, version in (("src", "1.0"), ("src2", "2.0")):
        (tmp_path / "recipes" / "demo" / tree).mkdir(exist_ok=True)
        (tmp_path / "recipes" / "demo" / tree / "VERSION").write_text(version)
    path.write_text('targets = ["sid", "bookworm"]\n' + path.read_text())
    before = _source_key(tmp_path, {}, tmp_path / "w1")
    path.write_text(path.read_text().replace(
        "[packaging]", '[source.targets.bookworm]\nkind = "local"\npath = "src2"\nversion = "2.0"\n[packaging]'))
    assert _source_key(tmp_path, {}, tmp_path / "w2") == before
    s = load_settings(tmp_path, env={"KRONOS_CACHE_DIR": str(tmp_path / ".cache")})
    recipe = load_recipe(path, s)
    here = tmp_path / "recipes" / "demo"
    assert recipe.describe_source() == f"local:{here}/src (bookworm: local:{here}/src2)"
    cache = Cache(s.cache_dir)
    inputs, _ = SourcePreparer(s, cache, Archives(s, cache)).fetch(recipe, s.target("bookworm"), tmp_path / "w3")
    assert inputs.base_version == "2.0"
    assert "recipe/target_sources" not in inputs.record({})
