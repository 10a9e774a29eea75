"""RP-initiated logout and back-channel logout to every relying party of the session."""

from __future__ import annotations

import threading
from http.server import HTTPServer
from urllib.parse import urlencode

from app.settings import Settings
from tests.kit import Flow, Kit, callback_params, form_fields, jose_verify


def test_logout_with_hint_redirects_and_tells_every_relying_party(kit: Kit, receiver) -> None:  # type: ignore[no-untyped-def]
    url, received = receiver
    sub = kit.official()
    docs = kit.client("docs", first_party=True, backchannel_logout_uri=url)
    mail = kit.client("mail", first_party=True, backchannel_logout_uri=url,
                      redirect_uri="https://mail.example.gov.vn/cb")
    bystander = kit.client("other", first_party=True, backchannel_logout_uri=url,
                           redirect_uri="https://other.example.gov.vn/cb")
    docs_tokens = kit.tokens(Flow(docs), scope="openid offline_access")
    session_bound = kit.tokens(Flow(mail), scope="openid")
    sid = jose_verify(kit, docs_tokens["id_token"], "docs")["sid"]
    query = urlencode({"id_token_hint": docs_tokens["id_token"], "state": "s1",
                       "post_logout_redirect_uri": "https://app.example.gov.vn/bye"})
    response = kit.http.get(f"/oauth2/logout?{query}")
    assert response.status_code == 303
    assert response.headers["location"] == "https://app.example.gov.vn/bye?state=s1"
    assert len(received) == 2  # docs and mail took part; "other" did not
    audiences = set()
    for token in received:
        claims = jose_verify(kit, token, None)
        assert claims["sub"] == sub and claims["sid"] == sid
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert "nonce" not in claims
        audiences.add(claims["aud"])
    assert audiences == {"docs", "mail"} and bystander.client_id not in audiences
    # the session is gone, and with it the refresh tokens that were not offline_access
    prompt_none = kit.authorize(Flow(docs), prompt="none")
    assert callback_params(prompt_none.headers["location"], docs.redirect_uri)["error"] == "login_required"
    assert kit.introspect(mail, session_bound["access_token"]) == {"active": False}
    assert kit.introspect(docs, docs_tokens["refresh_token"])["active"] is True  # offline_access survives


