"""Challenges: a login waiting for its second factor, bound to the browser that started it."""

from __future__ import annotations

import secrets

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.crypto import token_digest
from app.db import now
from app.mfa.models import MfaChallenge

CHALLENGE_TTL = 300


def open_challenge(session: Session, browser_id: str, official_id: str | None, purpose: str, pending: str = "",
                   first_amr: tuple[str, ...] = (), sid: str | None = None, next_url: str | None = None) -> str:
    if secrets.randbelow(50) == 0:  # sweep abandoned challenges now and then
        session.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < now()))
    challenge_id = secrets.token_urlsafe(24)
    session.add(MfaChallenge(id=challenge_id, browser_digest=token_digest(browser_id), official_id=official_id,
                             purpose=purpose, pending=pending, first_amr=list(first_amr), sid=sid,
                             failures=0, expires_at=now() + CHALLENGE_TTL, next_url=next_url))
    session.flush()
    return challenge_id


def load_challenge(session: Session, challenge_id: str, browser_id: str) -> MfaChallenge | None:
    if not challenge_id or len(challenge_id) > 64:
        return None
    row = session.get(MfaChallenge, challenge_id, with_for_update=True)
    if row is None or row.expires_at < now() or row.browser_digest != token_digest(browser_id):
        return None
    return row
