"""Sign out everywhere ends every token family of the official, offline grants included (issue #12 §1)."""

from __future__ import annotations

import re
from typing import Any

from tests.kit import Flow, Kit, form_fields


def _login(kit: Kit) -> None:
    page = kit.http.get("/login")
    kit.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": "Mật-khẩu@2025"})


def _refresh(kit: Kit, flow: Flow, token: str) -> Any:
    return kit.http.post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token},
                         auth=flow.client.auth)


def test_sign_out_everywhere_revokes_session_and_offline_grants(kit: Kit) -> None:
    kit.official()
    docs = kit.client("docs", first_party=True)
    mail = kit.client("mail", first_party=True, redirect_uri="https://mail.example.gov.vn/cb")
    docs_flow, mail_flow = Flow(docs), Flow(mail)
    session_bound = kit.tokens(docs_flow, scope="openid")
    offline = kit.tokens(mail_flow, scope="openid offline_access")
    page = kit.http.get("/account", headers={"Accept-Language": "en"})
    assert 'id="offline-grants"' in page.text and "mail" in page.text  # the offline grant is listed
    csrf = form_fields(page.text)["csrf_token"]
    done = kit.http.post("/account/sessions/end-all", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    for client, tokens in ((docs, session_bound), (mail, offline)):
        assert kit.introspect(client, tokens["access_token"]) == {"active": False}
        assert kit.introspect(client, tokens["refresh_token"]) == {"active": False}
    for flow, tokens in ((docs_flow, session_bound), (mail_flow, offline)):
        answer = _refresh(kit, flow, tokens["refresh_token"])
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_one_applications_offline_grant_is_revoked_from_the_portal(kit: Kit) -> None:
    kit.official()
    mail = kit.client("mail", name="Thư công vụ", first_party=True, redirect_uri="https://mail.example.gov.vn/cb")
    docs = kit.client("docs", name="Văn bản", first_party=True)
    mail_flow, docs_flow = Flow(mail), Flow(docs)
    mail_tokens = kit.tokens(mail_flow, scope="openid offline_access")
    docs_tokens = kit.tokens(docs_flow, scope="openid offline_access")
    page = kit.http.get("/account", headers={"Accept-Language": "vi"})
    assert "Thư công vụ" in page.text and "Văn bản" in page.text
    assert re.search(r'name="client_id" value="mail"', page.text)
    csrf = form_fields(page.text)["csrf_token"]
    forged = kit.http.post("/account/grants/revoke", data={"csrf_token": "wrong", "client_id": "mail"})
    assert forged.headers["location"] == "/account?msg=csrf"
    assert kit.introspect(mail, mail_tokens["refresh_token"])["active"] is True
    revoked = kit.http.post("/account/grants/revoke", data={"csrf_token": csrf, "client_id": "mail"})
    assert revoked.status_code == 303
    assert kit.introspect(mail, mail_tokens["refresh_token"]) == {"active": False}
    assert kit.introspect(mail, mail_tokens["access_token"]) == {"active": False}
    assert _refresh(kit, mail_flow, mail_tokens["refresh_token"]).status_code == 400
    assert kit.introspect(docs, docs_tokens["refresh_token"])["active"] is True  # the other app keeps its grant
    assert kit.http.get("/account").status_code == 200  # and this browser stays signed in
    after = kit.http.get("/account", headers={"Accept-Language": "en"})
    assert not re.search(r'name="client_id" value="mail"', after.text)


def test_helpdesk_ends_every_session_and_grant_of_an_official_in_their_unit(kit: Kit, receiver) -> None:  # type: ignore[no-untyped-def]
    from tests.admin_kit import build_province

    url, received = receiver
    province = build_province(kit)
    hieu = kit.official(unit_code="xa-a")
    mail = kit.client("mail", first_party=True, backchannel_logout_uri=url)
    tokens = kit.tokens(Flow(mail), scope="openid offline_access")
    other_commune = province.client_for("help_a")
    assert other_commune.post(f"/admin/api/officials/{province.officials['target_B']}/sessions/end").status_code == 404
    answer = other_commune.post(f"/admin/api/officials/{hieu}/sessions/end")
    assert answer.status_code == 204, answer.text
    assert kit.introspect(mail, tokens["refresh_token"]) == {"active": False}
    assert kit.introspect(mail, tokens["access_token"]) == {"active": False}
    assert kit.http.get("/account").headers["location"] == "/login"
    assert len(received) == 1  # the relying party of the session was told
    plain = province.client_for("plain_a")
    assert plain.post(f"/admin/api/officials/{hieu}/sessions/end").status_code in (403, 404)
