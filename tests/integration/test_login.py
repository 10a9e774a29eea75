"""The login page: CSRF, cookies, throttling, no user enumeration, Unicode usernames, languages."""

from __future__ import annotations

import unicodedata

from app.main import create_app
from tests.kit import PASSWORD, Flow, Kit, form_fields


def test_session_cookie_is_opaque_httponly_secure_lax_and_renewed(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    page = kit.authorize(Flow(client))
    response = kit.submit_login(page)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-sso_session="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "secure" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    first = kit.http.cookies.get("__Host-sso_session")
    assert first and "." not in first  # opaque, not a JWT
    relogin = kit.submit_login(kit.authorize(Flow(client), prompt="login"))
    assert relogin.status_code == 303
    assert kit.http.cookies.get("__Host-sso_session") != first


def test_login_without_csrf_token_is_refused(kit: Kit) -> None:
    kit.official()
    page = kit.authorize(Flow(kit.client(first_party=True)))
    fields = form_fields(page.text)
    fields["csrf_token"] = "0" * 64
    response = kit.http.post("/login", data={**fields, "username": "hieund", "password": PASSWORD})
    assert response.status_code == 403 and "__Host-sso_session" not in response.headers.get("set-cookie", "")


def test_wrong_password_and_unknown_user_look_the_same(kit: Kit) -> None:
    kit.official()
    page = kit.authorize(Flow(kit.client(first_party=True)))
    wrong = kit.submit_login(page, "hieund", "wrong-password")
    unknown = kit.submit_login(page, "nobody", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda text: text.replace("hieund", "X").replace("nobody", "X")  # noqa: E731
    assert strip(wrong.text.split('name="csrf_token"')[0]) == strip(unknown.text.split('name="csrf_token"')[0])


def test_empty_password_never_logs_in(kit: Kit) -> None:
    kit.official(password=None)
    page = kit.authorize(Flow(kit.client(first_party=True)))
    assert kit.submit_login(page, "hieund", "").status_code == 401


def test_lockout_after_repeated_failures_survives_a_restart(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    page = kit.authorize(Flow(client))
    for _ in range(kit.settings.lockout_account_failures):
        assert kit.submit_login(page, "hieund", "nope").status_code == 401
    locked = kit.submit_login(page, "hieund", PASSWORD)
    assert locked.status_code == 429 and "phút" in locked.text
    # a second process on the same database sees the same lock
    from fastapi.testclient import TestClient

    other = TestClient(create_app(kit.settings), base_url=kit.settings.issuer, follow_redirects=False)
    other_page = other.get("/login")
    again = other.post("/login", data={**form_fields(other_page.text), "username": "HIEUND", "password": PASSWORD})
    assert again.status_code == 429
    other.close()


def test_unknown_names_lock_the_same_way(kit: Kit) -> None:
    page = kit.authorize(Flow(kit.client(first_party=True)))
    statuses = [kit.submit_login(page, "ghost", "nope").status_code
                for _ in range(kit.settings.lockout_account_failures + 1)]
    assert statuses[-1] == 429


def test_vietnamese_username_in_nfd_and_upper_case(kit: Kit) -> None:
    kit.official("hiếu.nđ", display_name="Nguyễn Đình Hiếu")
    client = kit.client(first_party=True)
    page = kit.authorize(Flow(client))
    typed = unicodedata.normalize("NFD", "HIẾU.NĐ")
    assert kit.submit_login(page, typed, PASSWORD).status_code == 303


def test_pages_speak_vietnamese_by_default_and_english_on_request(kit: Kit) -> None:
    client = kit.client(first_party=True)
    vi = kit.authorize(Flow(client))
    assert 'lang="vi"' in vi.text and "Đăng nhập" in vi.text and "Mật khẩu" in vi.text
    en = kit.authorize(Flow(client), ui_locales="en-US vi")
    assert 'lang="en"' in en.text and "Sign in" in en.text and "Password" in en.text
    header = kit.http.get("/login", headers={"Accept-Language": "en;q=0.9"})
    assert "Sign in" in header.text


def test_login_page_is_accessible_and_mobile_ready(kit: Kit) -> None:
    page = kit.http.get("/login")
    assert 'name="viewport"' in page.text
    assert '<label for="username">' in page.text and 'id="username"' in page.text
    assert 'autocomplete="current-password"' in page.text


def test_direct_login_lands_on_the_account_page(kit: Kit) -> None:
    kit.official()
    page = kit.http.get("/login")
    response = kit.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": PASSWORD})
    assert response.headers["location"] == "/account"
    assert "Nguyễn Đình Hiếu" in kit.http.get("/account").text


def test_idle_and_absolute_timeouts_end_the_session(kit: Kit) -> None:
    from sqlalchemy import update

    from app.store.models import SsoSession
    from tests.kit import callback_params

    kit.official()
    client = kit.client(first_party=True)
    kit.login_for_code(Flow(client))
    ok = kit.authorize(Flow(client), prompt="none")
    assert "code" in callback_params(ok.headers["location"], client.redirect_uri)
    with kit.broker.db.session() as s:
        idle_for = kit.settings.session_idle_timeout + 5
        s.execute(update(SsoSession).values(last_seen_at=SsoSession.last_seen_at - idle_for))
    idle = kit.authorize(Flow(client), prompt="none")
    assert callback_params(idle.headers["location"], client.redirect_uri)["error"] == "login_required"
    kit.login_for_code(Flow(client), prompt="login")
    with kit.broker.db.session() as s:
        s.execute(update(SsoSession).values(expires_at=SsoSession.created_at))
    expired = kit.authorize(Flow(client), prompt="none")
    assert callback_params(expired.headers["location"], client.redirect_uri)["error"] == "login_required"


def test_per_address_throttle_across_many_names(settings) -> None:  # type: ignore[no-untyped-def]
    kit = Kit(settings.model_copy(update={"lockout_ip_failures": 4, "lockout_account_failures": 100}))
    try:
        page = kit.http.get("/login")
        statuses = [kit.submit_login(page, f"guess{i}", "nope").status_code for i in range(5)]
        assert statuses[:4] == [401] * 4 and statuses[4] == 429
    finally:
        kit.http.close()
        kit.broker.db.dispose()