def test_logout_without_hint_asks_first(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    kit.login_for_code(Flow(client))
    page = kit.http.get("/oauth2/logout")
    assert page.status_code == 200 and 'name="confirm"' in page.text
    prompt_none = kit.authorize(Flow(client), prompt="none")
    assert "code" in callback_params(prompt_none.headers["location"], client.redirect_uri)  # still logged in
    forged = kit.http.post("/oauth2/logout", data={"confirm": "yes", "csrf_token": "forged"})
    assert 'name="confirm"' in forged.text
    done = kit.http.post("/oauth2/logout", data=form_fields(page.text))
    assert done.status_code == 200
    prompt_none = kit.authorize(Flow(client), prompt="none")
    assert callback_params(prompt_none.headers["location"], client.redirect_uri)["error"] == "login_required"


def test_unregistered_post_logout_redirect_is_refused(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client))
    for uri in ("https://evil.example/", "https://app.example.gov.vn/bye/x"):
        query = urlencode({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": uri})
        response = kit.http.get(f"/oauth2/logout?{query}")
        assert response.status_code == 400 and "location" not in response.headers


def test_logout_with_a_forged_hint_is_refused(kit: Kit) -> None:
    from tests.kit import forge_unsigned

    response = kit.http.get("/oauth2/logout?" + urlencode({"id_token_hint": forge_unsigned({"sub": "x"})}))
    assert response.status_code == 400


def test_unreachable_backchannel_endpoint_does_not_block_logout(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True, backchannel_logout_uri="http://127.0.0.1:9/nothing-listens")
    tokens = kit.tokens(Flow(client))
    response = kit.http.get("/oauth2/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert response.status_code == 200


def test_a_relying_party_that_was_down_is_told_when_it_is_back(settings: Settings) -> None:
    """The logout queue (issue #13): a back-channel logout that fails is kept and retried by the worker, and
    each result shows in the audit trail under the application's name."""
    import socket
    import time

    from tests.conftest import _Receiver
    from tests.kit import run_cli

    kit = Kit(settings.model_copy(update={"logout_retry_seconds": 1}))  # the first retry after a second
    with socket.socket() as probe:  # a port nobody listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kit.official()
    client = kit.client("late", first_party=True, backchannel_logout_uri=f"http://127.0.0.1:{port}/bc")
    tokens = kit.tokens(Flow(client))
    assert kit.http.get("/oauth2/logout?" + urlencode({"id_token_hint": tokens["id_token"]})).status_code == 200
    received: list[str] = []
    server = HTTPServer(("127.0.0.1", port), type("Handler", (_Receiver,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        time.sleep(1.5)  # the first retry waits logout_retry_seconds
        run_cli(kit.settings, ["worker", "--once"])
    finally:
        server.shutdown()
    (logout_token,) = received
    claims = jose_verify(kit, logout_token, audience="late")
    assert claims["sub"] == tokens_subject(kit, tokens) and "http://schemas.openid.net/event/backchannel-logout" \
        in claims["events"]
    with kit.broker.db.session() as s:
        from sqlalchemy import select

        from app.audit.models import AuditEvent

        events = [(e.action, e.details["application"], e.details["attempts"]) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("logout.%")).order_by(AuditEvent.seq))]
    assert events == [("logout.delayed", "late", 1), ("logout.delivered", "late", 2)]


def tokens_subject(kit: Kit, tokens: dict[str, str]) -> str:
    return str(jose_verify(kit, tokens["id_token"], audience=None)["sub"])


def test_the_paths_wso2_integrations_hard_code(kit: Kit) -> None:
    """Apps moved from WSO2 Identity Server keep their discovery and logout paths."""
    assert kit.http.get("/oauth2/token/.well-known/openid-configuration").json() == \
        kit.http.get("/.well-known/openid-configuration").json()
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client))
    bye = kit.http.get("/oidc/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                    "post_logout_redirect_uri": "https://app.example.gov.vn/bye"}))
    assert bye.status_code == 303 and bye.headers["location"] == "https://app.example.gov.vn/bye"
    assert 'name="password"' in kit.authorize(Flow(client)).text  # signed out


def test_front_channel_logout_for_a_relying_party_the_broker_cannot_reach(kit: Kit) -> None:
    """OpenID Connect Front-Channel Logout 1.0: the sign-out page has the browser load the RP's URI."""
    import re
    from urllib.parse import parse_qs, urlsplit

    from tests.kit import REDIRECT, Client, run_cli

    kit.official()
    run_cli(kit.settings, ["client", "add", "noi-mang", "--auth-method", "none", "--first-party", "--redirect-uri",
                           REDIRECT, "--frontchannel-logout-uri", "https://noimang.bacninh.gov.vn/fc"])
    tokens = kit.tokens(Flow(Client("noi-mang", None)))
    sid = jose_verify(kit, tokens["id_token"], audience="noi-mang")["sid"]
    assert kit.http.get("/.well-known/openid-configuration").json()["frontchannel_logout_session_supported"]
    page = kit.http.get("/cas/logout")
    (frame,) = [u.replace("&amp;", "&") for u in re.findall(r'<iframe class="frontchannel" src="([^"]+)"', page.text)]
    assert frame.startswith("https://noimang.bacninh.gov.vn/fc?")
    assert parse_qs(urlsplit(frame).query) == {"iss": ["https://sso.test"], "sid": [sid]}
    assert "frame-src https://noimang.bacninh.gov.vn" in page.headers["content-security-policy"]
