from __future__ import annotations

from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "kronos.toml").write_text(text)
    return tmp_path


def test_defaults_define_the_five_targets(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert set(s.targets) == {"sid", "trixie", "bookworm", "noble", "resolute"}
    assert s.target("noble").include == ("apt",)
    assert s.target("bookworm").version_suffix == "~bpo12+{n}"
    assert s.target("sid").distribution == "unstable"
    assert s.archives["ubuntu"].keyring_package is not None
    assert s.archives["debian"].snapshot_setting is None  # "auto": the machine's apt policy decides


def test_precedence_defaults_file_env_cli(tmp_path: Path) -> None:
    write(tmp_path, '[maintainer]\nname = "File Name"\nemail = "file@example.org"\n'
                    '[kronos]\noutput_dir = "from-file"\n')
    s = load_settings(tmp_path, env={})
    assert s.maintainer.name == "File Name" and s.output_dir == tmp_path / "from-file"
    s = load_settings(tmp_path, env={"KRONOS_MAINTAINER_NAME": "Env Name", "KRONOS_OUTPUT_DIR": "env"})
    assert s.maintainer.name == "Env Name" and s.maintainer.email == "file@example.org"
    assert s.output_dir == tmp_path / "env"
    s = load_settings(tmp_path, env={"KRONOS_OUTPUT_DIR": "env"}, cli={"kronos": {"output_dir": "cli"}})
    assert s.output_dir == tmp_path / "cli"


def test_env_mirror_and_snapshot_switch(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={"KRONOS_MIRROR_DEBIAN": "http://127.0.0.1:9/debian",
                                     "KRONOS_SNAPSHOT_DEBIAN": "false"})
    assert s.archives["debian"].mirror == "http://127.0.0.1:9/debian"
    assert s.archives["debian"].snapshot is False


def test_unknown_target_is_one_clear_error(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    with pytest.raises(ConfigError, match="unknown target 'nosuch'"):
        s.target("nosuch")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[kronos]\nbogus = 1\n", "kronos: unknown key 'bogus'"),
        ("[targets.sid]\nsuite = 3\n", r"targets.sid.suite: expected str, got int"),
        ("[targets.x]\narchive = \"nowhere\"\nsuite = \"x\"\nversion_suffix = \"+{n}\"\n",
         "targets.x.archive: unknown archive 'nowhere'"),
        ("[targets.x]\narchive = \"debian\"\nsuite = \"x\"\nversion_suffix = \"+1\"\n",
         r"version_suffix: must contain \{n\}"),
        ("[archives.debian]\nmirror = \"ftp-ish\"\n", "is neither 'auto' nor a URL"),
        ("[kronos\n", "not valid TOML"),
        ("[kronos]\ndefault_targets = [\"nosuch\"]\n", "default_targets: unknown target 'nosuch'"),
    ],
)
def test_malformed_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as e:
        load_settings(tmp_path, env={})
    assert str(tmp_path / "kronos.toml") in str(e.value) or "unknown target" in str(e.value)


def test_project_config_loads() -> None:
    s = load_settings(ROOT, env={})
    assert s.default_targets == ("sid", "trixie", "bookworm", "noble", "resolute")


def test_debemail_may_carry_the_full_name(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={"DEBEMAIL": "Release Engineer <re@kronos.invalid>"})
    assert str(s.maintainer) == "Release Engineer <re@kronos.invalid>"
    s = load_settings(tmp_path, env={"DEBEMAIL": "Release Engineer <re@kronos.invalid>", "DEBFULLNAME": "R. E."})
    assert str(s.maintainer) == "R. E. <re@kronos.invalid>"


def test_rebuild_rule_per_target(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    rules = {name: (t.update_tag, t.rebuild_suffix) for name, t in s.targets.items()}
    assert rules == {"sid": ("", "+kronos{n}"), "trixie": ("+deb13u", "+kronos{n}"),
                     "bookworm": ("+deb12u", "+kronos{n}"), "noble": ("ubuntu", "+kronos{n}"),
                     "resolute": ("ubuntu", "+kronos{n}")}
    write(tmp_path, '[targets.bookworm]\nupdate_tag = "+deb12u"\nrebuild_suffix = "+local.{n}"\n')
    assert load_settings(tmp_path, env={}).target("bookworm").rebuild_suffix == "+local.{n}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('rebuild_suffix = "+kronos"\n', r"targets.bookworm.rebuild_suffix: must contain \{n\}"),
        ('rebuild_suffix = "+kronos{m}"\n', r"targets.bookworm.rebuild_suffix: unknown placeholder \{m\}"),
        ('rebuild_suffix = "~kronos{n}"\n',
         r"rebuild_suffix: '~kronos\{n\}' with update_tag '\+deb12u' gives 1.0-1\+deb12u1~kronos1,"
         r" which does not sort above 1.0-1\+deb12u1"),
        ('update_tag = ""\nrebuild_suffix = "~kronos{n}"\n', "gives 1.0-1~kronos1, which does not sort above 1.0-1$"),
        # letters after '.' sort above the digits of Ubuntu's point updates (ubuntu0.1)
        ('update_tag = "ubuntu"\nrebuild_suffix = ".kronos{n}"\n',
         r"gives 1.0-1ubuntu0.kronos99, which does not sort below the archive's update 1.0-1ubuntu0.1$"),
        ('rebuild_suffix = "{n}"\n', r"gives 1.0-1\+deb12u099, which does not sort below the archive's update"),
        ('update_tag = "+deb12"\n', "update_tag: '\\+deb12' is not Debian revision characters ending in a non-digit"),
        ('update_tag = "deb 12u"\n', "update_tag: 'deb 12u' is not Debian revision characters"),
    ],
)
def test_bad_rebuild_rule_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, "[targets.bookworm]\n" + text)
    with pytest.raises(ConfigError, match=message) as e:
        load_settings(tmp_path, env={})
    assert str(e.value).startswith(f"{tmp_path / 'kronos.toml'}: targets.bookworm."), str(e.value)
