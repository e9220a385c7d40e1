"""The published repository of the session's builds (served on 127.0.0.1) and clean client
containers of each target that know it by `.sources` + `Signed-By`, for the tests that install from it."""

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

from kronos.engine import ContainerSpec

from .conftest import TARGETS, Session, kronos


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


def serve_published(session: Session) -> Iterator[Published]:
    """Publish the session's outputs for every target and serve the repository."""
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
