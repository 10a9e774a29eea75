"""The token endpoint: code exchange, replay, PKCE downgrade, refresh rotation and reuse, client auth."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.kit import Flow, Kit, forge_hmac, forge_unsigned, jose_verify


def test_id_and_access_tokens_verify_independently(kit: Kit) -> None:
    sub = kit.official()
    client = kit.client(first_party=True)
    flow = Flow(client)
    tokens = kit.tokens(flow, scope="openid profile email phone groups")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == kit.settings.access_token_ttl
    id_claims = jose_verify(kit, tokens["id_token"], client.client_id, access_token=tokens["access_token"])
    assert id_claims["sub"] == sub and id_claims["nonce"] == flow.nonce
    assert id_claims["amr"] == ["pwd"] and id_claims["acr"] == "urn:sso-broker:acr:pwd"
    assert id_claims["sid"] and id_claims["auth_time"] <= time.time()
    assert id_claims["name"] == "Nguyễn Đình Hiếu"
    assert id_claims["unit"]["path"][0]["name"] == "Tỉnh Bắc Ninh"
    assert id_claims["unit"]["name"] == "Sở Thông tin và Truyền thông"
    assert id_claims["title"] == "Chuyên viên" and id_claims["groups"] == ["cb-so-ttt"]
    from jose import jwt as jose_jwt

    header = jose_jwt.get_unverified_header(tokens["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"  # RFC 9068
    at = jose_verify(kit, tokens["access_token"], client.client_id)
    assert at["client_id"] == client.client_id and at["sub"] == sub and at["jti"]
    assert set(at["scope"].split()) == {"openid", "profile", "email", "phone", "groups"}


def test_code_is_single_use_and_replay_revokes_what_it_issued(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    flow = Flow(client)
    code = kit.login_for_code(flow, scope="openid offline_access")["code"]
    first = kit.exchange(flow, code)
    assert first.status_code == 200
    replay = kit.exchange(flow, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    issued = first.json()
    assert kit.introspect(client, issued["access_token"]) == {"active": False}
    refresh = kit.http.post("/oauth2/token", auth=client.auth,
                            data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"


def test_expired_code_is_refused(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    flow = Flow(client)
    code = kit.login_for_code(flow)["code"]
    from sqlalchemy import update

    from app.store.models import AuthorizationCode

    with kit.broker.db.session() as s:
        s.execute(update(AuthorizationCode).values(expires_at=int(time.time()) - 1))
    assert kit.exchange(flow, code).json()["error"] == "invalid_grant"


def test_pkce_downgrade_and_wrong_verifier_are_refused(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    flow = Flow(client)
    code = kit.login_for_code(flow)["code"]
    assert kit.exchange(flow, code, code_verifier=None).json()["error"] == "invalid_request"
    flow2 = Flow(client)
    code2 = kit.login_for_code(flow2)["code"]
    assert kit.exchange(flow2, code2, code_verifier=Flow(client).verifier).json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_the_token_endpoint(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    flow = Flow(client)
    code = kit.login_for_code(flow)["code"]
    wrong = kit.exchange(flow, code, redirect_uri="https://app.example.gov.vn/other")
    assert wrong.json()["error"] == "invalid_grant"


def test_code_of_one_client_cannot_be_redeemed_by_another(kit: Kit) -> None:
    kit.official()
    alice = kit.client("alice", first_party=True)
    mallory = kit.client("mallory", first_party=True)
    flow = Flow(alice)
    code = kit.login_for_code(flow)["code"]
    stolen = kit.http.post("/oauth2/token", auth=mallory.auth, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": alice.redirect_uri,
        "code_verifier": flow.verifier})
    assert stolen.json()["error"] == "invalid_grant"
    assert kit.exchange(flow, code).status_code == 200  # the rightful client still can


def test_wrong_secret_and_unknown_client_are_invalid_client(kit: Kit) -> None:
    client = kit.client()
    for auth in ((client.client_id, "wrong"), ("nobody", "x")):
        response = kit.http.post("/oauth2/token", auth=auth, data={"grant_type": "client_credentials"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    none = kit.http.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": client.client_id})
    assert none.json()["error"] == "invalid_client"


def test_refresh_rotates_and_reuse_revokes_the_family(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client), scope="openid profile offline_access")
    first = tokens["refresh_token"]

    def refresh(token: str, **extra: str):  # type: ignore[no-untyped-def]
        return kit.http.post("/oauth2/token", auth=client.auth,
                             data={"grant_type": "refresh_token", "refresh_token": token, **extra})

    rotated = refresh(first)
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert jose_verify(kit, rotated.json()["id_token"], client.client_id)["auth_time"] == \
        jose_verify(kit, tokens["id_token"], client.client_id)["auth_time"]
    assert refresh(first).json()["error"] == "invalid_grant"  # reuse of the rotated token
    assert refresh(second).json()["error"] == "invalid_grant"  # ... revoked the whole family
    assert kit.introspect(client, rotated.json()["access_token"]) == {"active": False}


class DatabaseGone(Exception):
    pass


def test_a_refresh_that_fails_before_its_successor_is_written_leaves_the_old_token_good(
        kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rotation and the successor land together or not at all: otherwise a crash between them leaves the
    client a rotated token, whose retry reads as reuse and revokes the grant (on SQLite they are two statements,
    so they keep a transaction; on PostgreSQL one statement does both)."""
    from app.store import oidc_store

    kit.official()
    client = kit.client(first_party=True)
    first = kit.tokens(Flow(client), scope="openid offline_access")["refresh_token"]
    successor = oidc_store.RUN_INSERT_REFRESH if kit.broker.db.is_sqlite else oidc_store.RUN_ROTATE_AND_INSERT_REFRESH

    def gone(*_: object) -> int:
        raise DatabaseGone("the database went away")

    def refresh() -> Any:  # the test client's response
        return kit.http.post("/oauth2/token", auth=client.auth,
                             data={"grant_type": "refresh_token", "refresh_token": first})

    with monkeypatch.context() as patch:
        patch.setattr(successor, "rowcount", gone)
        with pytest.raises(DatabaseGone):
            refresh()
    retried = refresh()
    assert retried.status_code == 200, retried.text
    assert kit.introspect(client, retried.json()["access_token"])["active"] is True


