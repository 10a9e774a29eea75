"""Readiness: can this process serve logins? The database and a signing key are required; a directory
that cannot be reached is reported but does not take the process out of rotation, because SSO sessions,
token refresh and local accounts still work without it, and every process would fail alike anyway."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.db import Database, now
from app.directory.ldap import DirectoryUnavailable
from app.directory.sources import DirectorySources
from app.store.keys import KeyStore


def readiness(db: Database, keys: KeyStore, sources: DirectorySources,
              algorithms: set[str]) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ready = True
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
            names = sources.names(s)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means not ready
        return False, {"status": "unavailable", "checks": {"database": f"error: {type(exc).__name__}"}}
    try:
        ring = keys.ring()
        missing = []
        for alg in algorithms:
            try:
                ring.signer(alg, now())
            except LookupError:
                missing.append(alg)
        checks["signing_keys"] = "ok" if not missing else f"no active key for {', '.join(missing)}"
        ready = ready and not missing
    except Exception as exc:  # noqa: BLE001 - a key that cannot be opened (wrong master key) is not ready
        checks["signing_keys"] = f"error: {type(exc).__name__}"
        ready = False
    directories: dict[str, str] = {}  # name -> ok / unreachable
    for name in names:
        try:
            with db.session() as s:
                sources.client(s, name).service()
            directories[name] = "ok"
        except DirectoryUnavailable:
            directories[name] = "unreachable"
    if directories:
        checks["directories"] = directories
    degraded = any(v != "ok" for v in directories.values())
    return ready, {"status": "ready" if ready and not degraded else ("degraded" if ready else "unavailable"),
                   "checks": checks}
