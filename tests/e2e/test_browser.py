"""The portal and MFA in a real headless Chromium (Debian's, driven by Playwright): TOTP enrolment and
login, a passkey registered with Chromium's virtual authenticator and used to log in, and "sign out
everywhere" ending a real relying party's session (Apache mod_auth_openidc, back-channel logout).

The broker is served as http://localhost:PORT: WebAuthn needs a secure context and a domain as RP ID.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.applications.clients import ClientService, ClientSpec
from app.identity.service import NewOfficial, add_official, ensure_unit
from app.mfa import totp
from app.store.models import SsoSession
from tests.e2e.conftest import LiveBroker, free_port

PASSWORD = "Mật-khẩu@2025"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


def seed_official(live: LiveBroker) -> None:
    with live.broker.db.session() as s:
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        ensure_unit(s, "xa-hiep-hoa", "Xã Hiệp Hòa", "bac-ninh", "commune")
        add_official(s, NewOfficial("hieund", "Nguyễn Đình Hiếu", PASSWORD, "hieund@bacninh.gov.vn",
                                    title="Chuyên viên", unit_code="xa-hiep-hoa"))


def log_in_with_password(tab, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    tab.fill("#username", "hieund")
    tab.fill("#password", password)
    tab.click("form[action='/login'] button[type=submit]")


def step() -> int:
    return int(time.time() // totp.STEP)


def test_enrol_totp_log_out_and_log_in_with_the_code(page, localhost_broker: LiveBroker) -> None:  # type: ignore[no-untyped-def]
    seed_official(localhost_broker)
    page.goto("/login")
    assert page.locator("h1").inner_text() == "Đăng nhập một lần cho mọi hệ thống"  # Vietnamese by default
    log_in_with_password(page)
    page.wait_for_url("**/account")
    page.click("#totp-setup")
    secret = page.locator("#totp-secret").inner_text()
    assert page.locator("img.qr").is_visible()
    page.fill("#code", totp.code_at(secret, step()))
    page.click("form[action='/account/totp/confirm'] button")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    page.click("#continue")
    page.wait_for_url("**/account")
    assert page.locator("text=Đang bật").is_visible()

    page.click("form[action='/oauth2/logout'] button")
    page.wait_for_load_state()
    page.goto("/login")
    log_in_with_password(page)
    page.wait_for_url("**/login/mfa*")
    page.fill("#code", "000000" if totp.code_at(secret, step()) != "000000" else "111111")
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    assert page.locator("#mfa-error").is_visible()  # a wrong code is refused, in Vietnamese
    assert "Mã không đúng" in page.locator("#mfa-error").inner_text()
    page.fill("#code", totp.code_at(secret, step() + 1))
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    page.wait_for_url("**/account")
    # In English on request, on the same page.
    page.click("a.lang")
    page.wait_for_url("**/account")
    assert page.locator("#sessions h2").inner_text() == "Sessions"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 400


def test_register_a_passkey_and_log_in_with_it(page, localhost_broker: LiveBroker) -> None:  # type: ignore[no-untyped-def]
    seed_official(localhost_broker)
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    page.goto("/login")
    log_in_with_password(page)
    page.wait_for_url("**/account")
    page.fill("#passkey-name", "Điện thoại")
    page.click("#passkey-register")
    page.wait_for_selector("#passkeys li")
    assert "Điện thoại" in page.locator("#passkeys").inner_text()

    page.context.clear_cookies()
    page.goto("/login")
    page.click("#passkey")  # passwordless: the authenticator holds a discoverable credential
    page.wait_for_url("**/account")
    with localhost_broker.broker.db.session() as s:
        sessions = s.scalars(select(SsoSession)).all()
        assert len(sessions) == 2  # the password login, then the passkey login (cookies were cleared)
        passkey = [row for row in sessions if "hwk" in row.amr]
        assert len(passkey) == 1 and passkey[0].acr.endswith(":phr") and "pwd" not in passkey[0].amr


@pytest.fixture
def apache_rp(localhost_broker: LiveBroker) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    redirect = f"{base}/protected/redirect_uri"
    with localhost_broker.broker.db.session() as s:
        _, secret = ClientService(localhost_broker.broker.clients).add(s, ClientSpec(
            client_id="apache-rp", name="Cổng dịch vụ công", redirect_uris=[redirect], first_party=True,
            backchannel_logout_uri=f"{redirect}?logout=backchannel", launch_url=f"{base}/protected/"))
    env = {**os.environ, "APACHE_OIDC_DIR": f"/tmp/sso-broker-apache-{port}", "APACHE_OIDC_PORT": str(port),
           "OIDC_PROVIDER_METADATA_URL": f"{localhost_broker.issuer}/.well-known/openid-configuration",
           "OIDC_CLIENT_ID": "apache-rp", "OIDC_CLIENT_SECRET": str(secret), "OIDC_REDIRECT_URI": redirect,
           "OIDC_REMOTE_USER_CLAIM": "preferred_username"}
    subprocess.run(["bash", str(SCRIPTS / "apache-oidc-start.sh")], env=env, check=True, timeout=120,
                   capture_output=True)
    yield base
    subprocess.run(["bash", str(SCRIPTS / "apache-oidc-stop.sh")], env=env, timeout=30, capture_output=True)


def test_sign_out_everywhere_ends_the_relying_partys_session(page, localhost_broker: LiveBroker,  # type: ignore[no-untyped-def]
                                                             apache_rp: str) -> None:
    seed_official(localhost_broker)
    page.goto(f"{apache_rp}/protected/")
    page.wait_for_url(f"{localhost_broker.issuer}/**")
    log_in_with_password(page)
    page.wait_for_url(f"{apache_rp}/protected/**")
    assert "user: hieund" in page.content()
    page.goto("/account")
    assert page.locator("#apps a", has_text="Cổng dịch vụ công").is_visible()  # the launcher
    page.click("#sign-out-everywhere")
    page.wait_for_url("**/login")
    # Apache was told over the back channel: its own session cookie no longer lets us in.
    page.goto(f"{apache_rp}/protected/")
    page.wait_for_url(re.compile(rf"^{re.escape(localhost_broker.issuer)}/"))
    assert page.locator("#password").is_visible()
