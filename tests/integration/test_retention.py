"""Records past their end are deleted by the worker, some time after it; what still lives is kept and works."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from app.store.models import AuthorizationCode, RefreshToken, SessionClient, SsoSession, TokenGrant
from app.store.retention import RetentionPolicy, RetentionSweep
from app.worker import Worker
from tests.kit import Flow, Kit

DAY = 86400


def _count(kit: Kit, model: type) -> int:
    with kit.broker.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_the_worker_deletes_what_ended_and_keeps_what_lives(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True, grant_types=["authorization_code", "refresh_token"])
    offline = Flow(client)
    issued = kit.tokens(offline, scope="openid offline_access")
    kit.http.cookies.clear()  # a second browser: a second session, and a code it never exchanges
    unused = Flow(client)
    unused_code = kit.login_for_code(unused)["code"]
    assert _count(kit, SsoSession) == 2 and _count(kit, AuthorizationCode) == 2

    worker = Worker.of(kit.broker, say=lambda _: None)
    assert worker.sweep(int(time.time())) == {}  # nothing has ended a retention ago

    # Two days on: both codes and both sessions (10 h at most) are a retention past their end; the refresh
    # token (30 days) and its grant live.
    deleted = worker.sweep(int(time.time()) + 2 * DAY)
    assert deleted == {"authorization codes": 2, "SSO sessions": 2}
    assert _count(kit, SsoSession) == 0 and _count(kit, SessionClient) == 0
    assert kit.exchange(unused, unused_code).json()["error"] == "invalid_grant"
    rotated = kit.http.post("/oauth2/token", auth=client.auth,
                            data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    assert _count(kit, RefreshToken) == 2 and _count(kit, TokenGrant) == 1  # the rotated one kept for reuse checks

    # Past the refresh tokens' 30 days and the retention: they go, then the grant that has none left.
    deleted = worker.sweep(int(time.time()) + 32 * DAY)
    assert deleted == {"refresh tokens": 2, "token grants": 1}
    refused = kit.http.post("/oauth2/token", auth=client.auth,
                            data={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]})
    assert refused.json()["error"] == "invalid_grant"


def test_a_sweep_works_in_batches_until_nothing_is_left(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    for _ in range(5):
        kit.login_for_code(Flow(client))
    policy = RetentionPolicy(kit.settings.expired_retention, kit.settings.access_token_ttl)
    sweep = RetentionSweep(kit.broker.db, policy, batch=2)
    assert sweep.run(int(time.time()) + DAY - 120) == {}  # the codes ended a minute ago: kept a day
    assert sweep.run(int(time.time()) + 2 * DAY) == {"authorization codes": 5, "SSO sessions": 1}
    assert _count(kit, AuthorizationCode) == 0


def test_the_worker_sweeps_account_links_too(kit: Kit) -> None:
    from app.mfa.models import AccountToken

    official_id = kit.official()
    with kit.broker.db.session() as s:  # a reset link as the helpdesk issues one, an hour to live
        s.add(AccountToken(digest="d" * 64, official_id=official_id, purpose="reset", issued_by="helpdesk",
                           expires_at=int(time.time()) + 3600))
    worker = Worker.of(kit.broker, say=lambda _: None)
    assert worker.sweep(int(time.time()) + DAY) == {}  # ended 23 hours before: kept
    assert worker.sweep(int(time.time()) + 2 * DAY) == {"account links": 1}
    assert _count(kit, AccountToken) == 0


def test_worker_once_deletes_a_code_past_its_end(settings, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """What an operator runs: `sso-broker worker --once`, here with no retention and codes of ten seconds."""
    from app.cli import main
    from app.crypto import token_digest

    kit = Kit(settings.model_copy(update={"code_ttl": 10}))
    try:
        kit.official()
        flow = Flow(kit.client(first_party=True))
        code = kit.login_for_code(flow)["code"]
        time.sleep(11)
        for name, value in (("SSO_DATABASE_URL", settings.database_url), ("SSO_MASTER_KEY", settings.master_key),
                            ("SSO_DATA_DIR", str(settings.data_dir)), ("SSO_ISSUER", settings.issuer),
                            ("SSO_EXPIRED_RETENTION", "0")):
            monkeypatch.setenv(name, value)
        assert main(["worker", "--once"]) == 0
        assert "worker: past their end, deleted: 1 authorization codes" in capsys.readouterr().out
        with kit.broker.db.session() as s:
            assert s.get(AuthorizationCode, token_digest(code)) is None
        assert kit.exchange(flow, code).json()["error"] == "invalid_grant"
    finally:
        kit.http.close()
        kit.broker.db.dispose()
