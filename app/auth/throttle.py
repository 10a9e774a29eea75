"""Brute-force throttling per account name and per address, kept in the database.

In the database, so the counters survive a restart and every worker process sees the same ones. The
account key is the submitted name whether or not such an account exists, so a lockout says nothing
about who has an account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth.models import LoginThrottle
from app.db import locked_row, now
from app.identity.names import normalize_username


@dataclass(frozen=True)
class ThrottlePolicy:
    account_failures: int
    ip_failures: int
    window: int
    lockout: int


class LoginThrottler:
    def __init__(self, policy: ThrottlePolicy) -> None:
        self.policy = policy

    @staticmethod
    def _keys(username: str, ip: str) -> tuple[str, str]:
        return f"acct:{normalize_username(username)[:280]}", f"ip:{ip}"

    def locked_for(self, session: Session, username: str, ip: str) -> int:
        """Seconds until a login for this name from this address may be tried again (0: now)."""
        current = now()
        rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(self._keys(username, ip))))
        waits = [r.locked_until - current for r in rows if r.locked_until and r.locked_until > current]
        return max(waits, default=0)

    def record_failure(self, session: Session, username: str, ip: str) -> None:
        account_key, ip_key = self._keys(username, ip)
        self._bump(session, account_key, self.policy.account_failures)
        self._bump(session, ip_key, self.policy.ip_failures)

    def record_success(self, session: Session, username: str, ip: str) -> None:
        account_key, _ = self._keys(username, ip)
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key))

    def _bump(self, session: Session, key: str, limit: int) -> None:
        current = now()
        row = locked_row(session, LoginThrottle, key, lambda: LoginThrottle(key=key, failures=0,
                                                                           window_started_at=current))
        if current - row.window_started_at > self.policy.window:
            row.failures, row.window_started_at = 0, current
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = current + self.policy.lockout
            row.failures, row.window_started_at = 0, current
        session.flush()
