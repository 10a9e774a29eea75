"""The portal (launcher, linked accounts, sessions) and account recovery (reset links, recovery e-mail)."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.identity.service import find_official
from app.mfa import totp
from app.mfa.models import AccountToken
from app.provisioning.models import AccountLink, ConnectorInstance
from app.store.models import SsoSession
from tests.kit import PASSWORD, Flow, Kit, form_fields, jose_verify


def portal_login(kit: Kit, http: TestClient | None = None, password: str = PASSWORD) -> Any:
    http = http or kit.http
    page = http.get("/login")
    return http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": password})


def test_launcher_shows_only_systems_the_official_holds_an_account_in(kit: Kit) -> None:
    official_id = kit.official()
    kit.client("docs", name="Quản lý văn bản", first_party=True, launch_url="https://docs.example.gov.vn/")
    kit.client("mail", name="Thư công vụ", first_party=True, launch_url="https://mail.example.gov.vn/",
               connector="mailbox")
    kit.client("hr", name="Nhân sự", first_party=True, launch_url="https://hr.example.gov.vn/", connector="hrdb")
    kit.client("api-only", first_party=True)
    with kit.broker.db.session() as s:
        for name in ("mailbox", "hrdb"):
            s.add(ConnectorInstance(name=name, kind="sql_table", config_sealed="x", rules={"all": True}))
        s.flush()
        s.add(AccountLink(official_id=official_id, connector="mailbox", key="hieund", state="active"))
        s.add(AccountLink(official_id=official_id, connector="hrdb", key="hieund", state="disabled"))
    portal_login(kit)
    page = kit.http.get("/account", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    apps = re.findall(r'<a href="([^"]+)" rel="noopener">', page.text)
    assert apps == ["https://docs.example.gov.vn/", "https://mail.example.gov.vn/"]
    assert "mailbox" in page.text and "state-disabled" in page.text  # linked accounts with their state
    vi = kit.http.get("/account", headers={"Accept-Language": "vi"})
    assert "Ứng dụng của tôi" in vi.text and "Đã vô hiệu hóa" in vi.text


def test_signing_out_another_device_and_then_everywhere(kit: Kit, receiver) -> None:  # type: ignore[no-untyped-def]
    url, received = receiver
    kit.official()
    client = kit.client(first_party=True, backchannel_logout_uri=url)
    phone = TestClient(kit.app, base_url=kit.settings.issuer, follow_redirects=False,
                       headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/120 Mobile"})
    portal_login(kit, phone)
    flow = Flow(client)
    kit.tokens(flow)  # the PC's session takes part in the relying party's login
    page = kit.http.get("/account")
    assert "Android" in page.text
    rows = re.findall(r'name="sid" value="([^"]+)"', page.text)
    assert len(rows) == 2
    with kit.broker.db.session() as s:
        phone_sid = s.scalars(select(SsoSession.sid).where(SsoSession.user_agent.like("%Android%"))).one()
    csrf = form_fields(page.text)["csrf_token"]
    assert kit.http.post("/account/sessions/end", data={"csrf_token": csrf, "sid": phone_sid}).status_code == 303
    assert phone.get("/account").headers["location"] == "/login"  # the phone is signed out
    assert kit.http.get("/account").status_code == 200  # this device is not
    assert received == []  # the phone's session had no relying party
    done = kit.http.post("/account/sessions/end-all", data={"csrf_token": csrf})
    assert done.headers["location"] == "/login"
    assert kit.http.get("/account").headers["location"] == "/login"
    assert len(received) == 1
    assert jose_verify(kit, received[0], client.client_id)["events"]
    phone.close()


def test_self_service_reset_through_a_verified_recovery_address(kit: Kit, smtp_outbox) -> None:  # type: ignore[no-untyped-def]
    port, outbox = smtp_outbox
    kit.broker.settings.smtp_host, kit.broker.settings.smtp_port = "127.0.0.1", port
    kit.official()
    portal_login(kit)
    csrf = form_fields(kit.http.get("/account").text)["csrf_token"]
    sent = kit.http.post("/account/recovery-email", data={"csrf_token": csrf, "email": "hieu.nd@gmail.com"})
    assert sent.headers["location"] == "/account?msg=email_sent"
    to, body = outbox.messages[-1]
    assert to == "hieu.nd@gmail.com"
    verify = body.strip().split(kit.settings.issuer)[1]
    assert kit.http.get(verify).headers["location"] == "/account?msg=email_verified"
    kit.http.cookies.clear()

    # The same answer for a known name, an unknown one, and one without a recovery address.
    answers = []
    for name in ("hieund", "nobody-here", "hieund"):
        page = kit.http.get("/reset")
        answers.append(kit.http.post("/reset", data={**form_fields(page.text), "username": name}))
    assert {a.status_code for a in answers} == {200}
    assert answers[0].text.replace(form_fields(answers[0].text)["csrf_token"], "") == \
        answers[1].text.replace(form_fields(answers[1].text)["csrf_token"], "")
    links = [b for t, b in outbox.messages if "/reset/" in b]
    assert len(links) == 2  # one per request for the real account, none for the unknown name
    link = links[-1].split(kit.settings.issuer)[1].split()[0]
    form = kit.http.get(link)
    assert form.status_code == 200 and 'name="code"' not in form.text
    short = kit.http.post(link, data={**form_fields(form.text), "new_password": "short", "new_password2": "short"})
    assert short.status_code == 400 and "10" in short.text
    new = "Mật-khẩu-mới-2026"
    done = kit.http.post(link, data={**form_fields(form.text), "new_password": new, "new_password2": new})
    assert done.status_code == 200 and 'id="reset-done"' in done.text
    assert kit.http.get(link).status_code == 400  # single use
    assert portal_login(kit, password=PASSWORD).status_code == 401
    assert portal_login(kit, password=new).headers["location"] == "/account"


def test_reset_requests_are_rate_limited(kit: Kit, smtp_outbox) -> None:  # type: ignore[no-untyped-def]
    port, outbox = smtp_outbox
    kit.broker.settings.smtp_host, kit.broker.settings.smtp_port = "127.0.0.1", port
    official_id = kit.official()
    with kit.broker.db.session() as s:
        official = s.get(type(find_official(s, "hieund")), official_id)
        official.recovery_email, official.recovery_email_verified_at = "a@b.vn", int(time.time())
    for _ in range(8):
        page = kit.http.get("/reset")
        assert kit.http.post("/reset", data={**form_fields(page.text), "username": "hieund"}).status_code == 200
    assert len(outbox.messages) == 5  # the account key locks after 5 requests in the window


def test_helpdesk_link_and_second_factor_on_self_service_links(kit: Kit) -> None:
    official_id = kit.official()
    with kit.broker.db.session() as s:
        official = find_official(s, "hieund")
        assert official is not None
        secret, _ = kit.broker.factors.totp_begin(s, official)
        kit.broker.factors.totp_confirm(s, official_id, totp.code_at(secret, int(time.time() // 30)))
        self_link = kit.broker.recovery.issue(s, official_id, "reset", "self-service")
        desk_link = kit.broker.recovery.issue(s, official_id, "reset", "helpdesk:lan")
    page = kit.http.get(f"/reset/{self_link}")
    assert 'name="code"' in page.text  # a mailbox alone is not enough for an account with a second factor
    new = "Mật-khẩu-mới-2026"
    refused = kit.http.post(f"/reset/{self_link}", data={**form_fields(page.text), "new_password": new,
                                                          "new_password2": new, "code": "000000"})
    assert refused.status_code == 400
    page = kit.http.get(f"/reset/{desk_link}")
    assert 'name="code"' not in page.text  # the helpdesk checked who called
    done = kit.http.post(f"/reset/{desk_link}", data={**form_fields(page.text), "new_password": new,
                                                       "new_password2": new})
    assert done.status_code == 200
    with kit.broker.db.session() as s:
        used = s.scalars(select(AccountToken).where(AccountToken.used_at.is_not(None))).all()
        assert [t.issued_by for t in used] == ["helpdesk:lan"]


def test_recovery_phone_is_verified_by_code_and_receives_the_reset_link(kit: Kit) -> None:
    """A stand-in SMS gateway (the broker's documented JSON contract) receives the texts."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    texts: list[dict[str, str]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            assert self.headers["Authorization"] == "Bearer gw-secret"
            texts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = kit.broker.settings
    settings.sms_gateway_url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    settings.sms_gateway_token = "gw-secret"
    try:
        kit.official()
        portal_login(kit)
        csrf = form_fields(kit.http.get("/account").text)["csrf_token"]
        sent = kit.http.post("/account/recovery-phone", data={"csrf_token": csrf, "phone": "+84 912 345 678"})
        assert sent.headers["location"] == "/account?msg=phone_code_sent"
        assert texts[-1]["to"] == "+84912345678"
        code = re.search(r"(\d{6})", texts[-1]["text"]).group(1)
        wrong = "000000" if code != "000000" else "111111"
        assert kit.http.post("/account/recovery-phone/confirm", data={"csrf_token": csrf, "code": wrong}).headers[
            "location"] == "/account?msg=phone_code_wrong"
        assert kit.http.post("/account/recovery-phone/confirm", data={"csrf_token": csrf, "code": code}).headers[
            "location"] == "/account?msg=phone_verified"
        assert "+84912345678" in kit.http.get("/account").text
        kit.http.cookies.clear()
        page = kit.http.get("/reset")
        kit.http.post("/reset", data={**form_fields(page.text), "username": "hieund"})
        link = re.search(r"(/reset/[\w-]+)", texts[-1]["text"]).group(1)
        assert kit.http.get(link).status_code == 200
    finally:
        settings.sms_gateway_url = ""
        server.shutdown()
