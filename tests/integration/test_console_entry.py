"""First contact with the console (issue #11 §4): the demo's admin signs in from /admin and lands back there,
asked to set up a second factor; an official without a role is told how an admin is made."""

from __future__ import annotations

from app.demo import DEMO_ADMIN, DEMO_PASSWORD, install_demo
from tests.kit import Kit, form_fields


def test_signing_in_from_the_console_returns_to_it(kit: Kit) -> None:
    with kit.broker.db.session() as s:
        install_demo(s, kit.clients, kit.settings.issuer)
    to_login = kit.http.get("/admin/officials")
    assert to_login.status_code == 303 and to_login.headers["location"] == "/login?next=/admin/officials"
    page = kit.http.get(to_login.headers["location"])
    assert 'name="next" value="/admin/officials"' in page.text
    signed_in = kit.http.post("/login", data={**form_fields(page.text), "username": DEMO_ADMIN,
                                              "password": DEMO_PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/officials"
    step_up = kit.http.get("/admin/officials")
    assert step_up.status_code == 303 and step_up.headers["location"].startswith("/login/mfa?c=")
    enrol = kit.http.get(step_up.headers["location"], headers={"Accept-Language": "en"})
    assert enrol.status_code == 200 and ("otpauth://" in enrol.text or "authenticator" in enrol.text.lower())


def test_an_official_without_a_role_is_told_how_admins_are_made(kit: Kit) -> None:
    with kit.broker.db.session() as s:
        install_demo(s, kit.clients, kit.settings.issuer)
    page = kit.http.get("/login?next=https://evil.example/")
    assert 'name="next"' not in page.text  # only a path of our own
    kit.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": DEMO_PASSWORD})
    refused = kit.http.get("/admin/officials", headers={"Accept-Language": "en"})
    assert refused.status_code == 403
    assert "Access denied" in refused.text and "sso-broker admin grant" in refused.text
    launcher = kit.http.get("/account")
    assert f'href="{kit.settings.issuer}/demo-app"' in launcher.text  # the demo app is in the launcher


def test_the_api_reference_is_served(kit: Kit) -> None:
    page = kit.http.get("/docs", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and 'href="/openapi.json"' in page.text
    assert "/admin/api/officials" in page.text and "/oauth2/token" in page.text and "/scim/v2/" in page.text
    assert "Tài liệu API" in kit.http.get("/docs", headers={"Accept-Language": "vi"}).text
