"""Brute-force throttling per account name and per address, kept in the database.

In the database, so the counters survive a restart and every worker process sees the same ones. The
account key is the submitted name whether or not such an account exists, so a lockout says nothing
about who has an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, case, delete, func, or_, select
from sqlalchemy.orm import Session

from app.auth.models import LoginThrottle
from app.db import locked_row, now
from app.identity.names import normalize_username
from app.store.driver_sql import DriverStatement

# On every login (app/store/driver_sql.py: compiled once, run on the driver connection).
_throttles: Table = cast(Table, LoginThrottle.__table__)
LATEST_LOCK = DriverStatement(select(
    func.max(_throttles.c.locked_until).label("until"),
    func.max(case((_throttles.c.key == bindparam("account_key"), 1), else_=0)).label("account_counted"),
).where(or_(_throttles.c.key == bindparam("account_key"), _throttles.c.key == bindparam("ip_key"))))
CLEAR = DriverStatement(delete(_throttles).where(_throttles.c.key == bindparam("key")))


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
        account_key, ip_key = self._keys(username, ip)
        row = LATEST_LOCK.one_or_none(session, {"account_key": account_key, "ip_key": ip_key})
        if not (row and row["account_counted"]):
            _uncounted(session).add(account_key)
        until = row["until"] if row else None
        return max(0, until - now()) if until else 0

    def record_failure(self, session: Session, username: str, ip: str) -> None:
        account_key, ip_key = self._keys(username, ip)
        self._bump(session, account_key, self.policy.account_failures)
        self._bump(session, ip_key, self.policy.ip_failures)

    def record_success(self, session: Session, username: str, ip: str) -> None:
        account_key, _ = self._keys(username, ip)
        if account_key not in _uncounted(session):  # most logins follow no failure: nothing to clear
            CLEAR.rowcount(session, {"key": account_key})

    def _bump(self, session: Session, key: str, limit: int) -> None:
        _uncounted(session).discard(key)
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


def _uncounted(session: Session) -> set[str]:
    """Account keys this unit of work has seen without a failure counted."""
    return session.info.setdefault("uncounted_throttles", set())  # type: ignore[no-any-return]
