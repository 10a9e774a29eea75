"""Request rate limits per client address, shared by every process: in Redis when configured, else in the
database. Fixed windows: simple, and the lockout of LoginThrottle already guards each account."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete

from app.auth.models import RateCounter
from app.db import Database, now, on_conflict_insert
from app.store.driver_sql import DriverStatement

log = logging.getLogger(__name__)

# Counted in one statement, atomic whatever the process (app/store/driver_sql.py).
_counters: Table = cast(Table, RateCounter.__table__)
_hit = on_conflict_insert(_counters).values(key=bindparam("key"), window_start=bindparam("window"), count=1)
COUNT_HIT = DriverStatement(_hit.on_conflict_do_update(
    index_elements=["key"], set_={"count": _counters.c.count + 1}).returning(_counters.c.count))


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: int


class RateLimiter:
    def __init__(self, db: Database, redis_url: str = "") -> None:
        self.db = db
        self.redis: Any = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def hit(self, bucket: str, address: str, limit: Limit) -> int:
        """Count one request; returns 0 if allowed, else the seconds until the window ends."""
        current = now()
        window = current - current % limit.seconds
        key = f"rl:{bucket}:{address[:64]}:{window}"
        count = self._redis_hit(key, limit.seconds) if self.redis is not None else None
        if count is None:
            count = self._db_hit(key, window, current - limit.seconds)
        return 0 if count <= limit.requests else window + limit.seconds - current

    def _redis_hit(self, key: str, seconds: int) -> int | None:
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, seconds + 1)
            return int(pipe.execute()[0])
        except Exception as exc:  # noqa: BLE001 - Redis is an accelerator: fall back to the database
            log.warning("rate limit store unavailable, using the database: %s", exc)
            return None

    def _db_hit(self, key: str, window: int, stale_before: int) -> int:
        # One statement that stands alone, on a connection that commits each (no BEGIN and COMMIT round trips)
        # and on the driver: through the ORM and a session it was a tenth of a login's CPU.
        with self.db.statementwise_engine.connect() as connection:
            row = COUNT_HIT.one_or_none(connection, {"key": key, "window": window})
            assert row is not None  # an upsert returns its row
            count = int(row["count"])
            if count == 1 and secrets.randbelow(100) == 0:  # now and then, drop finished windows
                connection.execute(delete(RateCounter).where(RateCounter.window_start < stale_before))
            return count
