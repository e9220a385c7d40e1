"""Kept build-tree files: the recipe's `[build.keep."<name>"]` tables, keep.list and Kconfig values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.errors import BuildError, ConfigError
from kronos.kept import failure, kconfig, keep_list, record
from kronos.recipe import Keep, load_recipe

HEAD = 'targets = ["bookworm"]\n[source]\nkind = "debian"\nsuite = "bookworm"\npackage = "xen"\n'


def _load(tmp_path: Path, text: str) -> tuple[Keep, ...]:
    d = tmp_path / "recipes" / "xen"
    d.mkdir(parents=True, exist_ok=True)
    (d / "recipe.toml").write_text(HEAD + text)
    return load_recipe(d / "recipe.toml", load_settings(tmp_path, env={})).options_for("bookworm").keep


def test_keep_tables_load_sorted_by_name(tmp_path: Path) -> None:
    keeps = _load(tmp_path, '[build.keep."xen.config"]\npath = "debian/build/*/xen/.config"\n'
                            'kconfig = ["CONFIG_PV", "CONFIG_HVM"]\n'
                            '[build.keep."a.log"]\npath = "config.log"\n')
    assert keeps == (Keep("a.log", "config.log"), Keep("xen.config", "debian/build/*/xen/.config",
                                                       ("CONFIG_PV", "CONFIG_HVM")))
    assert keep_list(keeps) == "a.log\tconfig.log\nxen.config\tdebian/build/*/xen/.config\n"


def test_per_target_keep_replaces_the_recipes(tmp_path: Path) -> None:
    keeps = _load(tmp_path, '[build.keep."a.log"]\npath = "config.log"\n'
                            '[build.targets.bookworm.keep."b.log"]\npath = "other.log"\n')
    assert keeps == (Keep("b.log", "other.log"),)


@pytest.mark.parametrize(("text", "message"), [
    ('[build.keep."xen.config"]\n', r"build.keep.xen.config: missing key 'path'"),
    ('[build.keep."x.deb"]\npath = "a"\n', r"build.keep.x.deb: 'x.deb' is not a plain file name"),
    ('[build.keep."build.json"]\npath = "a"\n', r"'build.json' is not a plain file name"),
    ('[build.keep."../x"]\npath = "a"\n', r"'../x' is not a plain file name"),
    ('[build.keep.x]\npath = "/etc/passwd"\n', r"build.keep.x.path: '/etc/passwd' is not a path inside"),
    ('[build.keep.x]\npath = "../../etc/passwd"\n', r"is not a path inside the build tree"),
    ('[build.keep.x]\npath = "a b"\n', r"is not a path inside the build tree"),
    ('[build.keep.x]\npath = "a"\nkconfig = ["SHADOW_PAGING"]\n', r"'SHADOW_PAGING' is not a Kconfig option"),
    ('[build.keep.x]\npath = "a"\ncolour = 1\n', r"build.keep.x: unknown key 'colour'"),
])
def test_bad_keep_tables_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        _load(tmp_path, text)
    assert "recipe.toml" in str(e.value)


def test_kconfig_values() -> None:
    text = ('#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_PV=y\n# CONFIG_XSM is not set\n'
            'CONFIG_NR_CPUS=256\nCONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"\nCONFIG_SHADOW_PAGING=y\n'
            '# CONFIG_HVM_FEP is not set\n')
    values = kconfig(text)
    assert values == {"CONFIG_PV": "y", "CONFIG_XSM": "n", "CONFIG_NR_CPUS": "256",
                      "CONFIG_CC_VERSION_TEXT": "gcc (Debian 12.2.0-14) 12.2.0", "CONFIG_SHADOW_PAGING": "y",
                      "CONFIG_HVM_FEP": "n"}


def test_record_names_digest_and_asked_options(tmp_path: Path) -> None:
    (tmp_path / "xen.config").write_text("CONFIG_PV=y\n# CONFIG_XSM is not set\n")
    kept, configuration = record((Keep("xen.config", "xen/.config", ("CONFIG_PV", "CONFIG_XSM", "CONFIG_HVM")),),
                                 tmp_path)
    digest = hashlib.sha256((tmp_path / "xen.config").read_bytes()).hexdigest()
    assert kept == {"xen.config": {"path": "xen/.config", "sha256": digest}}
    assert configuration == {"xen.config": {"CONFIG_PV": "y", "CONFIG_XSM": "n", "CONFIG_HVM": "n"}}
    with pytest.raises(BuildError, match="did not produce the kept file other.config"):
        record((Keep("other.config", "x"),), tmp_path)


def test_the_keep_failure_line_of_a_build_log(tmp_path: Path) -> None:
    log = tmp_path / "x.build"
    log.write_text("make: ok\nkronos: kept a as b\nkronos: keep xen.config: 'x/.config' matches 2 files in the build"
                   " tree, not one: x/.config y/x/.config\n")
    assert failure(log) == "keep xen.config: 'x/.config' matches 2 files in the build tree, not one: x/.config" \
                           " y/x/.config"
    log.write_text("dpkg-buildpackage: error\n")
    assert failure(log) is None
    assert failure(tmp_path / "missing.build") is None
