"""Reconcile: compare what a target holds with what the identity store wants; report, and fix on request.

Missing and drifted accounts are fixed by the engine's usual tasks (so the fix is as safe to repeat as any
other change); orphaned accounts, which no official of ours holds, are only reported: deleting another
system's data is an admin's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db import now
from app.identity.models import Official
from app.provisioning.engine import ProvisioningEngine
from app.provisioning.models import AccountLink, ConnectorInstance, ProvisioningTask
from connectors.base import Account


@dataclass
class ReconcileReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    should_be_disabled: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    tasks_queued: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def reconcile(engine: ProvisioningEngine, session: Session, name: str, fix: bool = False) -> ReconcileReport:
    instance = session.get(ConnectorInstance, name)
    if instance is None:
        raise ValueError(f"no connector instance named {name!r}")
    connector = engine.connector(instance)
    held = {account.key: account for account in connector.list()}
    links = {link.official_id: link for link in
             session.scalars(select(AccountLink).where(AccountLink.connector == name))}
    ours = {link.key for link in links.values()}
    report = ReconcileReport(orphaned=sorted(key for key in held if key not in ours))
    to_fix: list[str] = []
    for official in session.scalars(select(Official)):
        report.checked += 1
        link = links.get(official.id)
        wanted = official.enabled and engine.assigned(session, instance, official)
        account = held.get(link.key) if link else None
        if wanted and (link is None or account is None):
            report.missing.append(link.key if link else official.username)
            if link is not None:
                link.target_id, link.digest = None, None  # gone from the target: create or adopt again
            to_fix.append(official.id)
        elif wanted and account is not None:
            desired = connector.as_held(Account(key=account.key, attributes=engine.attributes(
                session, instance, official))).attributes
            if not account.enabled or any(str(account.attributes.get(k) or "") != str(v or "")
                                          for k, v in desired.items()):
                report.drifted.append(account.key)
                assert link is not None
                link.digest = None  # written again at the next pass
                to_fix.append(official.id)
        elif not wanted and account is not None and account.enabled and link is not None:
            report.should_be_disabled.append(account.key)
            link.state = "active"
            to_fix.append(official.id)
    if fix and to_fix:
        session.execute(insert(ProvisioningTask), [
            {"official_id": oid, "connector": name, "status": "pending", "attempts": 0, "next_attempt_at": now(),
             "created_at": now(), "updated_at": now()} for oid in to_fix])
        report.tasks_queued = len(to_fix)
    elif not fix:
        session.rollback()  # a report only: the link resets above are not kept
    return report
