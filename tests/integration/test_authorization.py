"""The authorization endpoint: redirect URIs, PKCE, prompt, max_age, hints, consent, iss (RFC 9207)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from tests.kit import Flow, Kit, callback_params, forge_hmac, forge_unsigned, form_fields, jose_verify


def test_code_is_returned_with_state_and_iss(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    flow = Flow(client)
    params = kit.login_for_code(flow)
    assert params["state"] == flow.state
    assert params["iss"] == kit.settings.issuer
    assert len(params["code"]) > 30


def test_login_page_is_served_for_a_valid_request(kit: Kit) -> None:
    kit.official()
    page = kit.authorize(Flow(kit.client()))
    assert page.status_code == 200
    assert 'name="password"' in page.text and 'name="csrf_token"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(kit: Kit) -> None:
    client = kit.client()
    for uri in ("https://evil.example/callback", client.redirect_uri + "/extra", client.redirect_uri + "?x=1",
                client.redirect_uri.upper(), ""):
        response = kit.http.get("/oauth2/authorize?" + urlencode(Flow(client).params(redirect_uri=uri)))
        assert response.status_code == 400, uri
        assert "location" not in response.headers
        assert "invalid_request" in response.text


def test_unknown_client_gets_an_error_page(kit: Kit) -> None:
    client = kit.client()
    flow = Flow(client)
    response = kit.http.get("/oauth2/authorize?" + urlencode(flow.params(client_id="nobody")))
    assert response.status_code == 400
    assert "invalid_client" in response.text


def test_errors_go_back_to_a_valid_redirect_uri_with_state_and_iss(kit: Kit) -> None:
    client = kit.client()
    flow = Flow(client)
    response = kit.authorize(flow, response_type="token")
    assert response.status_code == 303
    params = callback_params(response.headers["location"], client.redirect_uri)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == flow.state and params["iss"] == kit.settings.issuer


def test_scope_outside_the_clients_allowance_is_refused(kit: Kit) -> None:
    client = kit.client(scopes=["openid", "profile"])
    response = kit.authorize(Flow(client), scope="openid profile email")
    assert response.status_code == 303
    assert callback_params(response.headers["location"], client.redirect_uri)["error"] == "invalid_scope"


def test_pkce_is_required_and_plain_is_refused(kit: Kit) -> None:
    client = kit.client()
    no_pkce = kit.authorize(Flow(client), code_challenge=None, code_challenge_method=None)
    assert callback_params(no_pkce.headers["location"], client.redirect_uri)["error"] == "invalid_request"
    flow = Flow(client)
    plain = kit.authorize(flow, code_challenge=flow.verifier, code_challenge_method="plain")
    assert callback_params(plain.headers["location"], client.redirect_uri)["error"] == "invalid_request"
    implicit_plain = kit.authorize(flow, code_challenge=flow.verifier, code_challenge_method=None)
    assert callback_params(implicit_plain.headers["location"], client.redirect_uri)["error"] == "invalid_request"


def test_confidential_client_may_opt_out_of_pkce(kit: Kit) -> None:
    kit.official()
    client = kit.client(require_pkce=False, first_party=True)
    flow = Flow(client)
    params = kit.login_for_code(flow, code_challenge=None, code_challenge_method=None)
    response = kit.exchange(flow, params["code"], code_verifier=None)
    assert response.status_code == 200, response.text


def test_public_client_cannot_opt_out_of_pkce(kit: Kit) -> None:
    client = kit.client("spa", auth_method="none", require_pkce=False, first_party=True)
    response = kit.authorize(Flow(client), code_challenge=None, code_challenge_method=None)
    assert callback_params(response.headers["location"], client.redirect_uri)["error"] == "invalid_request"


def test_scope_without_openid_is_refused(kit: Kit) -> None:
    client = kit.client()
    response = kit.authorize(Flow(client), scope="profile")
    assert callback_params(response.headers["location"], client.redirect_uri)["error"] == "invalid_scope"


def test_prompt_none_without_session_is_login_required(kit: Kit) -> None:
    client = kit.client()
    flow = Flow(client)
    response = kit.authorize(flow, prompt="none")
    params = callback_params(response.headers["location"], client.redirect_uri)
    assert params["error"] == "login_required" and params["iss"] == kit.settings.issuer
    assert params["state"] == flow.state


def test_single_sign_on_second_client_needs_no_login(kit: Kit) -> None:
    kit.official()
    first = kit.client("docs", first_party=True)
    second = kit.client("mail", first_party=True, redirect_uri="https://mail.example.gov.vn/cb")
    kit.login_for_code(Flow(first))
    response = kit.authorize(Flow(second), prompt="none")
    assert "code" in callback_params(response.headers["location"], second.redirect_uri)


def test_prompt_login_and_max_age_force_a_new_login(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    kit.login_for_code(Flow(client))
    assert 'name="password"' in kit.authorize(Flow(client), prompt="login").text
    time.sleep(1.1)
    assert 'name="password"' in kit.authorize(Flow(client), max_age="0").text
    flow = Flow(client)
    params = kit.login_for_code(flow, max_age="0")
    tokens = kit.exchange(flow, params["code"]).json()
    claims = jose_verify(kit, tokens["id_token"], client.client_id)
    assert abs(claims["auth_time"] - time.time()) < 5


def test_invalid_max_age_is_refused(kit: Kit) -> None:
    client = kit.client()
    response = kit.authorize(Flow(client), max_age="-1")
    assert callback_params(response.headers["location"], client.redirect_uri)["error"] == "invalid_request"


def test_forged_id_token_hint_is_refused(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client))
    real = jose_verify(kit, tokens["id_token"], client.client_id)
    signer = kit.broker.keys.ring().signer("RS256", int(time.time()))
    public_pem = RSAKey.import_key(signer.public_jwk).as_pem(private=False)
    for forged in (forge_unsigned(real), forge_hmac(real, public_pem, signer.kid), forge_hmac(real, public_pem)):
        response = kit.authorize(Flow(client), id_token_hint=forged, prompt="none")
        params = callback_params(response.headers["location"], client.redirect_uri)
        assert params["error"] == "invalid_request", forged


def test_id_token_hint_for_another_official_forces_login(kit: Kit) -> None:
    kit.official()
    kit.official("maitt", display_name="Trần Thị Mai")
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client), username="maitt")
    kit.http.cookies.clear()
    kit.login_for_code(Flow(client))  # now logged in as hieund
    response = kit.authorize(Flow(client), prompt="none", id_token_hint=tokens["id_token"])
    assert callback_params(response.headers["location"], client.redirect_uri)["error"] == "login_required"


def test_third_party_consent_is_asked_remembered_and_revocable(kit: Kit) -> None:
    kit.official()
    client = kit.client("third")
    page = kit.submit_login(kit.authorize(Flow(client)))
    assert 'name="decision"' in page.text and "third" in page.text
    assert "code" in callback_params(kit.submit_consent(page).headers["location"], client.redirect_uri)
    again = kit.authorize(Flow(client))
    assert again.status_code == 303  # remembered
    asked_again = kit.authorize(Flow(client), prompt="consent")
    assert asked_again.status_code == 200
    # consenting again in the same session (the client already took part in it) issues a code
    assert "code" in callback_params(kit.submit_consent(asked_again).headers["location"], client.redirect_uri)
    account = kit.http.get("/account")
    assert "third" in account.text
    kit.http.post("/account/consents/third/revoke", data={"csrf_token": form_fields(account.text)["csrf_token"]})
    assert 'name="decision"' in kit.authorize(Flow(client)).text
    response = kit.authorize(Flow(client), prompt="none")
    assert callback_params(response.headers["location"], client.redirect_uri)["error"] == "consent_required"


def test_denied_consent_returns_access_denied(kit: Kit) -> None:
    kit.official()
    client = kit.client("third")
    flow = Flow(client)
    page = kit.submit_login(kit.authorize(flow))
    params = callback_params(kit.submit_consent(page, "deny").headers["location"], client.redirect_uri)
    assert params["error"] == "access_denied" and params["state"] == flow.state


def test_first_party_client_skips_consent(kit: Kit) -> None:
    kit.official()
    client = kit.client("docs", first_party=True)
    response = kit.submit_login(kit.authorize(Flow(client)))
    assert response.status_code == 303


def test_pending_request_is_bound_to_the_browser(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    page = kit.authorize(Flow(client))
    fields = form_fields(page.text)
    kit.http.cookies.clear()
    fresh = kit.http.get("/login")
    hijack = kit.http.post("/login", data={**form_fields(fresh.text), "pending": fields["pending"],
                                           "username": "hieund", "password": "Mật-khẩu@2025"})
    assert hijack.status_code == 400 and "expired" in hijack.text




def test_a_client_limited_to_units_refuses_other_officials(kit: Kit) -> None:
    """The access rule every application has (issue #13), for OIDC clients registered with the CLI."""
    from tests.kit import REDIRECT, Client, run_cli

    kit.official()
    run_cli(kit.settings, ["client", "add", "noi-bo", "--auth-method", "none", "--first-party",
                           "--redirect-uri", REDIRECT, "--unit", "so-tai-chinh"])
    refused = kit.login_for_code(Flow(Client("noi-bo", None)))
    assert refused["error"] == "access_denied" and "code" not in refused
    run_cli(kit.settings, ["client", "add", "mo", "--auth-method", "none", "--first-party",
                           "--redirect-uri", REDIRECT, "--unit", "bac-ninh"])  # the province: every unit below it
    assert "code" in kit.login_for_code(Flow(Client("mo", None)))


def test_two_authorizations_of_one_session_at_once_both_get_a_code(kit: Kit) -> None:
    """Found by bench/protocols.py: two tabs of one signed-in browser authorizing the same client at the same
    moment both recorded the session's participant; the second insert failed with a 500."""
    import threading

    from app.db import insert_once
    from app.store.models import SessionClient

    kit.official()
    client = kit.client(first_party=True)
    kit.login_for_code(Flow(client))
    with kit.broker.db.session() as s:
        sid = s.scalar(select(SessionClient.sid))
    errors: list[BaseException] = []

    def record() -> None:
        try:
            with kit.broker.db.session() as s:
                insert_once(s, SessionClient, {"sid": sid, "client_id": client.client_id})
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with kit.broker.db.session() as s:
        assert s.scalar(select(func.count()).select_from(SessionClient)) == 1
