"""Logging in through an upstream provider that misbehaves, or an attacker between: each answer is refused
with a clear page (never a 5xx), no session starts, and the attempt is in the audit trail (issue #14).

The provider here is a stand-in served over real HTTP, because a real provider does not mint the broken tokens
these cases need; the happy paths run against node oidc-provider in tests/e2e/test_upstream_vneid.py."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI, Form
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import delete, func, select, update

from app.audit.models import AuditEvent
from app.identity.models import Official
from app.settings import Settings
from app.store.models import SsoSession
from app.upstream.models import IdentityProvider, UpstreamLink
from tests.asgi_server import serving
from tests.kit import PASSWORD, Flow, Kit, forge_hmac, forge_unsigned, form_fields, run_cli

CLIENT_ID, CLIENT_SECRET = "sso-broker", "upstream-secret-0123456789"
PIN = "001085012345"
KEYS = [RSAKey.generate_key(2048, private=True) for _ in range(2)]  # made once: RSA generation is slow


@dataclass
class StandInProvider:
    """Discovery, keys and a token endpoint whose next ID token the test writes."""

    key: RSAKey = field(default_factory=lambda: KEYS[0])
    issuer: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    token: str | None = None  # a token written whole (alg none, HMAC)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                    "end_session_endpoint": f"{self.issuer}/logout",
                    "authorization_response_iss_parameter_supported": True}

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [{**self.key.as_dict(private=False), "kid": "k1", "alg": "RS256", "use": "sig"}]}

        @app.post("/token")
        def token(code: str = Form(), code_verifier: str = Form(""), grant_type: str = Form(""),
                  client_assertion: str = Form("")) -> dict[str, Any]:
            self.token_requests.append({"code": code, "code_verifier": code_verifier, "grant_type": grant_type,
                                        "client_assertion": client_assertion})
            return {"access_token": "at", "token_type": "Bearer", "id_token": self.token or self.sign(self.claims)}

        return app

    def sign(self, claims: dict[str, Any], alg: str = "RS256") -> str:
        return jwt.encode({"alg": alg, "kid": "k1"}, claims, self.key, algorithms=[alg])

    def id_claims(self, nonce: str, **extra: Any) -> dict[str, Any]:
        current = int(time.time())
        return {"iss": self.issuer, "aud": CLIENT_ID, "sub": "vneid-subject-1", "nonce": nonce, "iat": current,
                "exp": current + 300, "name": "Nguyễn Đình Hiếu", "acr": "LoA2",
                "personal_identification_number": PIN, **extra}


@pytest.fixture
def providers() -> Iterator[dict[str, StandInProvider]]:
    a, b = StandInProvider(KEYS[0]), StandInProvider(KEYS[1])
    with serving(a.app()) as url_a, serving(b.app()) as url_b:
        a.issuer, b.issuer = url_a, url_b
        yield {"vneid": a, "other": b}


@pytest.fixture
def kit(settings: Settings, providers: dict[str, StandInProvider], monkeypatch: pytest.MonkeyPatch) -> Iterator[Kit]:
    k = Kit(settings.model_copy(update={"upstream_allow_http_loopback": True}))
    monkeypatch.setenv("TEST_UPSTREAM_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("SSO_UPSTREAM_ALLOW_HTTP_LOOPBACK", "true")
    for name, provider in providers.items():
        run_cli(k.settings, ["idp", "add", name, "--profile", "vneid", "--issuer", provider.issuer, "--client-id",
                             CLIENT_ID, "--client-secret-env", "TEST_UPSTREAM_SECRET", "--display-name", name])
    yield k
    k.http.close()
    k.broker.db.dispose()


def official_with_pin(kit: Kit, username: str = "hieund", pin: str | None = PIN, **kw: Any) -> str:
    official_id = kit.official(username, **kw)
    with kit.broker.db.session() as s:  # the directory's CCCD attribute; tests/e2e syncs it from slapd
        s.execute(update(Official).where(Official.id == official_id).values(
            national_id_digest=kit.broker.box.lookup_digest(pin) if pin else None))
    return official_id


def start(kit: Kit, name: str = "vneid", http: TestClient | None = None) -> dict[str, str]:
    """The login button: the broker sends the browser to the provider; returns that request's parameters."""
    answer = (http or kit.http).get(f"/login/idp/{name}")
    assert answer.status_code == 303, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def come_back(kit: Kit, name: str, state: str, iss: str | None, http: TestClient | None = None,
              **extra: str) -> Any:
    params = {"code": "upstream-code", "state": state, **({"iss": iss} if iss else {}), **extra}
    return (http or kit.http).get(f"/login/idp/{name}/callback", params=params)


