"""The login and consent pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.auth.authenticator import Outcome
from app.observability import LOGINS
from app.signon.outcomes import ShowError
from app.signon.service import Failed, Locked, NeedsSecondFactor, PasswordAttempt, SignedIn, SignOnOutcome
from app.web.common import (
    broker_of,
    browser_id,
    client_ip,
    csrf_ok,
    form_pairs,
    local_path,
    remember_browser,
    render,
    session_cookie,
    set_cookie,
)
from app.web.i18n import Translator
from app.web.outcomes import NO_STORE, identity_providers, outcome_response

router = APIRouter()
MAX_FIELD = 256
# What the login page says (and answers) when the password step fails.
FAILURE_PAGES = {Outcome.UNAVAILABLE: ("login.unavailable", 503), Outcome.DISABLED: ("login.disabled", 403),
                 Outcome.LOCKED: ("login.account_locked", 403), Outcome.AMBIGUOUS: ("login.ambiguous", 401),
                 Outcome.CONFLICT: ("login.conflict", 403)}


@router.get("/login", include_in_schema=False)
async def login_page(request: Request, next: str = "") -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    providers = await run_in_threadpool(identity_providers, request)
    response = render(request, "login.html", pending="", client_name="", username="", error=None,
                      next_url=local_path(next, ""), csrf_token=broker.csrf_token(bid), providers=providers)
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
                          username=username, error=message, next_url=next_url, csrf_token=broker.csrf_token(bid),
                          providers=identity_providers(request))
        remember_browser(response, request, bid, new)
        return response

    if not csrf_ok(request, form.get("csrf_token")):
        return again(t("login.csrf"), 403)
    attempt = PasswordAttempt(username, password, client_ip(request), request.headers.get("user-agent"), bid,
                              pending, next_url, session_cookie(request))

    def run() -> SignOnOutcome:
        with broker.db.session() as s:
            return broker.sign_on.password(s, attempt)

    outcome = await run_in_threadpool(run)
    match outcome:
        case Locked(wait):
            LOGINS.labels("password", "locked").inc()
            return again(t("login.locked", minutes=str(max(1, (wait + 59) // 60))), 429)
        case Failed(reason):
            LOGINS.labels("password", str(reason)).inc()
            key, status = FAILURE_PAGES.get(reason, ("login.failed", 401))
            return again(t(key), status)
        case NeedsSecondFactor(challenge):
            LOGINS.labels("password", "mfa").inc()
            return RedirectResponse(f"/login/mfa?c={challenge}", status_code=303, headers=NO_STORE)
        case SignedIn(cookie, _, resumed):
            LOGINS.labels("password", "ok").inc()
            response = (RedirectResponse(next_url, status_code=303, headers=NO_STORE) if resumed is None
                        else outcome_response(request, resumed, bid))
            set_cookie(response, broker, "sso_session", cookie, max_age=None)
            remember_browser(response, request, bid, new)
            return response
    raise AssertionError(outcome)  # pragma: no cover - the outcomes above are all there are


@router.post("/consent", include_in_schema=False)
async def consent(request: Request) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, new = browser_id(request)
    if not csrf_ok(request, form.get("csrf_token")):
        outcome: Any = ShowError("invalid_request", Translator(_locale(request))("login.csrf"), 403)
        return outcome_response(request, outcome, bid)

    def decide() -> Any:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            return broker.authorization.after_consent(
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
