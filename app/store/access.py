"""Ending an official's access where it is kept: every SSO session, and every token family (refresh tokens,
the access tokens they issued, offline grants). One function for every path that ends access: a leaver, a
disabled official, a password reset, sign out everywhere."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db import now
from app.store.models import SsoSession, TokenGrant


def end_access(session: Session, official_id: str, reason: str) -> None:
    """End every SSO session and revoke every token family of an official."""
    stamp = now()
    session.execute(update(SsoSession).where(SsoSession.official_id == official_id, SsoSession.ended_at.is_(None))
                    .values(ended_at=stamp))
    session.execute(update(TokenGrant).where(TokenGrant.official_id == official_id, TokenGrant.revoked_at.is_(None))
                    .values(revoked_at=stamp, revoked_reason=reason))
