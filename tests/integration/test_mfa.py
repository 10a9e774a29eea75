"""Second factors: TOTP enrolment and login, replay and lockout, recovery codes, step-up, policy."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from app.identity.service import find_official
from app.mfa import totp
from app.oidc.acr import ACR_MFA, ACR_PASSWORD, ACR_PHISHING_RESISTANT
from tests.kit import Flow, Kit, callback_params, form_fields, jose_verify


def current_step() -> int:
    return int(time.time() // totp.STEP)


def enrol_in_portal(kit: Kit) -> tuple[str, list[str]]:
    """Log in to the portal and set up TOTP; returns the seed and the recovery codes."""
    page = kit.http.get("/login")
    assert kit.submit_login(page).status_code == 303
    account = kit.http.get("/account")
    setup = kit.http.post("/account/totp/setup", data={"csrf_token": form_fields(account.text)["csrf_token"]})
    assert setup.status_code == 200, setup.text[:300]
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', setup.text).group(1)
    assert 'src="data:image/svg+xml' in setup.text  # the QR code, as an inline image (CSP allows data:)
    done = kit.http.post("/account/totp/confirm", data={**form_fields(setup.text),
                                                        "code": totp.code_at(secret, current_step())})
    assert done.status_code == 200, done.text[:300]
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", done.text)
    assert len(codes) == 10
    return secret, codes


def logout(kit: Kit) -> None:
    kit.http.cookies.clear()


def password_step(kit: Kit, flow: Flow, **extra: str) -> str:
    """Authorize and give the password; returns the second-factor page's challenge URL."""
    page = kit.authorize(flow, **extra)
    reply = kit.submit_login(page)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login/mfa?c="), reply.text[:300]
    return reply.headers["location"]


def answer(kit: Kit, challenge_url: str, code: str, method: str = "totp") -> Any:
    page = kit.http.get(challenge_url)
    assert page.status_code == 200
    return kit.http.post("/login/mfa", data={**form_fields(page.text), "method": method, "code": code})


