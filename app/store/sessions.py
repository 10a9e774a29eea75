"""Server-side SSO sessions behind an opaque cookie, with idle and absolute timeouts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.crypto import token_digest
from app.db import now
from app.identity.models import Official
from app.oidc.models import AuthContext
from app.store.driver_sql import DriverStatement
from app.store.logout_queue import enqueue_logouts
from app.store.models import SsoSession, TokenGrant

_sessions: Table = cast(Table, SsoSession.__table__)
# One per login (app/store/driver_sql.py: compiled once, run on the driver connection).
INSERT_SESSION = DriverStatement(insert(_sessions).values({name: bindparam(name) for name in (
    "id_digest", "sid", "official_id", "auth_time", "acr", "amr", "created_at", "last_seen_at", "expires_at", "ip",
    "user_agent")}))


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: int
    absolute_timeout: int


@dataclass(frozen=True)
class ActiveSession:
    sid: str
    official_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]

    @property
    def context(self) -> AuthContext:
        return AuthContext(self.official_id, self.sid, self.auth_time, self.acr, self.amr)


class SessionService:
    def __init__(self, policy: SessionPolicy) -> None:
        self.policy = policy

    def start(self, session: Session, official_id: str, acr: str, amr: tuple[str, ...],
              ip: str | None, user_agent: str | None) -> tuple[str, ActiveSession]:
        """A new session with a new id: the id is never carried over from before login (fixation)."""
        cookie = secrets.token_urlsafe(32)
        current = now()
        sid = secrets.token_urlsafe(18)
        # Written at once (what follows refers to it), on the driver: one per login.
        INSERT_SESSION.rowcount(session, {
            "id_digest": token_digest(cookie), "sid": sid, "official_id": official_id, "auth_time": current,
            "acr": acr, "amr": list(amr), "created_at": current, "last_seen_at": current,
            "expires_at": current + self.policy.absolute_timeout, "ip": ip, "user_agent": (user_agent or "")[:300]})
        return cookie, ActiveSession(sid, official_id, current, acr, amr)

    def renew(self, session: Session, current_cookie: str | None, official_id: str, acr: str, amr: tuple[str, ...],
              ip: str | None, user_agent: str | None) -> tuple[str, ActiveSession]:
        """A login's session: whatever session the browser had ends, and a new one with a new id starts (so a
        session id planted before the login is worth nothing after it)."""
        current = self.resolve(session, current_cookie)
        if current is not None:
            self.end(session, current.sid)
        return self.start(session, official_id, acr, amr, ip, user_agent)

    def resolve(self, session: Session, cookie: str | None) -> ActiveSession | None:
        if not cookie or len(cookie) > 100:
            return None
        return self._active(session, session.get(SsoSession, token_digest(cookie)))

    def by_sid(self, session: Session, sid: str) -> ActiveSession | None:
        """The session an application's own session belongs to (a gateway cookie), if it is still active."""
        return self._active(session, session.scalars(select(SsoSession).where(SsoSession.sid == sid)).one_or_none())

    def _active(self, session: Session, row: SsoSession | None) -> ActiveSession | None:
        current = now()
        if row is None or row.ended_at is not None or row.expires_at <= current:
            return None
        if current - row.last_seen_at > self.policy.idle_timeout:
            return None
        official = session.get(Official, row.official_id)
        if official is None or not official.enabled:
            return None
        if current - row.last_seen_at > 60:
            row.last_seen_at = current  # touched at most once a minute: no write per request
        return ActiveSession(row.sid, row.official_id, row.auth_time, row.acr, tuple(row.amr or ()))

    def raise_level(self, session: Session, sid: str, acr: str, amr: tuple[str, ...]) -> ActiveSession | None:
        """Step-up: the same session, now authenticated more strongly, at a new auth_time."""
        row = session.scalars(select(SsoSession).where(SsoSession.sid == sid, SsoSession.ended_at.is_(None))
                              .with_for_update()).one_or_none()
        if row is None:
            return None
        row.acr, row.amr, row.auth_time = acr, list(amr), now()
        return ActiveSession(row.sid, row.official_id, row.auth_time, acr, amr)

    def active_for(self, session: Session, official_id: str) -> list[SsoSession]:
        current = now()
        rows = session.scalars(select(SsoSession).where(
            SsoSession.official_id == official_id, SsoSession.ended_at.is_(None), SsoSession.expires_at > current,
            SsoSession.last_seen_at > current - self.policy.idle_timeout).order_by(SsoSession.created_at.desc()))
        return list(rows)

    def end(self, session: Session, sid: str) -> bool:
        """End a session, and queue the logout of every application that took part in it."""
        current = now()
        result = session.execute(update(SsoSession).where(SsoSession.sid == sid, SsoSession.ended_at.is_(None))
                                 .values(ended_at=current))
        ended = cast(CursorResult[Any], result).rowcount
        # Refresh tokens without offline_access live only as long as the session that issued them.
        session.execute(update(TokenGrant)
                        .where(TokenGrant.sid == sid, TokenGrant.offline.is_(False),
                               TokenGrant.revoked_at.is_(None))
                        .values(revoked_at=current, revoked_reason="session_ended"))
        if ended:
            enqueue_logouts(session, [sid])
        return bool(ended)
