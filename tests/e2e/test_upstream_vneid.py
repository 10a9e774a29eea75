"""Log in with VNeID (issue #14), from the outside only: the `sso-broker` command, HTTP and the protocols, with a
real OpenID provider upstream (node oidc-provider, its own login form, releasing a personal identification
number, name, date of birth and an acr of LoA1 or LoA2, as a national e-ID provider would; the national VNeID
specification is not public, so this is a real provider configured as one, not VNeID). No fixture writes a row.

A directory (a real slapd) holds the officials and their CCCD; an upstream identity never creates an official.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
from jose import jwt as jose_jwt
from ldap3 import MODIFY_REPLACE

from tests.directory_kit import ADMIN_PW, PASSWORD, Slapd
from tests.e2e.conftest import NODE_DIR, LiveBroker, free_port, start_server
from tests.e2e.test_operator_day_one import Operator
from tests.kit import form_fields, pkce_pair

REDIRECT = "https://portal.bacgiang.gov.vn/callback"
SECRET = "upstream-client-secret-0123456789"
PINS = {"vneid-lan": "001085012345", "vneid-minh": "001090000001", "vneid-hoa": "001099999999"}


def start_upstream(tmp_path: Path, broker: str, op_port: int) -> subprocess.Popen[bytes]:
    """The provider on `op_port`, with the broker at `broker` registered as its client."""
    base = f"{broker}/login/idp/vneid"
    accounts = {
        "vneid-lan": {"acr": "LoA2", "amr": ["pwd", "otp"]},  # level 2: counted as two factors here
        "vneid-minh": {"acr": "LoA1", "amr": ["pwd"]},
        "vneid-hoa": {"acr": "LoA1", "amr": ["pwd"]},  # a CCCD the directory does not hold
    }
    config = {"port": op_port, "issuer": f"http://127.0.0.1:{op_port}", "clients": [{
        "client_id": "sso-broker", "client_secret": SECRET, "redirect_uris": [f"{base}/callback"],
        "post_logout_redirect_uris": [f"{base}/signed-out"], "backchannel_logout_uri": f"{base}/backchannel-logout",
        "backchannel_logout_session_required": True, "grant_types": ["authorization_code"],
        "response_types": ["code"]}],
        "accounts": {login: {**a, "password": "Vneid@2025", "claims": {
            "name": f"Công dân {login}", "birthdate": "1985-03-01", "personal_identification_number": PINS[login]}}
            for login, a in accounts.items()}}
    path = tmp_path / "upstream.json"
    path.write_text(json.dumps(config))
    log = (tmp_path / "upstream.log").open("wb")
    proc = subprocess.Popen(["node", str(NODE_DIR / "upstream_op.mjs"), str(path)], cwd=NODE_DIR,
                            stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"listening"
    return proc


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The provider, registered for a broker that will listen on `broker_port`."""
    op_port, broker_port = free_port(), free_port()
    broker = f"http://127.0.0.1:{broker_port}"
    proc = start_upstream(tmp_path, broker, op_port)
    yield {"issuer": f"http://127.0.0.1:{op_port}", "broker": broker, "broker_port": broker_port}
    proc.terminate()
    proc.wait(timeout=10)


def follow(browser: httpx.Client, response: httpx.Response, stop: str) -> httpx.Response:
    """A browser following redirects across the broker and the provider, until an address starting with `stop`
    (the application's callback), or a page."""
    while response.status_code in (302, 303) and not response.headers["location"].startswith(stop):
        response = browser.get(urljoin(str(response.url), response.headers["location"]))
    return response


def upstream_login(browser: httpx.Client, response: httpx.Response, login: str) -> httpx.Response:
    """From the broker's redirect to the provider, through the provider's own login form, back."""
    page = follow(browser, response, REDIRECT)
    if 'name="login"' in page.text:  # the provider's form; absent when the provider still has a session
        action = re.search(r'action="([^"]+)"', page.text)
        assert action, page.text
        answer = browser.post(urljoin(str(page.url), action.group(1)), data={"login": login, "password": "Vneid@2025"})
        page = follow(browser, answer, REDIRECT)
    return page


def authorize(browser: httpx.Client, issuer: str, **extra: str) -> tuple[httpx.Response, str]:
    verifier, challenge = pkce_pair()
    response = browser.get(f"{issuer}/oauth2/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT, "scope": "openid profile",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256", **extra}))
    return response, verifier


