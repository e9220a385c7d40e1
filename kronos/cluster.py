"""[dask] of kronos.toml: where the scheduler is and the certificates that reach it.

Dask workers run what their scheduler sends, so any address other than loopback needs mutual TLS: a CA
that signed every party's certificate, and this party's certificate and key (README, "Building on more
machines"). The environment overrides each key: KRONOS_SCHEDULER, KRONOS_TLS_CA, KRONOS_TLS_CERT,
KRONOS_TLS_KEY."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError
from .tomlcheck import Table

ENV = {"scheduler": "KRONOS_SCHEDULER", "tls_ca": "KRONOS_TLS_CA", "tls_cert": "KRONOS_TLS_CERT",
       "tls_key": "KRONOS_TLS_KEY"}


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class DaskSettings:
    scheduler: str = ""  # tcp://host:port or tls://host:port; "" when none is configured
    tls: Tls | None = None


def env_layer(env: Mapping[str, str]) -> dict[str, str]:
    return {field: env[var] for field, var in ENV.items() if env.get(var)}


def load_dask(t: Table, root: Path) -> DaskSettings:
    scheduler = t.text("scheduler", "")
    paths = {k: t.text(k, "") for k in ("tls_ca", "tls_cert", "tls_key")}
    t.done()
    given = [k for k, v in paths.items() if v]
    if given and len(given) != 3:
        missing = ", ".join(f"dask.{k}" for k, v in paths.items() if not v)
        raise ConfigError(f"{t.file}: TLS needs dask.tls_ca, dask.tls_cert and dask.tls_key; missing {missing}")
    tls = Tls(*(root / paths[k] for k in ("tls_ca", "tls_cert", "tls_key"))) if given else None
    return DaskSettings(scheduler, tls)


def is_loopback(address: str) -> bool:
    """Whether a Dask address (tcp://host:port, tls://host:port, or host:port) names this machine's
    loopback only: 127.0.0.0/8, ::1 or a name that resolves to nothing else."""
    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in found)


def require_tls(address: str, tls: Tls | None, who: str) -> None:
    """Refuse a scheduler address that is not loopback unless mutual TLS is configured (and used)."""
    if not address:
        raise ConfigError(f"{who}: no Dask scheduler: give --scheduler, KRONOS_SCHEDULER or dask.scheduler")
    scheme = urlsplit(address).scheme if "://" in address else "tcp"
    if scheme not in ("tcp", "tls"):
        raise ConfigError(f"{who}: scheduler {address}: only tcp:// (loopback) and tls:// are supported")
    if is_loopback(address):
        if scheme == "tls" and tls is None:
            raise ConfigError(f"{who}: scheduler {address} is tls:// but no certificates are configured"
                              " (dask.tls_ca, dask.tls_cert, dask.tls_key)")
        return
    if scheme != "tls" or tls is None:
        raise ConfigError(f"{who}: refusing scheduler {address} without mutual TLS: a Dask worker runs what its"
                          " scheduler sends; use tls:// with --tls-ca, --tls-cert and --tls-key (README,"
                          " \"Building on more machines\")")
    for name, path in (("CA", tls.ca), ("certificate", tls.cert), ("key", tls.key)):
        if not path.is_file():
            raise ConfigError(f"{who}: TLS {name} {path} does not exist")