def assert_refused(kit: Kit, answer: Any, reason: str, status: int = 400) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert 'id="upstream-error"' in answer.text and 'href="/login"' in answer.text
    assert "sso_session" not in answer.headers.get("set-cookie", "")
    with kit.broker.db.session() as s:
        assert s.scalar(select(func.count()).select_from(SsoSession)) == 0
        outcomes = list(s.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "login.upstream")))
    assert reason in outcomes, outcomes


def test_the_request_carries_state_nonce_and_pkce_and_a_good_answer_signs_in(
        kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_id = official_with_pin(kit)
    vneid = providers["vneid"]
    sent = start(kit)
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["acr_values"] == "LoA2" and sent["redirect_uri"] == f"{kit.settings.issuer}/login/idp/vneid/callback"
    vneid.claims = vneid.id_claims(sent["nonce"])
    answer = come_back(kit, "vneid", sent["state"], vneid.issuer)
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
    assert vneid.token_requests[-1]["code_verifier"] and vneid.token_requests[-1]["grant_type"] == "authorization_code"
    with kit.broker.db.session() as s:
        link = s.get(UpstreamLink, ("vneid", "vneid-subject-1"))
        assert link is not None and link.official_id == official_id and link.method == "national_id"
    # the state is used once
    assert_refused(kit_without_sessions(kit), come_back(kit, "vneid", sent["state"], vneid.issuer), "state")


def kit_without_sessions(kit: Kit) -> Kit:
    with kit.broker.db.session() as s:
        s.execute(delete(SsoSession))
    return kit


def test_an_answer_from_another_provider_is_refused_as_a_mix_up(
        kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_with_pin(kit)
    vneid, other = providers["vneid"], providers["other"]
    sent = start(kit, "vneid")
    other.claims = other.id_claims(sent["nonce"])
    # the iss of the answer (RFC 9207) names B while the request went to A
    assert_refused(kit, come_back(kit, "vneid", sent["state"], other.issuer), "mix_up")
    # A's state delivered at B's callback
    sent = start(kit, "vneid")
    assert_refused(kit, come_back(kit, "other", sent["state"], other.issuer), "mix_up")
    # B's ID token returned by A's token endpoint (iss in the token)
    sent = start(kit, "vneid")
    vneid.token = other.sign(other.id_claims(sent["nonce"]))
    assert_refused(kit, come_back(kit, "vneid", sent["state"], vneid.issuer), "invalid_token")
    vneid.token = None
    sent = start(kit, "vneid")
    vneid.claims = vneid.id_claims(sent["nonce"], iss=other.issuer)
    assert_refused(kit, come_back(kit, "vneid", sent["state"], vneid.issuer), "mix_up")
    assert not other.token_requests  # no code was ever sent to the wrong provider


@pytest.mark.parametrize("case", ["alg_none", "hmac_with_secret", "expired", "issued_long_ago", "wrong_audience",
                                  "other_azp", "replayed_nonce", "no_iss_parameter"])
def test_a_bad_id_token_is_refused(kit: Kit, providers: dict[str, StandInProvider], case: str) -> None:
    official_with_pin(kit)
    vneid = providers["vneid"]
    earlier = start(kit)
    sent = start(kit)
    claims = vneid.id_claims(sent["nonce"])
    current = int(time.time())
    iss: str | None = vneid.issuer
    reason = {"alg_none": "invalid_token", "hmac_with_secret": "invalid_token", "expired": "expired",
              "issued_long_ago": "expired", "wrong_audience": "audience", "other_azp": "audience",
              "replayed_nonce": "nonce", "no_iss_parameter": "mix_up"}[case]
    if case == "alg_none":
        vneid.token = forge_unsigned(claims)
    elif case == "hmac_with_secret":
        vneid.token = forge_hmac(claims, CLIENT_SECRET.encode(), kid="k1")
    elif case == "expired":
        vneid.claims = {**claims, "exp": current - 3600, "iat": current - 4000}
    elif case == "issued_long_ago":
        vneid.claims = {**claims, "iat": current - 7200}
    elif case == "wrong_audience":
        vneid.claims = {**claims, "aud": "another-client"}
    elif case == "other_azp":
        vneid.claims = {**claims, "aud": [CLIENT_ID, "another-client"], "azp": "another-client"}
    elif case == "replayed_nonce":
        vneid.claims = vneid.id_claims(earlier["nonce"])  # a token minted for the other login
    else:
        vneid.claims, iss = claims, None  # the provider announced RFC 9207, the answer lacks iss
    assert_refused(kit, come_back(kit, "vneid", sent["state"], iss), reason)


def test_a_state_from_another_browser_and_a_cancelled_login_are_refused(
        kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_with_pin(kit)
    vneid = providers["vneid"]
    sent = start(kit)
    vneid.claims = vneid.id_claims(sent["nonce"])
    with TestClient(kit.app, base_url=kit.settings.issuer, follow_redirects=False) as attacker_browser:
        assert_refused(kit, come_back(kit, "vneid", sent["state"], vneid.issuer, http=attacker_browser), "state")
    assert not vneid.token_requests
    sent = start(kit)
    answer = kit.http.get("/login/idp/vneid/callback", params={"state": sent["state"], "error": "access_denied",
                                                               "iss": vneid.issuer})
    assert_refused(kit, answer, "upstream_error")
    assert "hủy" in answer.text  # Vietnamese by default: "cancelled or refused"


def test_an_e_mail_address_alone_never_links(kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_with_pin(kit, pin=None)  # same e-mail, no national id on record
    vneid = providers["vneid"]
    sent = start(kit)
    vneid.claims = vneid.id_claims(sent["nonce"], email="hieund@bacninh.gov.vn", personal_identification_number=None)
    answer = come_back(kit, "vneid", sent["state"], vneid.issuer)
    assert answer.status_code == 403 and 'id="not-linked"' in answer.text and 'id="link-by-password"' in answer.text
    with kit.broker.db.session() as s:
        assert s.scalar(select(func.count()).select_from(UpstreamLink)) == 0
        assert s.scalar(select(func.count()).select_from(SsoSession)) == 0


def test_an_identity_linked_to_one_official_is_not_linked_to_another(
        kit: Kit, providers: dict[str, StandInProvider]) -> None:
    """Two browsers hold an offer for the same upstream identity; the first official to confirm keeps it."""
    first, second = kit.official("hieund"), kit.official("lanptt", display_name="Phạm Thị Thu Lan",
                                                         email="lanptt@bacninh.gov.vn")
    vneid = providers["vneid"]
    browsers = [kit.http, TestClient(kit.app, base_url=kit.settings.issuer, follow_redirects=False)]
    offers = []
    for browser in browsers:
        sent = start(kit, http=browser)
        vneid.claims = vneid.id_claims(sent["nonce"], personal_identification_number=None)
        page = come_back(kit, "vneid", sent["state"], vneid.issuer, http=browser)
        assert page.status_code == 403
        offers.append(parse_qs(urlsplit(page.text.split('id="link-by-password"')[0].split('href="')[-1]
                                        .replace("&amp;", "&")).query)["next"][0])
    results = []
    for browser, offer, username in zip(browsers, offers, ("hieund", "lanptt"), strict=True):
        login = browser.get(f"/login?next={offer.replace('?', '%3F').replace('=', '%3D')}")
        signed_in = browser.post("/login", data={**form_fields(login.text), "username": username,
                                                 "password": PASSWORD})
        assert signed_in.status_code == 303 and signed_in.headers["location"].startswith("/account/links/confirm")
        confirm = browser.get(signed_in.headers["location"])
        assert 'id="confirm-link"' in confirm.text
        results.append(browser.post("/account/links/confirm", data=form_fields(confirm.text)).headers["location"])
    assert results == ["/account?msg=links_linked", "/account?msg=links_linked_elsewhere"]
    with kit.broker.db.session() as s:
        links = list(s.scalars(select(UpstreamLink)))
        assert [(link.official_id, link.method) for link in links] == [(first, "password")]
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "upstream.link",
                                                     AuditEvent.outcome == "linked_elsewhere")).one()
        assert refused.target == second
    browsers[1].close()
    # the portal lists the identity and unlinks it
    portal = browsers[0].get("/account")
    assert "Nguyễn Đình Hiếu" in portal.text.split('id="identities"')[1].split("</section>")[0]
    gone = browsers[0].post("/account/links/remove", data=form_fields(
        portal.text.split('action="/account/links/remove"')[1].split("</form>")[0]))
    assert gone.headers["location"] == "/account?msg=links_unlinked"
    with kit.broker.db.session() as s:
        assert s.scalar(select(func.count()).select_from(UpstreamLink)) == 0
        assert s.scalars(select(AuditEvent.target).where(AuditEvent.action == "upstream.unlink")).one() == first


def test_a_provider_that_is_down_gives_a_clear_page_and_password_login_still_works(kit: Kit) -> None:
    from tests.e2e.conftest import free_port

    run_cli(kit.settings, ["idp", "add", "down", "--issuer", f"http://127.0.0.1:{free_port()}", "--client-id",
                           CLIENT_ID, "--client-secret-env", "TEST_UPSTREAM_SECRET", "--display-name", "Bộ Nội vụ"])
    kit.official()
    page = kit.http.get("/login")
    assert 'id="idp-down"' in page.text and 'id="idp-vneid"' in page.text
    answer = kit.http.get("/login/idp/down")
    assert answer.status_code == 503 and "mật khẩu" in answer.text
    signed_in = kit.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    assert kit.http.get("/login/idp/nonexistent").status_code == 404


def test_back_channel_logout_tokens_are_checked(kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_with_pin(kit)
    vneid = providers["vneid"]
    sent = start(kit)
    vneid.claims = vneid.id_claims(sent["nonce"], sid="upstream-sid-1")
    assert come_back(kit, "vneid", sent["state"], vneid.issuer).status_code == 303
    assert kit.http.get("/account").status_code == 200
    current = int(time.time())
    good = {"iss": vneid.issuer, "aud": CLIENT_ID, "iat": current, "jti": secrets.token_hex(8),
            "sid": "upstream-sid-1", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    url = "/login/idp/vneid/backchannel-logout"
    for bad in ({**good, "nonce": "n"}, {**good, "events": {}}, {**good, "aud": "x"}, {**good, "iat": current - 9999},
                {k: v for k, v in good.items() if k != "sid"}):
        answer = kit.http.post(url, data={"logout_token": vneid.sign(bad)})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", bad
    assert kit.http.post(url, data={"logout_token": forge_unsigned(good)}).status_code == 400
    assert kit.http.post(url, data={"logout_token": "garbage"}).status_code == 400
    assert kit.http.get("/account").status_code == 200  # nothing above ended the session
    token = vneid.sign(good)
    assert kit.http.post(url, data={"logout_token": token}).status_code == 200
    assert kit.http.get("/account").status_code == 303  # the upstream session ended ours
    replay = kit.http.post(url, data={"logout_token": token})
    assert replay.status_code == 400 and "used before" in replay.json()["error_description"]


def test_configuration_errors_are_one_line(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    pkjwt = ["--client-auth", "private_key_jwt"]
    cases = [(["idp", "add", "x", "--issuer", "http://idp.example.vn", "--client-id", "c", *pkjwt], "https://"),
             (["idp", "add", "x", "--issuer", "https://idp.example.vn", "--client-id", "c"], "needs a client secret"),
             (["idp", "add", "x", "--issuer", "https://idp.example.vn", "--client-id", "c", "--alg", "HS256", *pkjwt],
              "id_token_alg"),
             (["idp", "add", "x", "--issuer", "https://idp.example.vn", "--client-id", "c", "--level", "LoA2",
               *pkjwt], "UPSTREAM=OURS"),
             (["idp", "add", "x", "--issuer", "https://idp.example.vn", "--client-id", "c", "--logo",
               "https://cdn.example.vn/logo.png", *pkjwt], "logo_url"),
             (["idp", "remove", "vneid"], "--yes"), (["idp", "test", "nope"], "no enabled identity provider")]
    saved = dict(os.environ)
    os.environ.update({"SSO_DATABASE_URL": kit.settings.database_url, "SSO_MASTER_KEY": kit.settings.master_key or "",
                       "SSO_DATA_DIR": str(kit.settings.data_dir), "SSO_ISSUER": kit.settings.issuer,
                       "SSO_UPSTREAM_ALLOW_HTTP_LOOPBACK": "false"})
    try:
        for argv, words in cases:
            capsys.readouterr()
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1 and words in err, (argv, err)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_providers_and_links_through_the_admin_api_and_the_configuration_file(
        kit: Kit, providers: dict[str, StandInProvider], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.admin_kit import build_province

    province = build_province(kit)
    prov, admin_a = province.client_for("prov"), province.client_for("admin_a")
    entry = {"issuer": providers["other"].issuer, "client_id": CLIENT_ID, "client_secret": "moha-secret",
             "display_name": "Bộ Nội vụ", "claims": {"national_id": "cccd"}, "levels": {"urn:moha:mfa": "mfa"}}
    assert admin_a.put("/admin/api/identity-providers/moha", json=entry).status_code == 403
    saved = prov.put("/admin/api/identity-providers/moha", json=entry)
    assert saved.status_code == 200, saved.text
    assert "moha-secret" not in saved.text and saved.json()["redirect_uri"].endswith("/login/idp/moha/callback")
    bad = prov.put("/admin/api/identity-providers/moha", json={**entry, "id_token_alg": "none"})
    assert bad.status_code == 400 and "id_token_alg" in bad.json()["message"]
    checks = prov.post("/admin/api/identity-providers/moha/test")
    assert checks.status_code == 200 and any("1 signing key(s) for RS256" in c for c in checks.json()["checks"])
    assert [p["name"] for p in prov.get("/admin/api/identity-providers").json()] == ["moha", "other", "vneid"]

    # an official of commune A logs in with VNeID, linked by CCCD; A's admin sees and removes the link
    target = province.officials["target_A"]
    with kit.broker.db.session() as s:
        s.execute(update(Official).where(Official.id == target).values(
            national_id_digest=kit.broker.box.lookup_digest(PIN)))
    vneid = providers["vneid"]
    sent = start(kit)
    vneid.claims = vneid.id_claims(sent["nonce"])
    assert come_back(kit, "vneid", sent["state"], vneid.issuer).status_code == 303
    links_url = f"/admin/api/officials/{target}/identity-links"
    assert [(x["provider"], x["method"]) for x in admin_a.get(links_url).json()] == [("vneid", "national_id")]
    assert province.client_for("help_a").delete(f"{links_url}/vneid/vneid-subject-1").status_code == 403
    assert admin_a.delete(f"{links_url}/vneid/vneid-subject-1").status_code == 204
    assert admin_a.get(links_url).json() == [] and admin_a.delete(f"{links_url}/vneid/x").status_code == 404
    assert prov.delete("/admin/api/identity-providers/moha").status_code == 204

    # the province's file: providers with their secret as a reference, planned, applied, exported as the same
    (tmp_path / "province.toml").write_text(f'''
[identity_providers.bo-tu-phap]
issuer = "{providers["other"].issuer}"
client_id = "{CLIENT_ID}"
client_secret = "env:TEST_UPSTREAM_SECRET"
display_name = "Bộ Tư pháp"
levels = {{ "LoA2" = "mfa" }}
''', encoding="utf-8")
    capsys.readouterr()
    run_cli(kit.settings, ["config", "plan", "-f", str(tmp_path / "province.toml")])
    assert "+ identity_providers.bo-tu-phap" in capsys.readouterr().out
    run_cli(kit.settings, ["config", "apply", "-f", str(tmp_path / "province.toml")])
    run_cli(kit.settings, ["config", "export", "-o", str(tmp_path / "export.toml")])
    exported = (tmp_path / "export.toml").read_text(encoding="utf-8")
    assert "[identity_providers.bo-tu-phap]" in exported and "env:SSO_SECRET_IDP_BO_TU_PHAP" in exported
    assert CLIENT_SECRET not in exported
    for name in ("BO_TU_PHAP", "VNEID", "OTHER"):  # the operator fills in the references
        monkeypatch.setenv(f"SSO_SECRET_IDP_{name}", CLIENT_SECRET)
    capsys.readouterr()
    run_cli(kit.settings, ["config", "plan", "-f", str(tmp_path / "export.toml")])
    planned = capsys.readouterr().out
    assert "identity_providers" not in planned.replace("= identity_providers", ""), planned
    with kit.broker.db.session() as s:
        saved_row = s.get(IdentityProvider, "bo-tu-phap")
        assert saved_row is not None and saved_row.config["levels"] == {"LoA2": "mfa"}
        assert kit.broker.box.open(saved_row.client_secret_sealed or "").decode() == CLIENT_SECRET


def test_private_key_jwt_toward_the_provider(kit: Kit, providers: dict[str, StandInProvider],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The broker authenticates to the provider with a key of its own: the provider gets the public half (from
    `idp add`, or /login/idp/NAME/jwks) and checks a signed assertion at the token endpoint."""
    from joserfc.jwk import import_key

    other = providers["other"]
    capsys.readouterr()
    run_cli(kit.settings, ["idp", "add", "other", "--profile", "vneid", "--issuer", other.issuer, "--client-id",
                           CLIENT_ID, "--client-auth", "private_key_jwt", "--display-name", "Bộ Nội vụ", "--json"])
    public = json.loads(capsys.readouterr().out)["public_jwk"]
    assert "d" not in public and kit.http.get("/login/idp/other/jwks").json() == {"keys": [public]}
    official_with_pin(kit)
    sent = start(kit, "other")
    other.claims = other.id_claims(sent["nonce"])
    assert come_back(kit, "other", sent["state"], other.issuer).status_code == 303
    assertion = jwt.decode(other.token_requests[-1]["client_assertion"], import_key(public), algorithms=["ES256"])
    claims = assertion.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID and claims["aud"] == f"{other.issuer}/token"
    assert claims["exp"] - claims["iat"] <= 60 and claims["jti"]


def test_idp_hint_sends_the_official_straight_to_the_provider(kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_with_pin(kit)
    client = kit.client("portal", first_party=True)
    flow = Flow(client)
    to_provider = kit.authorize(flow, kc_idp_hint="vneid")
    assert to_provider.status_code == 303 and to_provider.headers["location"].startswith("/login/idp/vneid?pending=")
    sent = start_from(kit, to_provider.headers["location"])
    vneid = providers["vneid"]
    vneid.claims = vneid.id_claims(sent["nonce"])
    back = come_back(kit, "vneid", sent["state"], vneid.issuer)
    assert back.status_code == 303 and back.headers["location"].startswith(client.redirect_uri + "?code=")
    run_cli(kit.settings, ["services", "add", "van-ban", "--prefix", "https://vanban.bacninh.gov.vn/"])
    with TestClient(kit.app, base_url=kit.settings.issuer, follow_redirects=False) as browser:
        cas = browser.get("/cas/login", params={"service": "https://vanban.bacninh.gov.vn/", "idp_hint": "vneid"})
        assert cas.status_code == 303 and cas.headers["location"].startswith("/login/idp/vneid?pending=")
        assert browser.get("/cas/login", params={"service": "https://vanban.bacninh.gov.vn/",
                                                 "idp_hint": "nope"}).status_code == 200  # unknown: the login page


def start_from(kit: Kit, path: str) -> dict[str, str]:
    answer = kit.http.get(path)
    assert answer.status_code == 303, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def test_signing_out_here_signs_out_at_the_provider_and_comes_back_where_the_application_asked(
        kit: Kit, providers: dict[str, StandInProvider]) -> None:
    official_with_pin(kit)
    vneid = providers["vneid"]
    client = kit.client("portal", first_party=True)
    flow = Flow(client)
    sent = start_from(kit, kit.authorize(flow, idp_hint="vneid").headers["location"])
    vneid.claims = vneid.id_claims(sent["nonce"])
    code = parse_qs(urlsplit(come_back(kit, "vneid", sent["state"], vneid.issuer).headers["location"]).query)
    id_token = kit.exchange(flow, code["code"][0]).json()["id_token"]
    out = kit.http.get("/oauth2/logout", params={"id_token_hint": id_token, "state": "rp-state",
                                                 "post_logout_redirect_uri": "https://app.example.gov.vn/bye"})
    assert out.status_code == 303 and out.headers["location"].startswith(f"{vneid.issuer}/logout?")
    at_provider = {k: v[0] for k, v in parse_qs(urlsplit(out.headers["location"]).query).items()}
    assert at_provider["post_logout_redirect_uri"] == f"{kit.settings.issuer}/login/idp/vneid/signed-out"
    assert at_provider["id_token_hint"].count(".") == 2 and at_provider["client_id"] == CLIENT_ID
    assert kit.http.get("/account").status_code == 303  # our session ended before the browser left
    back = kit.http.get("/login/idp/vneid/signed-out", params={"state": at_provider["state"]})
    assert back.status_code == 303 and back.headers["location"] == "https://app.example.gov.vn/bye?state=rp-state"
    forged = at_provider["state"].rsplit(".", 1)[0] + ".0000"
    assert kit.http.get("/login/idp/vneid/signed-out", params={"state": forged}).status_code == 200  # no redirect
    # CAS logout of an upstream session goes by the provider too
    sent = start(kit)
    vneid.claims = vneid.id_claims(sent["nonce"])
    assert come_back(kit, "vneid", sent["state"], vneid.issuer).status_code == 303
    cas_out = kit.http.get("/cas/logout")
    assert cas_out.status_code == 303 and cas_out.headers["location"].startswith(f"{vneid.issuer}/logout?")


def test_back_channel_logouts_are_not_throttled_like_password_pages(settings: Settings) -> None:
    """One provider ending many sessions sends many logout tokens from one address; the login pages' limit
    (2 a minute here) would refuse them and keep sessions alive."""
    limited = Kit(settings.model_copy(update={"rate_limit_auth_per_minute": 2}))
    try:
        answers = [limited.http.post("/login/idp/vneid/backchannel-logout", data={"logout_token": "x"}).status_code
                   for _ in range(5)]
        assert answers == [400] * 5
        logins = [limited.http.post("/login", data={"username": "a", "password": "b"}).status_code for _ in range(3)]
        assert logins[-1] == 429  # the password page still is
    finally:
        limited.http.close()
        limited.broker.db.dispose()
