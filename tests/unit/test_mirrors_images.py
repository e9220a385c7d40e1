from __future__ import annotations

from pathlib import Path

from kronos.archive import mirrors
from kronos.config import load_settings
from kronos.images import apt_options, sources_lines


def test_mirror_from_apt_sources(tmp_path: Path) -> None:
    (tmp_path / "a.sources").write_text(
        "Types: deb\nURIs: http://127.0.0.1:1/sec\nSuites: bookworm-security\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://127.0.0.1:1/debian/\nSuites: bookworm\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    found = mirrors.from_apt_sources(Path("/usr/share/keyrings/debian-archive-keyring.gpg"), tmp_path)
    assert found == "http://127.0.0.1:1/debian"
    assert mirrors.from_apt_sources(Path("/x/other.gpg"), tmp_path) is None


def test_mirror_from_debootstrap_family_script(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "gutsy").write_text(
        'case $ARCH in\n amd64) default_mirror http://127.0.0.1:2/ubuntu ;;\n'
        ' *) default_mirror http://127.0.0.1:3/ports ;;\nesac\nmirror_style release\n'
    )
    assert mirrors.from_debootstrap("ubuntu", "resolute", "amd64", tmp_path) == "http://127.0.0.1:2/ubuntu"
    assert mirrors.from_debootstrap("ubuntu", "noble", "arm64", tmp_path) == "http://127.0.0.1:3/ports"


def test_configured_mirror_wins(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={"KRONOS_MIRROR_UBUNTU": "http://127.0.0.1:4/u"})
    assert mirrors.resolve(s.archives["ubuntu"], "noble", "amd64") == "http://127.0.0.1:4/u"


def test_sources_lines_and_snapshot(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    noble = s.target("noble")
    assert sources_lines("M", noble, (noble.suite, *noble.pockets)) == [
        "deb M noble main universe", "deb M noble-updates main universe", "deb M noble-security main universe"]
    assert 'Acquire::Check-Valid-Until "false"' in apt_options(True)
    assert 'Acquire::Check-Valid-Until "false"' not in apt_options(False)