def test_totp_login_puts_mfa_in_the_id_token(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    secret, _ = enrol_in_portal(kit)
    logout(kit)
    flow = Flow(client)
    challenge = password_step(kit, flow)
    reply = answer(kit, challenge, totp.code_at(secret, current_step() + 1))
    assert reply.status_code == 303, reply.text[:300]
    code = callback_params(reply.headers["location"], client.redirect_uri)["code"]
    tokens = kit.exchange(flow, code).json()
    claims = jose_verify(kit, tokens["id_token"], client.client_id, access_token=tokens["access_token"])
    assert claims["acr"] == ACR_MFA
    assert set(claims["amr"]) == {"pwd", "otp", "mfa"}


def test_wrong_reused_and_expired_codes_are_refused(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    secret, _ = enrol_in_portal(kit)
    logout(kit)
    challenge = password_step(kit, Flow(client))
    expired = totp.code_at(secret, current_step() - 3)  # 90 s old: outside the one-step window
    assert answer(kit, challenge, expired).status_code == 401
    assert answer(kit, challenge, "000000" if totp.code_at(secret, current_step()) != "000000" else "111111"
                  ).status_code == 401
    good = totp.code_at(secret, current_step() + 1)
    assert answer(kit, challenge, good).status_code == 303
    # The same code, once more, in a second login: refused (RFC 6238 §5.2).
    logout(kit)
    challenge = password_step(kit, Flow(client))
    replay = answer(kit, challenge, good)
    assert replay.status_code == 401
    assert "role=\"alert\"" in replay.text


def test_repeated_wrong_codes_end_the_challenge_and_lock_the_account(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    secret, _ = enrol_in_portal(kit)
    logout(kit)
    challenge = password_step(kit, Flow(client))
    page = kit.http.get(challenge)
    fields = form_fields(page.text)
    statuses = [kit.http.post("/login/mfa", data={**fields, "code": "12345x"[:5] + str(i)}).status_code
                for i in range(5)]
    assert statuses[:4] == [401] * 4
    assert statuses[4] in (400, 429)  # the fifth failure ends the challenge, or the lockout comes first
    # The right code no longer helps: the challenge is gone.
    late = kit.http.post("/login/mfa", data={**fields, "code": totp.code_at(secret, current_step() + 1)})
    assert late.status_code == 400
    # And the account is locked for password logins too (5 failures per account name).
    again = kit.submit_login(kit.authorize(Flow(client)))
    assert again.status_code == 429


def test_a_recovery_code_works_once(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    _, codes = enrol_in_portal(kit)
    logout(kit)
    challenge = password_step(kit, Flow(client))
    assert answer(kit, challenge, codes[0].upper(), method="recovery").status_code == 303
    logout(kit)
    challenge = password_step(kit, Flow(client))
    assert answer(kit, challenge, codes[0], method="recovery").status_code == 401
    assert answer(kit, challenge, codes[1], method="recovery").status_code == 303


def test_client_that_requires_mfa_makes_an_official_enrol_at_login(kit: Kit) -> None:
    kit.official()
    client = kit.client("payroll", first_party=True, require_mfa=True)
    flow = Flow(client)
    page = kit.submit_login(kit.authorize(flow))
    assert page.status_code == 303 and page.headers["location"].startswith("/login/mfa")
    enrol = kit.http.get(page.headers["location"])
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text).group(1)
    codes_page = kit.http.post("/login/mfa", data={**form_fields(enrol.text),
                                                   "code": totp.code_at(secret, current_step())})
    assert codes_page.status_code == 200 and "recovery-codes" in codes_page.text
    next_url = re.search(r'id="continue" href="([^"]+)"', codes_page.text).group(1).replace("&amp;", "&")
    done = kit.http.get(next_url)
    assert done.status_code == 303, done.text[:300]
    code = callback_params(done.headers["location"], client.redirect_uri)["code"]
    claims = jose_verify(kit, kit.exchange(flow, code).json()["id_token"], client.client_id)
    assert claims["acr"] == ACR_MFA


def test_acr_values_steps_up_the_same_session(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    secret, _ = enrol_in_portal(kit)
    logout(kit)
    with kit.broker.db.session() as s:  # an SSO session from before: password only
        official = find_official(s, "hieund")
        cookie, sso = kit.broker.sessions.start(s, official.id, ACR_PASSWORD, ("pwd",), "127.0.0.1", "test")
    kit.http.cookies.set("__Host-sso_session", cookie, domain="sso.test")
    plain = Flow(client)
    code = kit.login_for_code(plain)["code"]
    first = jose_verify(kit, kit.exchange(plain, code).json()["id_token"], client.client_id)
    assert first["acr"] == ACR_PASSWORD

    strong = Flow(client)
    refused = kit.authorize(strong, acr_values=ACR_MFA, prompt="none")
    assert "error=interaction_required" in refused.headers["location"]
    step = kit.authorize(strong, acr_values=ACR_MFA)
    assert step.status_code == 303 and step.headers["location"].startswith("/login/mfa")
    reply = answer(kit, step.headers["location"], totp.code_at(secret, current_step() + 1))
    code = callback_params(reply.headers["location"], client.redirect_uri)["code"]
    raised = jose_verify(kit, kit.exchange(strong, code).json()["id_token"], client.client_id)
    assert raised["acr"] == ACR_MFA and raised["sid"] == first["sid"]  # the same session, raised
    assert raised["auth_time"] >= first["auth_time"]

    # A passkey-only class cannot be met by TOTP: the client hears so.
    phr = kit.authorize(Flow(client), acr_values=ACR_PHISHING_RESISTANT)
    assert "error=unmet_authentication_requirements" in phr.headers["location"]


def test_unit_policy_requires_mfa_for_its_whole_subtree(settings, kit: Kit) -> None:  # type: ignore[no-untyped-def]
    kit.broker.settings.mfa_required_units.append("bac-ninh")
    try:
        kit.official()  # in so-ttt, under bac-ninh
        reply = kit.submit_login(kit.http.get("/login"))
        assert reply.headers["location"].startswith("/login/mfa")
    finally:
        kit.broker.settings.mfa_required_units.clear()


def test_second_factor_page_is_bound_to_the_browser(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    enrol_in_portal(kit)
    logout(kit)
    challenge = password_step(kit, Flow(client))
    from fastapi.testclient import TestClient

    with TestClient(kit.app, base_url=kit.settings.issuer, follow_redirects=False) as other:
        assert other.get(challenge).status_code == 400


def test_removing_a_factor_needs_a_recent_login(kit: Kit) -> None:
    kit.official()
    enrol_in_portal(kit)
    account = kit.http.get("/account")
    with kit.broker.db.session() as s:
        from sqlalchemy import update

        from app.store.models import SsoSession

        s.execute(update(SsoSession).values(auth_time=SsoSession.auth_time - 3600))
    reply = kit.http.post("/account/totp/remove", data={"csrf_token": form_fields(account.text)["csrf_token"]})
    assert reply.headers["location"] == "/account?msg=reauth"
    with kit.broker.db.session() as s:
        official = find_official(s, "hieund")
        assert kit.broker.factors.factors(s, official.id).totp


@pytest.mark.parametrize("step,code,expected", [(1, "287082", True), (37037036, "081804", True),
                                                 (1, "287083", False)])
def test_totp_matches_rfc_6238_vectors(step: int, code: str, expected: bool) -> None:
    # RFC 6238 Appendix B, SHA-1 seed "12345678901234567890"; the vectors are 8 digits, we use the last 6.
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert (totp.code_at(secret, step) == code) is expected
