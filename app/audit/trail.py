"""Recording, verifying, searching and exporting the audit trail."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent, AuditHead
from app.db import Database, insert_once, now
from app.store.driver_sql import DriverStatement

GENESIS = "0" * 64
FIELDS = ("seq", "at", "action", "outcome", "actor", "actor_kind", "unit_id", "target", "address", "details")


@dataclass(frozen=True)
class Actor:
    id: str
    kind: str = "official"  # official, client, system, anonymous
    address: str | None = None
    unit_id: str | None = None


SYSTEM = Actor("system", "system")

# Every audited write appends here (each login, each provisioning task): compiled once and run on the driver
# (app/store/driver_sql.py), not through the ORM's unit of work, which cost a login a quarter of its CPU.
_events: Table = cast(Table, AuditEvent.__table__)
_head: Table = cast(Table, AuditHead.__table__)
# The lock comes from a no-op UPDATE: a row lock on PostgreSQL, the database's write lock on SQLite.
LOCK_HEAD = DriverStatement(update(_head).where(_head.c.id == 1).values(id=_head.c.id)
                            .returning(_head.c.seq, _head.c.hash))
INSERT_EVENT = DriverStatement(insert(_events).values({c.name: bindparam(c.name) for c in _events.c}))
MOVE_HEAD = DriverStatement(update(_head).where(_head.c.id == 1).values(seq=bindparam("b_seq"),
                                                                         hash=bindparam("b_hash")))


def _chain(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """An event to append."""

    action: str
    actor: Actor
    outcome: str = "ok"
    unit_id: str | None = None
    target: str | None = None
    details: dict[str, Any] | None = None


def record(session: Session, action: str, actor: Actor, *, outcome: str = "ok", unit_id: str | None = None,
           target: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction: it exists exactly when the change it tells of does."""
    append(session, [Entry(action, actor, outcome, unit_id, target, details)])


def append(session: Session, entries: Sequence[Entry]) -> None:
    """Append events in order, in the caller's transaction: written together, the head moved once."""
    if not entries:
        return
    seq, digest = _locked_head(session)
    rows = []
    for entry in entries:
        prev_hash, seq = digest, seq + 1
        fields: dict[str, Any] = {
            "seq": seq, "at": now(), "action": entry.action, "outcome": entry.outcome, "actor": entry.actor.id[:200],
            "actor_kind": entry.actor.kind, "unit_id": entry.unit_id or entry.actor.unit_id,
            "target": (entry.target or None) and entry.target[:200], "address": entry.actor.address,
            "details": entry.details or {}}
        digest = _chain(prev_hash, fields)
        rows.append({**fields, "prev_hash": prev_hash, "hash": digest})
    INSERT_EVENT.execute_many(session, rows)
    MOVE_HEAD.rowcount(session, {"b_seq": seq, "b_hash": digest})
    if session.in_nested_transaction():
        # A savepoint's rollback would take these events back: the transaction's next event reads the head again.
        session.info.pop("audit_head", None)
    else:
        session.info["audit_head"] = (session.get_transaction(), seq, digest)


def _locked_head(session: Session) -> tuple[int, str]:
    """The chain's head (sequence number, hash), locked once per transaction: the events of a batch extend it
    under one lock."""
    held = session.info.get("audit_head")
    if held is not None and held[0] is session.get_transaction() and not session.in_nested_transaction():
        return held[1], held[2]
    head = LOCK_HEAD.one_or_none(session, {})
    if head is None:
        insert_once(session, AuditHead, {"id": 1, "seq": 0, "hash": GENESIS})
        head = LOCK_HEAD.one_or_none(session, {})
    assert head is not None
    return int(head["seq"]), str(head["hash"])


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
