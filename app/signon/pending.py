"""Parked sign-in requests, whatever the protocol: a request that needs the login, consent or second-factor
page waits here, bound to the browser that sent it, so nothing of it travels through the pages and back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.crypto import token_digest
from app.db import now
from app.store.models import PendingAuthorization

Params = list[tuple[str, str]]


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
    session.add(PendingAuthorization(id=pending_id, browser_digest=token_digest(browser_id), protocol=protocol,
                                     params=[list(p) for p in params], expires_at=now() + ttl))
    return pending_id


def parked(session: Session, pending_id: str, browser_id: str) -> Parked | None:
    """The request, if it exists, has not expired and was parked by this browser."""
    if not pending_id or len(pending_id) > 64:
        return None
    row = session.get(PendingAuthorization, pending_id)
    if row is None or row.expires_at < now() or row.browser_digest != token_digest(browser_id):
        return None
    return Parked(row.protocol or "oidc", [(str(k), str(v)) for k, v in row.params])


def drop(session: Session, pending_id: str) -> None:
    session.execute(delete(PendingAuthorization).where(PendingAuthorization.id == pending_id))


def param(params: Params, name: str) -> str:
    return next((v for k, v in params if k == name), "")
