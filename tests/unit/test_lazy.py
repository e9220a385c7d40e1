"""kronos.lazy.without: an optional dependency held back while a module is imported."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest


def test_held_back_while_importing_then_importable_again() -> None:
    from kronos.lazy import without

    with without("json"):  # already imported: nothing changes
        assert importlib.import_module("json") is sys.modules["json"]
    with without("email.mime.audio"), pytest.raises(ImportError):
        importlib.import_module("email.mime.audio")
    assert "email.mime.audio" not in sys.modules or sys.modules["email.mime.audio"] is not None
    assert importlib.import_module("email.mime.audio").MIMEAudio is not None


@pytest.mark.parametrize("host", ["unix:///nonexistent.sock", "ssh://nobody@127.0.0.1:9"])
def test_the_engine_needs_paramiko_for_an_ssh_engine_only(host: str) -> None:
    """In a fresh interpreter: get_engine() (its engine unreachable) imports the docker SDK without
    paramiko unless the engine is ssh://, and a later `import paramiko` (testinfra's) loads it."""
    code = textwrap.dedent("""
        import sys
        from kronos.engine import get_engine
        from kronos.errors import EngineError
        try:
            get_engine()
        except EngineError as e:
            print("error:", e, file=sys.stderr)
        print("paramiko" in sys.modules)
        import paramiko
        print(paramiko.SSHClient.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "DOCKER_HOST": host})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(host.startswith("ssh://")), "SSHClient"], out.stdout + out.stderr
