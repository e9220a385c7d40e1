"""Errors a user can cause outside the recipes: the clock and fault variables, version_suffix, an
OSError nobody converted, a local source that would pack the signing key or kronos's own trees."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from kronos import clock
from kronos.cli import handled
from kronos.config import load_settings
from kronos.errors import ConfigError
from kronos.publish import fault
from kronos.recipe import LocalSource, load_recipe

# --- KRONOS_NOW, KRONOS_FAULT_AT -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["tomorrow", "1.5", "99999999999999999999", "-99999999999999"])
def test_bad_kronos_now(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KRONOS_NOW", value)
    with pytest.raises(ConfigError, match=rf"^environment KRONOS_NOW: '{value}' is not a time \(whole seconds"):
        clock.now()


def test_kronos_now_sets_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_NOW", "1767225600")
    assert clock.now().isoformat() == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize("value", ["first", "-1", "1.0", "\u00b2"])
def test_bad_kronos_fault_at(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KRONOS_FAULT_AT", value)
    with pytest.raises(ConfigError, match=rf"^environment KRONOS_FAULT_AT: '{value}' is not a checkpoint number"):
        fault.checkpoint("test")


def test_kronos_fault_at_elsewhere_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRONOS_FAULT_AT", "1000000")
    fault.checkpoint("test")


# --- version_suffix ------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "says"), [
    ("~bpo12+{n}.{build}", "unknown placeholder {build} in '~bpo12+{n}.{build}'; the only one is {n}"),
    ("~bpo12+{0}{n}", "unknown placeholder {0}"),
    ("~bpo12+{n:03}", "unknown placeholder {n:03}"),
    ("~bpo12+{n!r}", "unknown placeholder {n!r}"),
    ("~bpo12+{n", "is not a template"),
    ("~bpo12+{n}}", "is not a template"),
    ("~bpo12+1", "must contain {n}"),
    ("~bpo12 {n}", "gives '~bpo12 1', which has characters a Debian revision cannot"),
    ("-{n}", "gives '-1', which has characters a Debian revision cannot"),
])
def test_bad_version_suffix(tmp_path: Path, suffix: str, says: str) -> None:
    (tmp_path / "kronos.toml").write_text(f'[targets.bookworm]\nversion_suffix = "{suffix}"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={})
    assert str(e.value).startswith(f"{tmp_path / 'kronos.toml'}: targets.bookworm.version_suffix: "), str(e.value)
    assert says in str(e.value)


def test_good_version_suffix(tmp_path: Path) -> None:
    (tmp_path / "kronos.toml").write_text('[targets.bookworm]\nversion_suffix = "~kronos12.{n}+b"\n')
    assert load_settings(tmp_path, env={}).target("bookworm").version_suffix == "~kronos12.{n}+b"


# --- handled(): the last line of defence ---------------------------------------------------------


@handled
def failing(e: BaseException) -> None:
    raise e


@pytest.mark.parametrize(("error", "line"), [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/srv/out/x.deb"), "No space left on device: /srv/out/x.deb"),
    (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/srv/out"), "Permission denied: /srv/out"),
    (OSError(errno.EXDEV, os.strerror(errno.EXDEV), "/a", None, "/b"), "Invalid cross-device link: /a -> /b"),
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device"),
])
def test_handled_turns_an_oserror_into_one_line(monkeypatch: pytest.MonkeyPatch, error: OSError,
                                                line: str) -> None:
    monkeypatch.delenv("KRONOS_DEBUG", raising=False)
    with pytest.raises(Exit) as e:
        failing(error)
    assert e.value.message == f"kronos: error: {line}"
    assert e.value.code == 1
    monkeypatch.setenv("KRONOS_DEBUG", "1")
    with pytest.raises(OSError):
        failing(error)


# --- local sources -------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KRONOS_GNUPGHOME", "KRONOS_REPO_CONFIG", "KRONOS_SIGNING_PASSPHRASE_FILE", "GNUPGHOME"):
        monkeypatch.delenv(name, raising=False)


def local_recipe(root: Path, path: str) -> Path:
    d = root / "recipes" / "tiny"
    (d / "debian").mkdir(parents=True)
    (d / "recipe.toml").write_text(f'[source]\nkind = "local"\npath = "{path}"\nversion = "1.0"\n'
                                   '[packaging]\nsource_name = "tiny"\n')
    return d / "recipe.toml"


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(("path", "says"), [
    ("../..", "{root} contains the signing key's GnuPG home {root}/repo/gnupg"),
    ("../../repo", "{root}/repo contains the signing key's GnuPG home {root}/repo/gnupg"),
    ("../../repo/gnupg", "{root}/repo/gnupg contains the signing key's GnuPG home {root}/repo/gnupg"),
    ("../../repo/gnupg/openpgp-revocs.d", "is inside the signing key's GnuPG home {root}/repo/gnupg"),
    ("../../out", "{root}/out contains the output directory {root}/out"),
    ("../../.cache", "{root}/.cache contains the cache directory {root}/.cache/kronos"),
])
def test_local_source_refused(tmp_path: Path, path: str, says: str) -> None:
    root = tmp_path / "project"
    recipe = local_recipe(root, path)
    with pytest.raises(ConfigError) as e:
        load_recipe(recipe, load_settings(root, env={}))
    assert str(e.value).startswith(f"{recipe}: source.path: "), str(e.value)
    assert says.format(root=root) in str(e.value)
    assert "published tarball" in str(e.value)


@pytest.mark.usefixtures("clean_env")
def test_configured_signing_home_and_passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """repository.toml puts the signing home and passphrase file in a tree beside the project."""
    root = tmp_path / "project"
    (root / "repo").mkdir(parents=True)
    (root / "repo" / "repository.toml").write_text(
        '[repository]\nname = "kronos"\n[signing]\ngnupghome = "../secrets/gnupg"\n'
        'passphrase_file = "../secrets/passphrase"\n')
    recipe = local_recipe(root, "../../../secrets")
    with pytest.raises(ConfigError, match=f"contains the signing key's GnuPG home {tmp_path}/secrets/gnupg"):
        load_recipe(recipe, load_settings(root, env={}))
    monkeypatch.setenv("KRONOS_GNUPGHOME", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError, match=f"contains the signing key's passphrase file {tmp_path}/secrets/passph"):
        load_recipe(recipe, load_settings(root, env={}))


@pytest.mark.usefixtures("clean_env")
def test_users_gnupg_home_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    recipe = local_recipe(root, "../../../home")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match=f"contains your GnuPG home {tmp_path}/home/.gnupg"):
        load_recipe(recipe, load_settings(root, env={}))


@pytest.mark.usefixtures("clean_env")
def test_upstream_tree_accepted(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "src" / "tiny").mkdir(parents=True)
    recipe = local_recipe(root, "../../src/tiny")
    source = load_recipe(recipe, load_settings(root, env={})).source
    assert isinstance(source, LocalSource) and source.path == root / "src" / "tiny"


@pytest.mark.parametrize("jobs", ["abc", "0", "-1"])
def test_bad_jobs_is_one_line(jobs: str, tmp_path: Path) -> None:
    """--jobs is checked by kronos, before any engine or archive is touched: one line, exit 2."""
    import subprocess
    import sys

    kronos = Path(sys.executable).with_name("kronos")
    proc = subprocess.run([str(kronos), "build", "--jobs", jobs], cwd=tmp_path, text=True, capture_output=True,
                          env={"PATH": "/usr/bin:/bin", "KRONOS_ROOT": str(tmp_path)}, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"kronos: error: --jobs / KRONOS_JOBS must be a whole number of at least 1, not '{jobs}'"]
