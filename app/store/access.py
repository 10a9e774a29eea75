"""Ending an official's access where it is kept: every SSO session, and every token family (refresh tokens,
the access tokens they issued, offline grants). One function for every path that ends access: a leaver, a
disabled official, a password reset, sign out everywhere."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import now
from app.store.logout_queue import enqueue_logouts
from app.store.models import SsoSession, TokenGrant


def end_access(session: Session, official_id: str, reason: str) -> list[str]:
    """End every SSO session and revoke every token family of an official; returns the sessions ended."""
    stamp = now()
    live = session.scalars(select(SsoSession.sid).where(SsoSession.official_id == official_id,
                                                        SsoSession.ended_at.is_(None))).all()
    enqueue_logouts(session, live)  # every application of those sessions is told, by the logout queue
    session.execute(update(SsoSession).where(SsoSession.official_id == official_id, SsoSession.ended_at.is_(None))
                    .values(ended_at=stamp))
    session.execute(update(TokenGrant).where(TokenGrant.official_id == official_id, TokenGrant.revoked_at.is_(None))
                    .values(revoked_at=stamp, revoked_reason=reason))
    return list(live)
