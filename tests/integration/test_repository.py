"""The published repository of the session's builds, used by real apt in a clean container of each target."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kronos.engine import ContainerSpec

from .conftest import TARGETS, Session, kronos

pytestmark = pytest.mark.integration


@dataclass
class Published:
    path: Path
    url: str
    output: str
    requests: list[str]


REQUESTS: list[str] = []


class _Recording(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        REQUESTS.append(self.path)


@pytest.fixture(scope="module")
def published(session: Session) -> Iterator[Published]:
    work = Path(tempfile.mkdtemp(prefix="kr"))
    home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))
    env = dict(session.env, KRONOS_REPO_PATH=str(work / "repo"), KRONOS_GNUPGHOME=str(home),
               KRONOS_SIGNING_PASSPHRASE="")
    env.pop("KRONOS_SIGNING_KEYS", None)
    result = kronos("publish", *(a for t in TARGETS for a in ("--target", t)), env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    handler = functools.partial(_Recording, directory=str(work / "repo"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Published(work / "repo", f"http://127.0.0.1:{server.server_address[1]}", result.stdout, REQUESTS)
    finally:
        server.shutdown()
        subprocess.run(["gpgconf", "--kill", "all"], env=dict(env, GNUPGHOME=str(home)), check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def client(session: Session, target: str, repo: Published, script: str) -> tuple[int, str]:
    """Run script in a clean container of target that knows the repository by .sources + Signed-By."""
    with tempfile.TemporaryDirectory(prefix="kt-") as tmp:
        d = Path(tmp) / "client"
        d.mkdir()
        shutil.copyfile(repo.path / "kronos-archive-keyring.pgp", d / "kronos-archive-keyring.pgp")
        (d / "kronos.sources").write_text(
            f"Types: deb deb-src\nURIs: {repo.url}\nSuites: {target}\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/kronos-archive-keyring.pgp\n"
        )
        (d / "test.sh").write_text(
            "set -eux\ncp /kronos/client/kronos-archive-keyring.pgp /usr/share/keyrings/\n"
            "mkdir -p /tmp/only && cp /kronos/client/kronos.sources /tmp/only/\n"
            "ONLY='-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/only'\n" + script
        )
        log = Path(tmp) / "log"
        spec = ContainerSpec(image=session.images[target].ref, command=("/bin/sh", "/kronos/client/test.sh"),
                             network="host")
        with session.engine.container(spec) as c:
            c.put(d, "/kronos")
            code = c.run(log)
        return code, log.read_text(errors="replace")


def warnings_or_errors(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if ln.startswith(("W:", "E:"))]


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
