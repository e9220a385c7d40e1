"""The published repository of the session's builds, used by real apt in a clean container of each target."""

from __future__ import annotations

import pytest

from .conftest import TARGETS, Session
from .published_repo import Published, client, warnings_or_errors

pytestmark = pytest.mark.integration


def test_publish_prints_what_a_user_needs(published: Published) -> None:
    assert "install -m 0644" in published.output
    assert "kronos-archive-keyring.pgp /usr/share/keyrings/" in published.output
    assert "/etc/apt/sources.list.d/" in published.output
    assert (published.path / "kronos.sources").read_text().count("Signed-By:") == 1


@pytest.mark.parametrize("target", TARGETS)
def test_apt_update_is_clean_and_installs_from_the_repo(session: Session, published: Published, target: str) -> None:
    published.requests.clear()
    code, log = client(session, target, published, (
        # no pipe: under `set -e` the script stops with apt-get's own exit status
        "apt-get $ONLY update --error-on=any 2>&1\n"
        "echo ==BYHASH==\n"
        "rm -rf /var/lib/apt/lists/*\n"
        "apt-get $ONLY -o Acquire::By-Hash=force update --error-on=any 2>&1\n"
        "echo ==INSTALL==\n"
        "cat /kronos/client/kronos.sources > /etc/apt/sources.list.d/kronos.sources\n"
        "apt-get update -q >/dev/null\n"
        "apt-get install -y -q --no-install-recommends python3-xenapi\n"
        "python3 -c 'import XenAPI; print(\"IMPORT-OK\", XenAPI.__file__)'\n"
        "dpkg-query -W -f='INSTALLED ${Version}\\n' python3-xenapi\n"
        "apt-get $ONLY source --download-only python-xenapi >/dev/null && echo SOURCE-OK\n"
    ))
    assert code == 0, log[-4000:]
    update_part = log.split("==INSTALL==")[0]
    assert warnings_or_errors(update_part) == [], update_part[-3000:]
    byhash = [r for r in published.requests if r.startswith(f"/dists/{target}/main/binary-amd64/by-hash/SHA512/")]
    assert byhash, published.requests
    assert "IMPORT-OK" in log and "SOURCE-OK" in log
    version = next(ln.split()[1] for ln in log.splitlines() if ln.startswith("INSTALLED "))
    d = session.out / target / "python3-xenapi"
    assert (d / f"python3-xenapi_{version}_all.deb").exists()


def test_dh_ocaml_installs_from_the_repo_on_bookworm(session: Session, published: Published) -> None:
    code, log = client(session, "bookworm", published, (
        "cat /kronos/client/kronos.sources > /etc/apt/sources.list.d/kronos.sources\n"
        "apt-get update -q --error-on=any\n"
        "apt-get install -y -q --no-install-recommends dh-ocaml\n"
        "dpkg-query -W -f='INSTALLED ${Version}\\n' dh-ocaml quickjs\n"
    ))
    assert code == 0, log[-3000:]
    assert "INSTALLED 3.8~bpo12+" in log and "INSTALLED 2025.04.26-1~bpo12+" in log