def provider_form(browser: httpx.Client, page: httpx.Response) -> httpx.Response:
    """oidc-provider's logout confirmation: submit it ("yes, sign me out")."""
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
    assert action and xsrf, page.text[:500]
    return browser.post(urljoin(str(page.url), action.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"})


def test_log_in_with_vneid_linking_levels_and_logout_both_ways(
        database_url: str, master_key: str, directories: dict[str, Slapd], upstream: dict[str, Any],
        tmp_path: Path) -> None:
    bg = directories["bacgiang"]
    lan, minh, hoa = bg.uids()[5], bg.uids()[6], bg.uids()[7]
    with bg.admin() as ldap:  # the directory keeps each official's CCCD (in employeeNumber, in this province)
        for uid, login in ((lan, "vneid-lan"), (minh, "vneid-minh")):
            ldap.modify(bg.dn_of(uid), {"employeeNumber": [(MODIFY_REPLACE, [PINS[login]])]})
    issuer = upstream["broker"]
    # The suite's master key: the database keeps its signing keys between tests.
    env = {**os.environ, "SSO_DATABASE_URL": database_url, "SSO_MASTER_KEY": master_key,
           "SSO_DATA_DIR": str(tmp_path), "SSO_ISSUER": issuer, "SSO_UPSTREAM_ALLOW_HTTP_LOOPBACK": "true",
           "SSO_RATE_LIMIT_AUTH_PER_MINUTE": "100000"}
    op = Operator(env)
    op.run("migrate")
    source = bg.source_config()
    op.run("directory", "add", "bacgiang", "--url", str(source["urls"][0]),  # type: ignore[index]
           "--bind-dn", str(source["bind_dn"]), "--bind-password-stdin", "--people-base", str(source["people_base"]),
           "--units-base", str(source["units_base"]), "--national-id-attribute", "employeeNumber", stdin=ADMIN_PW)
    op.json("directory", "sync", "bacgiang", "--full")
    added = op.run("idp", "add", "vneid", "--profile", "vneid", "--issuer", upstream["issuer"], "--client-id",
                   "sso-broker", "--client-secret-stdin", "--display-name", "VNeID", "--display-name-en",
                   "VNeID (national e-ID)", "--level", "LoA2=mfa", stdin=SECRET + "\n")
    assert f"redirect URI {issuer}/login/idp/vneid/callback" in added
    checks = op.run("idp", "test", "vneid")
    assert f"ok  issuer {upstream['issuer']}" in checks and "signing key(s) for RS256" in checks
    assert SECRET not in op.run("idp", "list", "--json") and SECRET not in op.run("audit", "export", "--format", "json")
    client = op.json("client", "add", "portal", "--redirect-uri", REDIRECT, "--first-party", "--require-mfa")
    server = start_server(env, upstream["broker_port"], tmp_path / "broker.log")
    try:
        with httpx.Client(timeout=30) as page_browser:
            login_page = page_browser.get(f"{issuer}/login")
            assert 'id="idp-vneid"' in login_page.text and ">VNeID</a>" in login_page.text.replace("\n    ", "")
            page_browser.cookies.set("lang", "en")
            assert "VNeID (national e-ID)" in page_browser.get(f"{issuer}/login").text

        # 1. Level 2, linked on first login by the CCCD both sides hold; a client requiring MFA is content.
        lan_browser = httpx.Client(timeout=30)
        response, verifier = authorize(lan_browser, issuer, idp_hint="vneid")
        assert response.status_code == 303 and response.headers["location"].startswith("/login/idp/vneid?")
        back = upstream_login(lan_browser, response, "vneid-lan")
        assert back.status_code == 303 and back.headers["location"].startswith(REDIRECT), back.text[:300]
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        tokens = httpx.post(f"{issuer}/oauth2/token", auth=("portal", client["client_secret"]), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        jwks = httpx.get(f"{issuer}/oauth2/jwks").json()
        claims = jose_jwt.decode(tokens.json()["id_token"], jwks, audience="portal", issuer=issuer,
                                 options={"verify_at_hash": False})
        assert "fed" in claims["amr"] and "mfa" in claims["amr"] and claims["acr"] == "urn:sso-broker:acr:mfa"
        linked = op.json("idp", "links", f"{lan}@bacgiang")
        assert [(x["provider"], x["method"]) for x in linked] == [("vneid", "national_id")]

        # 2. Level 1 counts as a password: the same client asks for a second factor (TOTP, set up first).
        with httpx.Client(timeout=30) as minh_browser:
            response, _ = authorize(minh_browser, issuer, idp_hint="vneid")
            mfa_page = upstream_login(minh_browser, response, "vneid-minh")
            assert urlsplit(str(mfa_page.url)).path == "/login/mfa" and mfa_page.status_code == 200
            assert 'name="code"' in mfa_page.text and 'id="totp-secret"' in mfa_page.text  # set up TOTP, then its code

        # 3. A CCCD no official holds: refused with a clear page, then linked by signing in with the password.
        hoa_browser = httpx.Client(timeout=30)
        refused = upstream_login(hoa_browser, hoa_browser.get(f"{issuer}/login/idp/vneid"), "vneid-hoa")
        assert refused.status_code == 403 and 'id="not-linked"' in refused.text
        link = re.search(r'href="([^"]+)" id="link-by-password"', refused.text)
        assert link
        login_form = hoa_browser.get(urljoin(issuer, link.group(1).replace("&amp;", "&")))
        signed_in = hoa_browser.post(f"{issuer}/login", data={
            **form_fields(login_form.text), "username": f"{hoa}@bacgiang", "password": PASSWORD})
        assert signed_in.status_code == 303 and signed_in.headers["location"].startswith("/account/links/confirm")
        confirm = hoa_browser.get(f"{issuer}{signed_in.headers['location']}")
        done = hoa_browser.post(f"{issuer}/account/links/confirm", data=form_fields(confirm.text))
        assert done.headers["location"] == "/account?msg=links_linked"
        portal = hoa_browser.get(f"{issuer}/account")
        assert 'id="identities"' in portal.text and "Công dân vneid-hoa" in portal.text
        hoa_browser.close()
        with httpx.Client(timeout=30) as again:  # the next time, VNeID alone signs hoa in
            back = upstream_login(again, again.get(f"{issuer}/login/idp/vneid"), "vneid-hoa")
            assert urlsplit(str(back.url)).path == "/account" and "Công dân vneid-hoa" in back.text  # hoa's portal
            # 4. Signing out here signs out at the provider too (RP-initiated, with our ID token as the hint)
            out = again.post(f"{issuer}/account/sessions/end-all", data=form_fields(
                again.get(f"{issuer}/account").text.split('action="/account/sessions/end-all"')[1]))
            assert out.status_code == 303 and out.headers["location"].startswith(f"{upstream['issuer']}/session/end?")
            confirm_page = follow(again, out, REDIRECT)
            finished = follow(again, provider_form(again, confirm_page), REDIRECT)
            assert finished.status_code == 200 and str(finished.url).startswith(f"{issuer}/login/idp/vneid/signed-out")
            assert again.get(f"{issuer}/account").status_code == 303  # our session is gone
            relogin = follow(again, again.get(f"{issuer}/login/idp/vneid"), REDIRECT)
            assert 'name="login"' in relogin.text  # and the provider's: it asks for the password again

        # 5. Signing out at the provider ends our session (back-channel logout)
        assert lan_browser.get(f"{issuer}/account").status_code == 200
        end = follow(lan_browser, lan_browser.get(f"{upstream['issuer']}/session/end"), REDIRECT)
        assert provider_form(lan_browser, end).headers["location"].endswith("/session/end/success")
        deadline = time.monotonic() + 10
        while lan_browser.get(f"{issuer}/account").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lan_browser.get(f"{issuer}/account").status_code == 303
        lan_browser.close()
        trail = op.run("audit", "export", "--format", "json")
        for action in ("login.upstream", "upstream.link", "logout.upstream"):
            assert action in trail, action
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_pages_of_an_upstream_login_in_a_real_browser(  # type: ignore[no-untyped-def]
        page, localhost_broker: LiveBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium: the VNeID button, the provider's form, the "not linked" page, the password sign-in and the
    confirmation, then the portal listing the identity; in Vietnamese, and the confirmation in English."""
    from tests.e2e.test_browser import PASSWORD as BROWSER_PASSWORD
    from tests.e2e.test_browser import seed_official
    from tests.kit import run_cli

    op_port = free_port()
    proc = start_upstream(tmp_path, localhost_broker.issuer, op_port)
    try:
        seed_official(localhost_broker)
        monkeypatch.setenv("SSO_UPSTREAM_ALLOW_HTTP_LOOPBACK", "true")
        monkeypatch.setenv("TEST_VNEID_SECRET", SECRET)
        run_cli(localhost_broker.settings, ["idp", "add", "vneid", "--profile", "vneid", "--issuer",
                                            f"http://127.0.0.1:{op_port}", "--client-id", "sso-broker",
                                            "--client-secret-env", "TEST_VNEID_SECRET", "--display-name", "VNeID",
                                            "--display-name-en", "VNeID (national e-ID)"])
        page.goto("/login")
        page.click("#idp-vneid")
        page.fill("input[name=login]", "vneid-hoa")
        page.fill("input[name=password]", "Vneid@2025")
        page.click("button")
        page.wait_for_selector("#not-linked")
        assert "Công dân vneid-hoa" in page.inner_text("#not-linked") and "chưa được liên kết" in page.content()
        page.click("#link-by-password")
        page.fill("#username", "hieund")
        page.fill("#password", BROWSER_PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_selector("#confirm-link")
        assert "Liên kết danh tính Công dân vneid-hoa từ VNeID" in page.inner_text("#confirm-text")
        page.click("a[href^='/lang?to=en']")
        page.wait_for_selector("#confirm-link")
        assert "Link the identity Công dân vneid-hoa from VNeID (national e-ID)" in page.inner_text("#confirm-text")
        page.click("#confirm-link")
        page.wait_for_selector("#identities")
        assert "Công dân vneid-hoa" in page.inner_text("#identities") and "Unlink" in page.inner_text("#identities")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        run_cli(localhost_broker.settings, ["idp", "remove", "vneid", "--yes"])
