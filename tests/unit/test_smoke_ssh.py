"""Which keys the smoke stage offers dom0: only the run's. A real ssh server (paramiko's server side, on
127.0.0.1, in a thread) records every key a client offers; the user's own key sits in a fake HOME/.ssh
and an ssh-agent (SSH_AUTH_SOCK) holds another one: neither may be offered, by kronos's own client or by
the testinfra host the checks use (whose paramiko backend, left alone, searches ~/.ssh)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from kronos.errors import SmokeError
from kronos.smoke import checks, ssh, sshkey

from .test_smoke_checks import context


class Recorder(paramiko.ServerInterface):
    """Records each key offered; accepts only `accept` (None: none), answers exec with "ran <command>"."""

    def __init__(self, accept: str | None) -> None:
        self.accept = accept
        self.offered: list[str] = []
        self.commands: list[str] = []
        self.exec = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        offered = f"{key.get_name()} {key.get_base64()}"
        self.offered.append(offered)
        return paramiko.AUTH_SUCCESSFUL if offered == self.accept else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.commands.append(command.decode())
        self.exec.set()
        return True


@contextlib.contextmanager
def server(accept: str | None) -> Iterator[tuple[int, Recorder]]:
    """An ssh server on 127.0.0.1 for the block, any number of connections; its port and its recorder."""
    recorder = Recorder(accept)
    host_key = paramiko.ECDSAKey.generate()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    done = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, paramiko.Transport(conn) as transport:
            transport.add_server_key(host_key)
            transport.start_server(server=recorder)
            channel = transport.accept(10)
            if channel is None or not recorder.exec.wait(10):
                return
            channel.sendall(f"ran {recorder.commands[-1]}\n".encode())
            channel.send_exit_status(0)
            channel.close()
            while transport.is_active() and not done.is_set():
                done.wait(0.1)

    def accept_loop() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], recorder
    finally:
        done.set()
        thread.join()
        listener.close()


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[sshkey.KeyPair, set[str]]]:
    """The run's key pair, and the public keys that must never be offered: the user's in HOME/.ssh and an
    ssh-agent's (running, SSH_AUTH_SOCK set)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (run_dir := tmp_path / "run").mkdir(mode=0o700)
    run_key = sshkey.make(run_dir)
    users = sshkey.make(home / ".ssh")  # ~/.ssh/id_ed25519, which paramiko's key search would find
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir(mode=0o700)
    agents = sshkey.make(agent_dir)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(agents.private)], env={"SSH_AUTH_SOCK": str(sock)}, check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield run_key, {users.public, agents.public}
    finally:
        agent.terminate()
        agent.wait()


def test_kronos_offers_only_the_run_key(keys: tuple[sshkey.KeyPair, set[str]]) -> None:
    run_key, others = keys
    with server(accept=None) as (port, recorder), pytest.raises(SmokeError, match=r"failed: Authentication failed"):
        ssh.connect(port, run_key.private, timeout=10)
    assert set(recorder.offered) == {run_key.public}, "a key other than the run's was offered"
    with server(accept=run_key.public) as (port, recorder), ssh.session(port, run_key.private) as client:
        assert ssh.run(client, ["true"]).stdout == "ran timeout --kill-after=5 60 true\n"
    assert not set(recorder.offered) & others


def test_the_checks_testinfra_host_offers_only_the_run_key(keys: tuple[sshkey.KeyPair, set[str]]) -> None:
    """testinfra's paramiko backend connects with paramiko's defaults (key search and agent on) whatever
    the ssh_config says: the host the checks get must offer the run's key alone."""
    run_key, others = keys
    with server(accept=None) as (port, recorder):
        host = ssh.testinfra_host(port, run_key.private)
        with pytest.raises(SmokeError, match=r"Authentication failed"):
            host.run("true")
    assert set(recorder.offered) == {run_key.public}, "a key other than the run's was offered"
    with server(accept=run_key.public) as (port, recorder):
        result = ssh.testinfra_host(port, run_key.private).run("echo %s", "hi")
        assert (result.rc, result.stdout) == (0, "ran echo hi\n")
    assert not set(recorder.offered) & others


def test_the_checks_process_offers_only_the_run_key(keys: tuple[sshkey.KeyPair, set[str]], tmp_path: Path) -> None:
    """The whole path: checks.run's child process, the `dom0` fixture, a command in dom0."""
    run_key, others = keys
    stand_in = tmp_path / "checks_stand_in.py"
    stand_in.write_text("def test_runs_in_dom0(dom0):\n    assert dom0.run('uname').stdout == 'ran uname\\n'\n")
    with server(accept=None) as (port, recorder):
        code, _ = checks.run(context(run_key.private.parent, port, run_key.private), "smoke of bookworm", 60,
                             stand_in)
    assert code == pytest.ExitCode.TESTS_FAILED
    assert set(recorder.offered) == {run_key.public}, "a key other than the run's was offered"
    with server(accept=run_key.public) as (port, recorder):
        code, _ = checks.run(context(run_key.private.parent, port, run_key.private), "smoke of bookworm", 60,
                             stand_in)
    assert code == pytest.ExitCode.OK
    assert recorder.commands == ["uname"] and not set(recorder.offered) & others
