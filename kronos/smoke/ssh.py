"""ssh into the throwaway dom0 with paramiko: only the run's key, no agent, no ~/.ssh, no host-key
check (the VM and its host key live for one run)."""

from __future__ import annotations

import contextlib
import functools
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from ..errors import SmokeError
from ..log import log
from .vm import HOST

USER = "root"


@dataclass(frozen=True)
class Result:
    command: str
    status: int
    stdout: str
    stderr: str


class _Accept(paramiko.MissingHostKeyPolicy):
    """Accept the VM's host key without recording it anywhere."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


def connect(port: int, private_key: Path, timeout: float = 30.0) -> paramiko.SSHClient:
    """A client connected to dom0 that offered the server the run's key and nothing else: paramiko's search
    of ~/.ssh (look_for_keys) and the ssh agent (allow_agent) are off. The caller closes it."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_Accept())
    try:
        client.connect(HOST, port=port, username=USER, key_filename=str(private_key), look_for_keys=False,
                       allow_agent=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
    except (paramiko.SSHException, OSError) as e:
        client.close()
        raise SmokeError(f"ssh {USER}@{HOST}:{port} failed: {e}") from None
    return client


@contextlib.contextmanager
def session(port: int, private_key: Path, timeout: float = 30.0) -> Iterator[paramiko.SSHClient]:
    """A connected client for the block (see connect()), closed afterwards."""
    client = connect(port, private_key, timeout)
    try:
        yield client
    finally:
        client.close()


def testinfra_host(port: int, private_key: Path) -> Any:
    """A testinfra host over paramiko whose connection is connect()'s: testinfra's own paramiko backend
    would search ~/.ssh and ask the agent (it ignores IdentitiesOnly), so its client is replaced. A
    reconnect (testinfra drops the client when the transport died) goes through connect() again."""
    from testinfra.backend.paramiko import ParamikoBackend
    from testinfra.host import Host

    class _RunKeyOnly(ParamikoBackend):  # type: ignore[misc]
        @functools.cached_property
        def client(self) -> paramiko.SSHClient:
            return connect(port, private_key)

    return Host(_RunKeyOnly(f"paramiko://{USER}@{HOST}:{port}"))


def run(client: paramiko.SSHClient, argv: list[str], timeout: float = 60.0, check: bool = True) -> Result:
    """Run argv in dom0 under coreutils' `timeout` (so nothing hangs the run); check: a non-zero status is
    one SmokeError line with the last line of its output."""
    command = shlex.join(["timeout", "--kill-after=5", f"{timeout:g}", *argv])
    log.info("  ssh+ %s", command)
    try:
        _, out, err = client.exec_command(command, timeout=timeout + 10)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        status = out.channel.recv_exit_status()
    except (paramiko.SSHException, OSError, TimeoutError) as e:
        raise SmokeError(f"in dom0: {shlex.join(argv)}: ssh failed: {e}") from None
    result = Result(command, status, stdout, stderr)
    if check and status != 0:
        lines = [ln for ln in (stderr + stdout).splitlines() if ln.strip()]
        detail = f": {lines[-1].strip()}" if lines else ""
        what = "timed out" if status == 124 else f"failed with exit code {status}"
        raise SmokeError(f"in dom0: {shlex.join(argv)} {what}{detail}")
    return result