def test_refresh_cannot_widen_scope_or_cross_clients(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    other = kit.client("other", first_party=True)
    token = kit.tokens(Flow(client), scope="openid offline_access")["refresh_token"]
    wider = kit.http.post("/oauth2/token", auth=client.auth, data={
        "grant_type": "refresh_token", "refresh_token": token, "scope": "openid offline_access email"})
    assert wider.json()["error"] == "invalid_scope"
    crossed = kit.http.post("/oauth2/token", auth=other.auth,
                            data={"grant_type": "refresh_token", "refresh_token": token})
    assert crossed.json()["error"] == "invalid_grant"
    narrower = kit.http.post("/oauth2/token", auth=client.auth,
                             data={"grant_type": "refresh_token", "refresh_token": token, "scope": "openid"})
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"


def test_client_credentials(kit: Kit) -> None:
    client = kit.client("svc", grant_types=["client_credentials", "authorization_code"],
                                 scopes=["openid", "profile"])
    ok = kit.http.post("/oauth2/token", auth=client.auth, data={"grant_type": "client_credentials",
                                                                "scope": "profile"})
    assert ok.status_code == 200 and "refresh_token" not in ok.json()
    claims = jose_verify(kit, ok.json()["access_token"], "svc")
    assert claims["sub"] == "svc" and claims["scope"] == "profile"
    for scope in ("openid", "email", "profile admin"):
        bad = kit.http.post("/oauth2/token", auth=client.auth, data={"grant_type": "client_credentials",
                                                                     "scope": scope})
        assert bad.json()["error"] == "invalid_scope", scope
    code_only = kit.client("web", first_party=True)
    refused = kit.http.post("/oauth2/token", auth=code_only.auth, data={"grant_type": "client_credentials"})
    assert refused.json()["error"] == "unauthorized_client"


def test_unknown_grant_and_missing_parameters(kit: Kit) -> None:
    client = kit.client()
    cases = [{"grant_type": "password", "username": "a", "password": "b"}, {"grant_type": "authorization_code"},
             {"grant_type": "refresh_token"}, {}]
    expected = ["unsupported_grant_type", "invalid_request", "invalid_request", "unsupported_grant_type"]
    for data, error in zip(cases, expected, strict=True):
        response = kit.http.post("/oauth2/token", auth=client.auth, data=data)
        assert response.status_code in (400, 401) and response.json()["error"] == error, data


def _assertion(client_id: str, key: RSAKey | ECKey, alg: str, audience: str, **over: object) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex}
    claims.update(over)
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def test_private_key_jwt(kit: Kit) -> None:
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "k1"})
    jwks = {"keys": [key.as_dict(private=False) | {"kid": "k1", "alg": "RS256"}]}
    kit.client("signer", auth_method="private_key_jwt", jwks=jwks,
               grant_types=["client_credentials", "authorization_code"])
    token_url = kit.settings.issuer + "/oauth2/token"

    def call(assertion: str):  # type: ignore[no-untyped-def]
        return kit.http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})

    good = _assertion("signer", key, "RS256", token_url)
    assert call(good).status_code == 200
    assert call(good).json()["error"] == "invalid_client"  # a jti is good once
    claims = {"iss": "signer", "sub": "signer", "aud": token_url, "exp": int(time.time()) + 60,
              "jti": uuid.uuid4().hex}
    public_pem = key.as_pem(private=False)
    for forged in (forge_unsigned(claims), forge_hmac(claims, public_pem, "k1"),
                   _assertion("signer", RSAKey.generate_key(2048, private=True, parameters={"kid": "k1"}),
                              "RS256", token_url),
                   _assertion("signer", key, "RS256", "https://elsewhere.example/token"),
                   _assertion("signer", key, "RS256", token_url, exp=int(time.time()) - 120)):
        response = call(forged)
        assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client", forged
    # a secret does not open a private_key_jwt client
    assert kit.http.post("/oauth2/token", auth=("signer", "guess"),
                         data={"grant_type": "client_credentials"}).json()["error"] == "invalid_client"


