"""The nightly's notification: a JSON POST to [nightly] webhook when a package's state changed (newly
failing, fixed), signed with HMAC-SHA256 of the body under the secret in [nightly] webhook_secret_env
(header X-Kronos-Signature: sha256=<hex>). A webhook that cannot be reached is a warning in the report,
never a failed night."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

HEADER = "X-Kronos-Signature"
TIMEOUT = 15.0


def payload(report: Mapping[str, Any]) -> dict[str, Any]:
    since = report["since_last_night"]
    return {"run": report["run"], "result": report["result"], "exit_code": report["exit_code"],
            "started": report["started"], "seconds": report["seconds"], "counts": report["counts"],
            "newly_failing": since["newly_failing"], "fixed": since["fixed"],
            "project": report["project"]}


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def notify(url: str, secret_env: str, report: Mapping[str, Any],
           env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """POST the summary when something changed state; what happened, for the report."""
    since = report["since_last_night"]
    if not url:
        return {"sent": False, "why": "no webhook configured"}
    if not (since["newly_failing"] or since["fixed"]):
        return {"sent": False, "why": "no package changed state"}
    env = os.environ if env is None else env
    body = json.dumps(payload(report), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "kronos-nightly"}
    secret = env.get(secret_env, "")
    if secret:
        headers[HEADER] = signature(secret.encode(), body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 (a configured URL)
            status = int(answer.status)
    except urllib.error.HTTPError as e:
        return {"sent": False, "why": f"warning: the webhook answered HTTP {e.code}", "status": e.code}
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        return {"sent": False, "why": f"warning: the webhook could not be reached: {reason}"}
    return {"sent": True, "why": "a package changed state", "status": status,
            "signed": bool(secret)}
