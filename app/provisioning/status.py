"""What an operator sees of each target: running or paused by its circuit breaker, the queue, the budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import now
from app.provisioning.models import ConnectorInstance, ProvisioningTask, TargetHealth
from app.settings import Settings


@dataclass(frozen=True)
class TargetStatus:
    connector: str
    kind: str
    paused: bool
    paused_until: int | None
    failures: int
    last_error: str | None
    pending: int
    dead: int
    oldest_pending_age: int
    retry_budget_seconds: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def target_status(session: Session, settings: Settings) -> list[TargetStatus]:
    current = now()
    health = {h.connector: h for h in session.scalars(select(TargetHealth))}
    counts: dict[tuple[str, str], int] = {
        (name, status): n for name, status, n in session.execute(
            select(ProvisioningTask.connector, ProvisioningTask.status, func.count())
            .where(ProvisioningTask.status.in_(("pending", "dead")))
            .group_by(ProvisioningTask.connector, ProvisioningTask.status))}
    oldest = dict(session.execute(select(ProvisioningTask.connector, func.min(ProvisioningTask.created_at))
                                  .where(ProvisioningTask.status == "pending")
                                  .group_by(ProvisioningTask.connector)).all())
    out = []
    for instance in session.scalars(select(ConnectorInstance).order_by(ConnectorInstance.name)):
        h = health.get(instance.name)
        paused = bool(h and h.paused_until > current)
        out.append(TargetStatus(
            connector=instance.name, kind=instance.kind, paused=paused,
            paused_until=h.paused_until if h and paused else None, failures=h.failures if h else 0,
            last_error=h.last_error if h and h.failures else None,
            pending=counts.get((instance.name, "pending"), 0), dead=counts.get((instance.name, "dead"), 0),
            oldest_pending_age=current - oldest[instance.name] if instance.name in oldest else 0,
            retry_budget_seconds=int(settings.provisioning_retry_hours * 3600)))
    return out
