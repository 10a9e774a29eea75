"""Recording, verifying, searching and exporting the audit trail."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent, AuditHead
from app.db import Database, locked_row, now

GENESIS = "0" * 64
FIELDS = ("seq", "at", "action", "outcome", "actor", "actor_kind", "unit_id", "target", "address", "details")


@dataclass(frozen=True)
class Actor:
    id: str
    kind: str = "official"  # official, client, system, anonymous
    address: str | None = None
    unit_id: str | None = None


SYSTEM = Actor("system", "system")


def _chain(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(session: Session, action: str, actor: Actor, *, outcome: str = "ok", unit_id: str | None = None,
           target: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction: it exists exactly when the change it tells of does."""
    head = _locked_head(session)
    seq = head.seq + 1
    fields: dict[str, Any] = {"seq": seq, "at": now(), "action": action, "outcome": outcome, "actor": actor.id[:200],
              "actor_kind": actor.kind, "unit_id": unit_id or actor.unit_id, "target": (target or None) and
              target[:200], "address": actor.address, "details": details or {}}
    digest = _chain(head.hash, fields)
    session.add(AuditEvent(**fields, prev_hash=head.hash, hash=digest))
    head.seq, head.hash = seq, digest


def _locked_head(session: Session) -> AuditHead:
    """The chain's head, locked once per transaction: the events of a batch extend it under one lock. Not kept
    across a savepoint, whose rollback would release a lock taken inside it."""
    transaction = session.get_transaction()
    held = session.info.get("audit_head")
    if held is not None and held[0] is transaction:
        return held[1]  # type: ignore[no-any-return]
    head = locked_row(session, AuditHead, 1, lambda: AuditHead(id=1, seq=0, hash=GENESIS))
    if not session.in_nested_transaction():
        session.info["audit_head"] = (transaction, head)
    return head


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    problem: str = ""


def verify(db: Database, progress: Callable[[int], None] = lambda _: None, batch: int = 5000) -> Verification:
    """Walk the chain from the start; the first event whose hash or link does not match is named."""
    prev, expected_seq, checked = GENESIS, 1, 0
    with db.session() as s:
        head = s.get(AuditHead, 1)
        while True:
            rows = s.scalars(select(AuditEvent).where(AuditEvent.seq >= expected_seq)
                             .order_by(AuditEvent.seq).limit(batch)).all()
            for row in rows:
                if row.seq != expected_seq:
                    return Verification(False, checked, f"event {expected_seq} is missing")
                fields = {name: getattr(row, name) for name in FIELDS}
                if row.prev_hash != prev or _chain(prev, fields) != row.hash:
                    return Verification(False, checked, f"event {row.seq} ({row.action}) was altered")
                prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
            progress(checked)
            if len(rows) < batch:
                break
        if head is not None and (head.seq != checked or head.hash != prev):
            return Verification(False, checked, f"the chain ends at event {checked} but its head says {head.seq}: "
                                                "the newest events were removed")
    return Verification(True, checked)


@dataclass(frozen=True)
class AuditQuery:
    action: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: int | None = None
    until: int | None = None
    unit_ids: frozenset[str] | None = None  # None: every unit (and events without one)
    limit: int = 100
    before_seq: int | None = None


def search(session: Session, query: AuditQuery) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(query.limit)
    if query.action:
        stmt = stmt.where(AuditEvent.action.startswith(query.action))
    if query.actor:
        stmt = stmt.where(AuditEvent.actor == query.actor)
    if query.outcome:
        stmt = stmt.where(AuditEvent.outcome == query.outcome)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEvent.at < query.until)
    if query.before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < query.before_seq)
    if query.unit_ids is not None:
        stmt = stmt.where(AuditEvent.unit_id.in_(query.unit_ids))
    return list(session.scalars(stmt).all())


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {**{name: getattr(event, name) for name in FIELDS}, "hash": event.hash}


def export_csv(events: list[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*FIELDS, "hash"])
    for event in events:
        row = as_dict(event)
        row["details"] = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow([row[name] for name in (*FIELDS, "hash")])
    yield buffer.getvalue()
