"""Valid-Until is enforced unless the archive is a frozen snapshot mirror, and by default that is the
machine's own apt policy: real apt-config, with APT_CONFIG naming a small file each test writes.
kronos.toml and KRONOS_SNAPSHOT_<ARCHIVE> override it; the archive reader and the images follow the
one resolved setting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kronos.archive.access import Archives
from kronos.cache import Cache
from kronos.config import load_settings
from kronos.errors import ConfigError, VerifyError
from kronos.images import apt_options, image_key
from tests.integration.archive_fixture import serve

from .release_keys import DAY, NOW, Keys, release_text

SUITE = "kronostest"
SIGNER = "Snapshot Signer <snapshot@example.invalid>"
NO_CHECK = 'Acquire::Check-Valid-Until "false"'


def apt_conf(tmp_path: Path, *lines: str) -> str:
    """An APT_CONFIG file that reads no other configuration than `lines`."""
    d = Path(tmp_path) / f"apt{len(list(Path(tmp_path).glob('apt*')))}"
    (d / "parts").mkdir(parents=True)
    conf = d / "apt.conf"
    conf.write_text("".join(f"{line};\n" for line in (
        f'Dir::Etc::Parts "{d / "parts"}"', f'Dir::Etc::Main "{d / "none"}"', *lines)))
    return str(conf)


@pytest.fixture
def confs(tmp_path: Path) -> tuple[str, str]:
    """(a machine whose apt says Check-Valid-Until false, a machine with apt's default)."""
    return apt_conf(tmp_path, NO_CHECK), apt_conf(tmp_path)


def test_auto_asks_the_machines_apt(tmp_path: Path, confs: tuple[str, str]) -> None:
    snapshot_host, enforcing_host = confs
    mirror = {"KRONOS_MIRROR_DEBIAN": "http://127.0.0.1:9/debian"}
    frozen = load_settings(tmp_path, env={"APT_CONFIG": snapshot_host, **mirror})
    plain = load_settings(tmp_path, env={"APT_CONFIG": enforcing_host, **mirror})
    for name in ("debian", "ubuntu"):
        assert frozen.archives[name].snapshot is True, name
        assert plain.archives[name].snapshot is False, name
    # the images follow the same setting: apt's option inside, and so the image's content key
    assert NO_CHECK in apt_options(frozen.archives["debian"].snapshot)
    assert NO_CHECK not in apt_options(plain.archives["debian"].snapshot)
    sid = frozen.target("sid")
    keys = {name: image_key(s, Archives(s, Cache(tmp_path / "cache")), sid)
            for name, s in (("frozen", frozen), ("plain", plain))}
    assert keys["frozen"] != keys["plain"]
    explicit = load_settings(tmp_path, env={"APT_CONFIG": enforcing_host, "KRONOS_SNAPSHOT_DEBIAN": "true", **mirror})
    assert image_key(explicit, Archives(explicit, Cache(tmp_path / "cache")), sid) == keys["frozen"]


def test_kronos_toml_and_environment_override_apt(tmp_path: Path, confs: tuple[str, str]) -> None:
    snapshot_host, enforcing_host = confs
    (tmp_path / "kronos.toml").write_text("[archives.debian]\nsnapshot = false\n")
    s = load_settings(tmp_path, env={"APT_CONFIG": snapshot_host})
    assert s.archives["debian"].snapshot is False and s.archives["ubuntu"].snapshot is True
    s = load_settings(tmp_path, env={"APT_CONFIG": snapshot_host, "KRONOS_SNAPSHOT_UBUNTU": "false"})
    assert s.archives["ubuntu"].snapshot is False
    s = load_settings(tmp_path, env={"APT_CONFIG": enforcing_host, "KRONOS_SNAPSHOT_DEBIAN": "true"})
    assert s.archives["debian"].snapshot is True  # the environment beats the file
    s = load_settings(tmp_path, env={"APT_CONFIG": snapshot_host, "KRONOS_SNAPSHOT_DEBIAN": "auto"})
    assert s.archives["debian"].snapshot is True  # back to the machine's policy
    (tmp_path / "kronos.toml").write_text("[archives.debian]\nsnapshot = true\n")
    s = load_settings(tmp_path, env={"APT_CONFIG": enforcing_host})
    assert s.archives["debian"].snapshot is True and s.archives["ubuntu"].snapshot is False


def test_bad_snapshot_values_are_one_line(tmp_path: Path, confs: tuple[str, str]) -> None:
    (tmp_path / "kronos.toml").write_text('[archives.debian]\nsnapshot = "sometimes"\n')
    with pytest.raises(ConfigError, match=r"kronos.toml: archives.debian.snapshot: 'sometimes' is not true"):
        load_settings(tmp_path, env={})
    (tmp_path / "kronos.toml").unlink()
    with pytest.raises(ConfigError, match="KRONOS_SNAPSHOT_DEBIAN: 'maybe' is not true, false or auto"):
        load_settings(tmp_path, env={"KRONOS_SNAPSHOT_DEBIAN": "maybe"})
    broken = tmp_path / "broken.conf"
    broken.write_text("Acquire::Check-Valid-Until {{\n")
    s = load_settings(tmp_path, env={"APT_CONFIG": str(broken)})
    with pytest.raises(ConfigError, match=f"APT_CONFIG={broken}") as e:
        _ = s.archives["debian"].snapshot
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def expired_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A mirror whose InRelease went past its Valid-Until a day ago (as frozen snapshots do)."""
    root = tmp_path_factory.mktemp("expired")
    keys = Keys()
    try:
        keys.new_key(SIGNER, created=NOW - 30 * DAY, expires="2y")
        text = release_text(SUITE, date=NOW - 8 * DAY, valid_until=NOW - DAY)
        keys.clearsign(text, root / "mirror" / "dists" / SUITE / "InRelease", [SIGNER])
        keyring = keys.export(root / "keyring.gpg")
    finally:
        keys.close()
    with serve(root / "mirror") as url:
        yield url, keyring


@pytest.mark.parametrize("host", ["enforcing", "snapshot"])
def test_expired_inrelease_follows_the_policy(
    tmp_path: Path, confs: tuple[str, str], expired_mirror: tuple[str, Path], host: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KRONOS_NOW", raising=False)
    url, keyring = expired_mirror
    (tmp_path / "kronos.toml").write_text(
        f'[archives.frozen]\nfamily = "debian"\nmirror = "{url}"\nkeyring = "{keyring}"\n')
    apt = confs[0] if host == "snapshot" else confs[1]
    s = load_settings(tmp_path, env={"APT_CONFIG": apt})
    archives = Archives(s, Cache(tmp_path / "cache"))
    if host == "snapshot":
        assert archives.release(s.archives["frozen"], SUITE).release["Suite"] == SUITE
        return
    with pytest.raises(VerifyError) as e:
        archives.release(s.archives["frozen"], SUITE)
    assert str(e.value).startswith(f"{SUITE} InRelease from {url}: expired on ")
    assert "\n" not in str(e.value)
