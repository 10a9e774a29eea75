"""Parked sign-in requests, whatever the protocol: a request that needs the login, consent or second-factor
page waits here, bound to the browser that sent it, so nothing of it travels through the pages and back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from app.crypto import token_digest
from app.db import now
from app.store.driver_sql import DriverStatement
from app.store.models import PendingAuthorization

Params = list[tuple[str, str]]

# Read and dropped on every login (app/store/driver_sql.py: compiled once, run on the driver connection).
_pending: Table = cast(Table, PendingAuthorization.__table__)
READ = DriverStatement(select(_pending.c.browser_digest, _pending.c.params, _pending.c.expires_at,
                              _pending.c.protocol).where(_pending.c.id == bindparam("id")))
DROP = DriverStatement(delete(_pending).where(_pending.c.id == bindparam("id")))
PARK = DriverStatement(insert(_pending).values({name: bindparam(name) for name in (
    "id", "browser_digest", "protocol", "params", "expires_at")}))


@dataclass(frozen=True)
class Parked:
    protocol: str  # oidc, cas, saml
    params: Params


def park(session: Session, protocol: str, params: Params, browser_id: str, ttl: int,
         pending_id: str | None = None) -> str:
    """The id of the parked request (the same one when it is parked already)."""
    if pending_id:
        return pending_id
    if secrets.randbelow(50) == 0:  # sweep abandoned requests now and then, not on every request
        session.execute(delete(PendingAuthorization).where(PendingAuthorization.expires_at < now()))
    pending_id = secrets.token_urlsafe(24)
    row = {"browser_digest": token_digest(browser_id), "protocol": protocol, "params": [list(p) for p in params],
           "expires_at": now() + ttl}
    PARK.rowcount(session, {"id": pending_id, **row})
    _held(session)[pending_id] = row
    return pending_id


def parked(session: Session, pending_id: str, browser_id: str) -> Parked | None:
    """The request, if it exists, has not expired and was parked by this browser."""
    if not pending_id or len(pending_id) > 64:
        return None
    held = _held(session)
    if pending_id not in held:
        held[pending_id] = READ.one_or_none(session, {"id": pending_id})
    row = held[pending_id]
    if row is None or row["expires_at"] < now() or row["browser_digest"] != token_digest(browser_id):
        return None
    return Parked(row["protocol"] or "oidc", [(str(k), str(v)) for k, v in row["params"]])


def drop(session: Session, pending_id: str) -> None:
    _held(session)[pending_id] = None
    DROP.rowcount(session, {"id": pending_id})


def _held(session: Session) -> dict[str, dict[str, Any] | None]:
    """The requests read in this unit of work: a login reads its request twice (the flow that resumes it and
    the protocol's own step), and a request parked and read in one unit is not yet in the database."""
    return session.info.setdefault("parked", {})  # type: ignore[no-any-return]


def param(params: Params, name: str) -> str:
    return next((v for k, v in params if k == name), "")