def test_private_key_jwt_client_exchanges_a_code_and_its_assertion_once(kit: Kit) -> None:
    """A grant runs without a transaction around it: the assertion's one use is still recorded, and kept."""
    kit.official()
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "k1"})
    jwks = {"keys": [key.as_dict(private=False) | {"kid": "k1", "alg": "RS256"}]}
    client = kit.client("signer", auth_method="private_key_jwt", jwks=jwks, first_party=True,
                        grant_types=["authorization_code"])
    flow = Flow(client)
    code = kit.login_for_code(flow)["code"]
    assertion = _assertion("signer", key, "RS256", kit.settings.issuer + "/oauth2/token")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
            "code_verifier": flow.verifier, "client_id": "signer", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    exchanged = kit.http.post("/oauth2/token", data=form)
    assert exchanged.status_code == 200, exchanged.text
    jose_verify(kit, exchanged.json()["id_token"], "signer")
    flow2 = Flow(client)
    replayed = kit.http.post("/oauth2/token", data={**form, "code": kit.login_for_code(flow2)["code"],
                                                    "code_verifier": flow2.verifier})
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_client"  # a jti is good once


def test_public_client_exchanges_with_pkce_only(kit: Kit) -> None:
    kit.official()
    client = kit.client("spa", auth_method="none", first_party=True)
    assert client.secret is None
    flow = Flow(client)
    code = kit.login_for_code(flow)["code"]
    response = kit.exchange(flow, code)
    assert response.status_code == 200
    assert jose_verify(kit, response.json()["id_token"], "spa")["nonce"] == flow.nonce


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_token_endpoint_recovers_when_postgresql_drops_its_connections(kit: Kit) -> None:
    """A PostgreSQL restart or failover ends every pooled connection; grants run their statements on the driver
    connection, outside SQLAlchemy's error handling, so it is the pool's check-in that must drop the dead ones.
    A request that meets one may fail; nothing is consumed by it, and the retry succeeds."""
    from sqlalchemy import NullPool, create_engine, text

    kit.official()
    client = kit.client(first_party=True)
    first = kit.tokens(Flow(client), scope="openid offline_access")["refresh_token"]
    flows = [Flow(client) for _ in range(3)]
    codes = [kit.login_for_code(flow, scope="openid")["code"] for flow in flows]
    pids = []  # the broker's pooled connections, and only those (other servers of the test run share the database)
    for engine in (kit.broker.db.engine, kit.broker.db.statementwise_engine):
        with engine.connect() as pooled:
            pids.append(pooled.execute(text("SELECT pg_backend_pid()")).scalar_one())
    outside = create_engine(kit.broker.db.url, poolclass=NullPool)
    with outside.connect() as admin:
        ended = admin.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE pid = ANY(:pids)"), {"pids": pids}).scalar_one()
    outside.dispose()
    assert ended == 2
    time.sleep(0.5)  # pg_terminate_backend signals the backends; they end a moment later

    failed = []

    def answered(form: dict[str, str]) -> Any:
        for _ in range(12):  # each dead pooled connection fails one request, then is dropped
            try:
                return kit.http.post("/oauth2/token", auth=client.auth, data=form)
            except Exception as exc:  # noqa: BLE001 (the test client re-raises the server's error)
                assert "terminat" in str(exc) or "closed" in str(exc), exc
                failed.append(exc)
        raise AssertionError("the pool kept handing out dead connections")

    rotated = answered({"grant_type": "refresh_token", "refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    for flow, code in zip(flows, codes, strict=True):
        exchanged = answered({"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
                              "code_verifier": flow.verifier})
        assert exchanged.status_code == 200, exchanged.text
    assert 1 <= len(failed) <= 3  # the grant's pooled connection met dead, then no more
