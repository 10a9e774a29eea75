"""Records past their end are deleted, in batches, some time after it (`Settings.expired_retention`).

Every login leaves an authorization code and an SSO session, every offline grant its refresh tokens: at two million
officials, tables that only grow would hold hundreds of millions of rows within a year, and every index on them
would grow with them. What is kept past the end, and why: a code or a refresh token still answers a replay with
the revocation of what it issued (RFC 6749 §4.1.2, RFC 9700 §4.14) for the retention; a session's row lets an
operator see how it ended. A grant goes once no refresh token and no access token of it can still be presented.

Each batch is its own short transaction (no lock held over the whole sweep), so the worker may stop at any point
and the next sweep goes on; two workers sweeping at once delete each row once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select

from app.db import Database
from app.store.models import (
    AuthorizationCode,
    RefreshToken,
    RevokedAccessToken,
    SamlParticipant,
    SessionCasTicket,
    SessionClient,
    SsoSession,
    TokenGrant,
)

BATCH = 5000


@dataclass(frozen=True)
class Expiring:
    """Records of another package that go a retention after their `expires_at` (passed in by the worker, so
    this package imports none of them)."""

    name: str
    key: Any  # the primary key's column attribute
    expires_at: Any


@dataclass(frozen=True)
class RetentionPolicy:
    retention: int  # seconds a record is kept past its end
    access_token_ttl: int  # how long after its grant's last refresh token an access token may still be presented


class RetentionSweep:
    def __init__(self, db: Database, policy: RetentionPolicy, batch: int = BATCH,
                 others: tuple[Expiring, ...] = ()) -> None:
        self.db, self.policy, self.batch, self.others = db, policy, batch, others

    def run(self, now: int) -> dict[str, int]:
        """Deletes what ended before `now - retention`; returns the rows deleted per kind (kinds with none left
        out)."""
        cut = now - self.policy.retention
        grant_cut = cut - self.policy.access_token_ttl
        sweeps: list[tuple[str, Callable[[], int]]] = [
            ("authorization codes", lambda: self._batches(AuthorizationCode.code_digest,
                                                          AuthorizationCode.expires_at < cut)),
            ("refresh tokens", lambda: self._batches(RefreshToken.token_digest, RefreshToken.expires_at < cut)),
            # After the refresh tokens: a grant goes once it has none left.
            ("token grants", lambda: self._batches(TokenGrant.id, TokenGrant.created_at < grant_cut, ~exists(
                select(RefreshToken.token_digest).where(RefreshToken.grant_id == TokenGrant.id)))),
            ("revoked access tokens", lambda: self._batches(RevokedAccessToken.jti,
                                                            RevokedAccessToken.expires_at < cut)),
            ("SSO sessions", lambda: self._sessions(cut)),
            *[(other.name, lambda other=other: self._batches(other.key, other.expires_at < cut))
              for other in self.others],
        ]
        deleted = {name: sweep() for name, sweep in sweeps}
        return {name: count for name, count in deleted.items() if count}

    def _batches(self, key: Any, *where: ColumnElement[bool]) -> int:
        table = key.class_
        total = 0
        while True:
            with self.db.session() as s:
                keys = s.scalars(select(key).where(*where).limit(self.batch)).all()
                if keys:
                    s.execute(delete(table).where(key.in_(keys)))
            total += len(keys)
            if len(keys) < self.batch:
                return total

    def _sessions(self, cut: int) -> int:
        """Sessions whose absolute end is past (idle or ended ones reach it too), with what hangs on their sid:
        the applications single logout would have told, which it no longer can."""
        total = 0
        ended = select(SsoSession.id_digest, SsoSession.sid).where(SsoSession.expires_at < cut).limit(self.batch)
        while True:
            with self.db.session() as s:
                rows = s.execute(ended).all()
                if rows:
                    sids = [row.sid for row in rows]
                    for child in (SessionClient, SessionCasTicket, SamlParticipant):
                        s.execute(delete(child).where(child.sid.in_(sids)))
                    s.execute(delete(SsoSession).where(SsoSession.id_digest.in_([row.id_digest for row in rows])))
            total += len(rows)
            if len(rows) < self.batch:
                return total
