"""The login and consent pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.audit.trail import Actor, record
from app.auth.authenticator import Outcome
from app.identity.models import Official
from app.mfa.challenges import open_challenge
from app.mfa.policy import policy_requires_mfa, required_units
from app.observability import LOGINS
from app.services.authorization import AuthorizationFlow, ShowError
from app.services.recovery import find_by_login_name
from app.web.common import (
    broker_of,
    browser_id,
    client_ip,
    form_pairs,
    local_path,
    remember_browser,
    render,
    session_cookie,
    set_cookie,
)
from app.web.i18n import Translator
from app.web.oidc_routes import NO_STORE, outcome_response

router = APIRouter()
MAX_FIELD = 256


@router.get("/login", include_in_schema=False)
async def login_page(request: Request, next: str = "") -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    response = render(request, "login.html", pending="", client_name="", username="", error=None,
                      next_url=local_path(next, ""), csrf_token=broker.csrf_token(bid))
    remember_browser(response, request, bid, new)
    return response


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, new = browser_id(request)
    pending = form.get("pending", "")[:MAX_FIELD]
    username = form.get("username", "")[:MAX_FIELD]
    password = form.get("password", "")[:1024]
    next_url = local_path(form.get("next", ""), "/account")  # where a sign-in from a page of ours returns
    t = Translator(_locale(request))

    def again(message: str, status: int = 200) -> Response:
        response = render(request, "login.html", status=status, pending=pending, client_name="",
                          username=username, error=message, next_url=next_url, csrf_token=broker.csrf_token(bid))
        remember_browser(response, request, bid, new)
        return response

    if new or not broker.csrf_valid(bid, form.get("csrf_token")):
        return again(t("login.csrf"), 403)
    ip = client_ip(request)

    def password_step(s: Session) -> tuple[str, Any, str | None]:
        wait = broker.throttle.locked_for(s, username, ip)
        if wait:
            return "locked", wait, None
        result = broker.authenticator.authenticate(s, username, password)
        if result.outcome is not Outcome.OK or result.official_id is None:
            if result.outcome in (Outcome.BAD_CREDENTIALS, Outcome.NOT_FOUND):
                broker.throttle.record_failure(s, username, ip)
            return "failed", result.outcome, result.official_id
        broker.throttle.record_success(s, username, ip)
        if broker.factors.has_factor(s, result.official_id) or policy_requires_mfa(
                s, result.official_id, required_units(s, broker.settings.mfa_required_units)):
            purpose = "admin" if next_url.startswith("/admin") and not pending else "login"
            challenge = open_challenge(s, bid, result.official_id, purpose, pending, result.amr, next_url=next_url)
            return "mfa", challenge, result.official_id
        old = broker.sessions.resolve(s, session_cookie(request))
        if old is not None:
            broker.sessions.end(s, old.sid)  # a new id at every login: no session fixation
        cookie, sso = broker.sessions.start(s, result.official_id, result.acr, result.amr, ip,
                                            request.headers.get("user-agent"))
        if not pending:
            return "ok", (cookie, None), sso.official_id
        return "ok", (cookie, AuthorizationFlow(broker).after_login(s, pending, bid, sso)), sso.official_id

    def attempt() -> tuple[str, Any]:
        with broker.db.session() as s:
            kind, value, official_id = password_step(s)
            if official_id:
                official = s.get(Official, official_id)
                actor = Actor(official_id, "official", ip)
            else:  # who was tried, when there is such an official: their unit's admins see the attempts
                official = find_by_login_name(s, username, broker.directories.names(s)) if username else None
                actor = Actor(username[:200], "anonymous", ip)
            record(s, "login.password", actor, outcome=kind if kind != "failed" else str(value),
                   unit_id=official.unit_id if official else None, target=official.id if official else None)
            return kind, value

    kind, value = await run_in_threadpool(attempt)
    LOGINS.labels("password", str(value) if kind == "failed" else kind).inc()
    if kind == "locked":
        return again(t("login.locked", minutes=str(max(1, (value + 59) // 60))), 429)
    if kind == "failed":
        key, status = {Outcome.UNAVAILABLE: ("login.unavailable", 503), Outcome.DISABLED: ("login.disabled", 403),
                       Outcome.LOCKED: ("login.account_locked", 403),
                       Outcome.AMBIGUOUS: ("login.ambiguous", 401), Outcome.CONFLICT: ("login.conflict", 403),
                       }.get(value, ("login.failed", 401))
        return again(t(key), status)
    if kind == "mfa":
        return RedirectResponse(f"/login/mfa?c={value}", status_code=303, headers=NO_STORE)
    cookie, outcome = value
    if outcome is None:
        response: Response = RedirectResponse(next_url, status_code=303, headers=NO_STORE)
    else:
        response = outcome_response(request, outcome, bid)
    set_cookie(response, broker, "sso_session", cookie, max_age=None)
    remember_browser(response, request, bid, new)
    return response


@router.post("/consent", include_in_schema=False)
async def consent(request: Request) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, new = browser_id(request)
    if new or not broker.csrf_valid(bid, form.get("csrf_token")):
        outcome: Any = ShowError("invalid_request", Translator(_locale(request))("login.csrf"), 403)
        return outcome_response(request, outcome, bid)

    def decide() -> Any:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            return AuthorizationFlow(broker).after_consent(
                s, form.get("pending", "")[:MAX_FIELD], bid, sso, approved=form.get("decision") == "allow")

    return outcome_response(request, await run_in_threadpool(decide), bid)


@router.get("/lang", include_in_schema=False)
async def switch_language(request: Request, to: str = "vi", next: str = "") -> Response:
    broker = broker_of(request)
    # Only a path of our own (the page the link was on): never an open redirect. No Referer is sent
    # (Referrer-Policy: no-referrer), so the page names itself.
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie("lang", to if to in ("vi", "en") else "vi", max_age=365 * 86400, path="/",
                        samesite="lax", secure=broker.settings.secure_cookies)
    return response


def _locale(request: Request) -> str:
    from app.web.common import locale_of

    return locale_of(request)
