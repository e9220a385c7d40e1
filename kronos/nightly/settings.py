"""kronos.toml [nightly] -> NightlySettings (README, "The nightly").

    [nightly]
    retries = 2              # attempts more for a job that failed for the infrastructure (engine,
                             # network, disk, timeout); a package's own failure is never retried
    keep_nights = 30         # night records kept under out/nightly (older ones are removed)
    smoke = ["bookworm", "noble"]  # targets whose staging suite is booted (kronos smoke) before promotion
    webhook = ""             # a URL that gets a JSON POST when a package's state changed
    webhook_secret_env = "KRONOS_WEBHOOK_SECRET"  # the HMAC-SHA256 key's variable (X-Kronos-Signature)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ConfigError
from ..tomlcheck import Table


@dataclass(frozen=True)
class NightlySettings:
    retries: int = 2
    keep_nights: int = 30
    smoke: tuple[str, ...] = ("bookworm", "noble")
    webhook: str = ""
    webhook_secret_env: str = "KRONOS_WEBHOOK_SECRET"


def load_nightly(t: Table, targets: Mapping[str, object]) -> NightlySettings:
    where = f"{t.file}: nightly"
    retries = t.number("retries", 2)
    keep = t.number("keep_nights", 30)
    smoke = t.strings("smoke", ("bookworm", "noble"))
    webhook = t.text("webhook", "")
    secret = t.text("webhook_secret_env", "KRONOS_WEBHOOK_SECRET")
    t.done()
    if not 0 <= retries <= 10:
        raise ConfigError(f"{where}.retries: {retries} must be between 0 and 10")
    if keep < 1:
        raise ConfigError(f"{where}.keep_nights: {keep} must be at least 1")
    for name in smoke:
        if name not in targets:
            raise ConfigError(f"{where}.smoke: unknown target '{name}'")
    if webhook and not webhook.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.webhook: '{webhook}' is not an http(s) URL")
    return NightlySettings(retries, keep, smoke, webhook, secret)
