"""Readiness: can this process serve logins? The database and a signing key are required; a directory
that cannot be reached is reported but does not take the process out of rotation, because SSO sessions,
token refresh and local accounts still work without it, and every process would fail alike anyway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from app.db import Database, now
from app.directory.ldap import DirectoryUnavailable
from app.directory.sources import DirectorySources
from app.identity.models import DirectorySource
from app.provisioning.models import ProvisioningTask, TargetHealth
from app.store.keys import KeyStore
from app.store.models import SsoSession


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


class DatabaseGauges(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:

        depth = GaugeMetricFamily("sso_provisioning_queue_depth", "Provisioning tasks by status", labels=["status"])
        age = GaugeMetricFamily("sso_provisioning_oldest_pending_age_seconds", "Age of the oldest pending task")
        dead = GaugeMetricFamily("sso_provisioning_dead_letters", "Tasks that exhausted their retries")
        lag = GaugeMetricFamily("sso_directory_sync_lag_seconds", "Seconds since the last completed sync",
                                labels=["source"])
        sessions = GaugeMetricFamily("sso_active_sessions", "SSO sessions not ended nor expired")
        paused = GaugeMetricFamily("sso_provisioning_target_paused", "1 while a target's circuit breaker is open",
                                   labels=["connector"])
        failures = GaugeMetricFamily("sso_provisioning_target_failures", "A target's failures in a row",
                                     labels=["connector"])
        current = now()
        with self.db.session() as s:
            counts = dict(s.execute(select(ProvisioningTask.status, func.count())
                                    .group_by(ProvisioningTask.status)).all())
            oldest = s.scalar(select(func.min(ProvisioningTask.created_at))
                              .where(ProvisioningTask.status == "pending"))
            sources = s.execute(select(DirectorySource.name, DirectorySource.last_sync_at)).all()
            active = s.scalar(select(func.count()).select_from(SsoSession).where(
                SsoSession.ended_at.is_(None), SsoSession.expires_at > current)) or 0
            health = s.execute(select(TargetHealth.connector, TargetHealth.paused_until, TargetHealth.failures)).all()
        for status in ("pending", "done", "dead"):
            depth.add_metric([status], counts.get(status, 0))
        age.add_metric([], max(0, current - oldest) if oldest else 0)
        dead.add_metric([], counts.get("dead", 0))
        for name, last in sources:
            lag.add_metric([name], current - last if last else float("nan"))
        sessions.add_metric([], active)
        for name, until, count in health:
            paused.add_metric([name], 1 if until > current else 0)
            failures.add_metric([name], count)
        yield from (depth, age, dead, lag, sessions, paused, failures)
