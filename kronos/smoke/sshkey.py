"""The run's ssh key pair (ed25519, no passphrase), made with ssh-keygen in the run's private directory.

dom0 learns the public key from its kernel command line (`kronos.ssh_key=<type>:<base64>`, read by a
unit the customize script installs), so the cached dom0 image never holds a key of a run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SmokeError
from ..run import run

CMDLINE_WORD = "kronos.ssh_key"
_PUBLIC = re.compile(r"^(ssh-ed25519) ([A-Za-z0-9+/]+=*)(?: .*)?$")


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: str  # "ssh-ed25519 AAAA..." (no comment)

    def cmdline_word(self) -> str:
        """The kernel command-line word that hands dom0 the public key (no spaces, no commas)."""
        kind, blob = self.public.split(" ", 1)
        return f"{CMDLINE_WORD}={kind}:{blob}"


def parse_public(line: str) -> str:
    m = _PUBLIC.match(line.strip())
    if m is None:
        raise SmokeError(f"ssh-keygen wrote an unexpected public key: {line.strip()[:60]!r}")
    return f"{m.group(1)} {m.group(2)}"


def make(directory: Path) -> KeyPair:
    """A new key pair in directory (which only its owner may read)."""
    private = directory / "id_ed25519"
    private.unlink(missing_ok=True)
    private.with_name("id_ed25519.pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kronos-smoke", "-f", private])
    public = parse_public(private.with_name("id_ed25519.pub").read_text())
    return KeyPair(private, public)
