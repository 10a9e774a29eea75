"""UserInfo, introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from tests.kit import Flow, Kit


def test_userinfo_get_and_post(kit: Kit) -> None:
    sub = kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client), scope="openid profile email phone groups")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    got = kit.http.get("/oauth2/userinfo", headers=bearer)
    assert got.status_code == 200
    claims = got.json()
    assert claims["sub"] == sub and claims["email"] == "hieund@bacninh.gov.vn"
    assert claims["phone_number"] == "+84912000001" and claims["groups"] == ["cb-so-ttt"]
    assert [p["code"] for p in claims["unit"]["path"]] == ["bac-ninh", "so-ttt"]
    posted = kit.http.post("/oauth2/userinfo", headers=bearer)
    assert posted.json() == claims
    in_body = kit.http.post("/oauth2/userinfo", data={"access_token": tokens["access_token"]})
    assert in_body.json() == claims


def test_userinfo_releases_only_granted_scopes(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client), scope="openid")
    claims = kit.http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert set(claims) == {"sub"}


def test_userinfo_refuses_bad_tokens(kit: Kit) -> None:
    client = kit.client("svc", grant_types=["client_credentials", "authorization_code"])
    cc = kit.http.post("/oauth2/token", auth=client.auth, data={"grant_type": "client_credentials"}).json()
    for header in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
                   {"Authorization": f"Bearer {cc['access_token']}"}):
        response = kit.http.get("/oauth2/userinfo", headers=header)
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer"), header


def test_disabled_official_loses_userinfo_and_refresh(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client), scope="openid offline_access")
    from tests.kit import leave

    leave(kit.settings, "hieund")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert kit.http.get("/oauth2/userinfo", headers=bearer).status_code == 401
    refresh = kit.http.post("/oauth2/token", auth=client.auth,
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"


def test_introspection_for_a_resource_server(kit: Kit) -> None:
    sub = kit.official()
    client = kit.client(first_party=True)
    mail_server = kit.client("dovecot", grant_types=["client_credentials"], redirect_uri="https://m.example/cb")
    tokens = kit.tokens(Flow(client), scope="openid email offline_access")
    info = kit.introspect(mail_server, tokens["access_token"])
    assert info["active"] is True and info["sub"] == sub and info["client_id"] == client.client_id
    assert info["email"] == "hieund@bacninh.gov.vn" and info["username"] == "hieund"
    assert info["scope"] == "openid email offline_access"
    # refresh tokens: only to the client that holds them
    assert kit.introspect(mail_server, tokens["refresh_token"]) == {"active": False}
    assert kit.introspect(client, tokens["refresh_token"])["active"] is True
    assert kit.introspect(mail_server, "garbage") == {"active": False}
    unauthenticated = kit.http.post("/oauth2/introspect", data={"token": tokens["access_token"]})
    assert unauthenticated.status_code == 401


def test_public_client_cannot_introspect(kit: Kit) -> None:
    kit.official()
    spa = kit.client("spa", auth_method="none", first_party=True)
    flow = Flow(spa)
    tokens = kit.exchange(flow, kit.login_for_code(flow)["code"]).json()
    response = kit.http.post("/oauth2/introspect", data={"token": tokens["access_token"], "client_id": "spa"})
    assert response.json()["error"] == "invalid_client"


def test_revoking_an_access_token(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client))
    assert kit.http.post("/oauth2/revoke", auth=client.auth,
                         data={"token": tokens["access_token"], "token_type_hint": "access_token"}).status_code == 200
    assert kit.introspect(client, tokens["access_token"]) == {"active": False}
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert kit.http.get("/oauth2/userinfo", headers=bearer).status_code == 401


def test_revoking_a_refresh_token_ends_its_family(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client), scope="openid offline_access")
    assert kit.http.post("/oauth2/revoke", auth=client.auth, data={"token": tokens["refresh_token"]}).status_code == 200
    assert kit.introspect(client, tokens["access_token"]) == {"active": False}
    refresh = kit.http.post("/oauth2/token", auth=client.auth,
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"


def test_another_client_cannot_revoke_my_token(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    other = kit.client("other", first_party=True)
    tokens = kit.tokens(Flow(client), scope="openid offline_access")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert kit.http.post("/oauth2/revoke", auth=other.auth, data={"token": token}).status_code == 200
    assert kit.introspect(client, tokens["access_token"])["active"] is True
    assert kit.introspect(client, tokens["refresh_token"])["active"] is True


def test_revocation_errors(kit: Kit) -> None:
    client = kit.client()
    assert kit.http.post("/oauth2/revoke", auth=client.auth, data={}).json()["error"] == "invalid_request"
    hint = kit.http.post("/oauth2/revoke", auth=client.auth, data={"token": "x", "token_type_hint": "bogus"})
    assert hint.json()["error"] == "unsupported_token_type"
    assert kit.http.post("/oauth2/revoke", auth=client.auth, data={"token": "unknown"}).status_code == 200
