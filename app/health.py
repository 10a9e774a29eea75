"""Readiness: can this process serve logins? The database and a signing key are required; a directory
that cannot be reached is reported but does not take the process out of rotation, because SSO sessions,
token refresh and local accounts still work without it, and every process would fail alike anyway."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.broker import Broker
from app.db import now
from app.directory.ldap import DirectoryUnavailable


def readiness(broker: Broker) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ready = True
    try:
        with broker.db.session() as s:
            s.execute(text("SELECT 1"))
            names = broker.directories.names(s)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means not ready
        return False, {"status": "unavailable", "checks": {"database": f"error: {type(exc).__name__}"}}
    try:
        ring = broker.keys.ring()
        missing = []
        for alg in {broker.settings.access_token_alg, broker.settings.id_token_alg}:
            try:
                ring.signer(alg, now())
            except LookupError:
                missing.append(alg)
        checks["signing_keys"] = "ok" if not missing else f"no active key for {', '.join(missing)}"
        ready = ready and not missing
    except Exception as exc:  # noqa: BLE001 - a key that cannot be opened (wrong master key) is not ready
        checks["signing_keys"] = f"error: {type(exc).__name__}"
        ready = False
    directories: dict[str, str] = {}
    for name in names:
        try:
            with broker.db.session() as s:
                broker.directories.client(s, name).service()
            directories[name] = "ok"
        except DirectoryUnavailable:
            directories[name] = "unreachable"
    if directories:
        checks["directories"] = directories
    degraded = any(v != "ok" for v in directories.values())
    return ready, {"status": "ready" if ready and not degraded else ("degraded" if ready else "unavailable"),
                   "checks": checks}
