"""The worker's retention sweep (app/store/retention.py) on PostgreSQL: a day of a province's logins past their end.

BENCH_RETENTION_LOGINS (200,000) logins' authorization codes and SSO sessions (each session with an application it
reached), and as many refresh tokens of offline grants, of which half have expired; then one sweep, timed, and a
second one with nothing left to delete (what every later hour costs). No target in #16; the figure says whether a
sweep keeps up with a country's logins (about two million a day).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import fresh_database  # noqa: E402
from bench.report import report  # noqa: E402

LOGINS = int(os.environ.get("BENCH_RETENTION_LOGINS", "200000"))
CHUNK = 20_000


def main() -> int:
    from app.applications.clients import ClientService, ClientSpec
    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.identity.service import NewOfficial, add_official
    from app.migrate import upgrade
    from app.settings import Settings
    from app.store.models import AuthorizationCode, RefreshToken, SessionClient, SsoSession, TokenGrant
    from app.store.retention import RetentionPolicy, RetentionSweep

    url = fresh_database("sso_bench_retention")
    upgrade(url)
    broker = Broker(Settings(database_url=url, master_key=generate_master_key(), issuer="http://127.0.0.1:1",
                             data_dir=Path(tempfile.mkdtemp())))
    with broker.db.session() as s:
        official = add_official(s, NewOfficial("hieund", "Nguyễn Đình Hiếu", "bench-password", "hieund@bench.vn"))
        ClientService(broker.clients).add(s, ClientSpec(client_id="bench", redirect_uris=["https://a.gov.vn/cb"]))
    now = int(time.time())
    ended = now - 2 * 86400
    print(f"writing {LOGINS} logins' codes, sessions and refresh tokens, half of the tokens expired ...", flush=True)
    common = dict(official_id=official.id, auth_time=ended, acr="pwd", amr=["pwd"])
    for start in range(0, LOGINS, CHUNK):
        ids = [uuid.uuid4().hex for _ in range(min(CHUNK, LOGINS - start))]
        with broker.db.session() as s:
            s.execute(insert(AuthorizationCode), [dict(
                code_digest=i, client_id="bench", redirect_uri="https://a.gov.vn/cb", scope="openid", sid=i,
                expires_at=ended, **common) for i in ids])
            s.execute(insert(SsoSession), [dict(
                id_digest=i, sid=i, created_at=ended, last_seen_at=ended, expires_at=ended, **common) for i in ids])
            s.execute(insert(SessionClient), [dict(sid=i, client_id="bench") for i in ids])
            s.execute(insert(TokenGrant), [dict(
                id=i, client_id="bench", sid=i, scope="openid offline_access", offline=True, created_at=ended,
                **common) for i in ids])
            s.execute(insert(RefreshToken), [dict(
                token_digest=i, grant_id=i, client_id="bench", scope="openid offline_access", created_at=ended,
                expires_at=ended if n % 2 else now + 86400) for n, i in enumerate(ids)])
    sweep = RetentionSweep(broker.db, RetentionPolicy(86400, 600))
    started = time.monotonic()
    deleted = sweep.run(now)
    first_s = time.monotonic() - started
    print(f"deleted: {deleted}")
    started = time.monotonic()
    again = sweep.run(now)
    quiet_s = time.monotonic() - started
    assert again == {}, again
    rows = sum(deleted.values())
    broker.db.dispose()
    return report("retention sweep, PostgreSQL", [
        (f"first sweep, {rows} rows", first_s, "s", True),
        ("  rows deleted per second", rows / first_s, "/s", True),
        (f"the next sweep, nothing to delete ({LOGINS // 2} live grants read)", quiet_s, "s", True),
    ])


if __name__ == "__main__":
    sys.exit(main())
