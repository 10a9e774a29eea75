"""The second step of login and step-up (/login/mfa), passkey login, and resuming a parked request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.db import now
from app.mfa.challenges import CHALLENGE_TTL, load_challenge, open_challenge
from app.mfa.factors import FactorRefused, parse_credential
from app.observability import LOGINS
from app.signon.second_factor import Completed, Refused
from app.web.common import (
    CREDENTIAL_BODY,
    broker_of,
    browser_id,
    client_ip,
    csrf_header,
    csrf_ok,
    form_pairs,
    locale_of,
    remember_browser,
    render,
    session_cookie,
    set_cookie,
)
from app.web.i18n import Translator
from app.web.outcomes import NO_STORE, outcome_response

router = APIRouter()


def _start_over(request: Request) -> Response:
    t = Translator(locale_of(request))
    return render(request, "error.html", status=400, error="invalid_request", description=t("mfa.start_over"))


@router.get("/login/mfa", include_in_schema=False)
async def mfa_page(request: Request, c: str = "") -> Response:
    broker = broker_of(request)
    bid, _ = browser_id(request)
    with broker.db.session() as s:
        challenge = load_challenge(s, c, bid)
        if challenge is None or challenge.official_id is None:
            return _start_over(request)
        page = broker.second_factor.page(s, challenge)
    return render(request, "mfa.html", page=page, error=None, csrf_token=broker.csrf_token(bid))


@router.post("/login/mfa", include_in_schema=False)
async def mfa_submit(request: Request) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, new = browser_id(request)
    t = Translator(locale_of(request))
    if not csrf_ok(request, form.get("csrf_token")):
        return _start_over(request)

    def run() -> tuple[Completed | Refused | None, Any]:
        with broker.db.session() as s:
            challenge = load_challenge(s, form.get("c", ""), bid)
            if challenge is None or challenge.official_id is None:
                return None, None
            result = broker.second_factor.submit_code(
                s, challenge, form.get("method", "totp"), form.get("code", ""), client_ip(request), bid,
                session_cookie(request), request.headers.get("user-agent"))
            page = None
            if isinstance(result, Refused) and not result.start_over:
                page = broker.second_factor.page(s, challenge)
            return result, page

    result, page = await run_in_threadpool(run)
    LOGINS.labels("second_factor", "ok" if isinstance(result, Completed) else "refused").inc()
    if result is None or (isinstance(result, Refused) and result.start_over):
        return _start_over(request)
    if isinstance(result, Refused):
        message = t(result.message_key, minutes=str(max(1, (result.locked_for + 59) // 60)))
        status = 429 if result.locked_for else 401
        return render(request, "mfa.html", status=status, page=page, error=message,
                      csrf_token=broker.csrf_token(bid))
    return _finish(request, result, bid, new)


def _finish(request: Request, result: Completed, bid: str, new: bool) -> Response:
    broker = broker_of(request)
    if result.recovery_codes:
        response: Response = render(request, "recovery_codes.html", codes=result.recovery_codes,
                                    next_url=_resume_url(result.pending, result.next_url))
    elif result.outcome is None:
        response = RedirectResponse(result.next_url, status_code=303, headers=NO_STORE)
    else:
        response = outcome_response(request, result.outcome, bid)
    if result.cookie:
        set_cookie(response, broker, "sso_session", result.cookie, max_age=None)
    remember_browser(response, request, bid, new)
    return response


def _resume_url(pending: str, otherwise: str = "/account") -> str:
    return f"/login/resume?pending={pending}" if pending else otherwise


@router.post("/login/passkey/options", tags=["login"])
async def passkey_login_options(request: Request, bid: str = Depends(csrf_header)) -> Response:
    """Passwordless: a challenge for any of our discoverable passkeys; the answer names the official."""
    broker = broker_of(request)
    pending = request.query_params.get("pending", "")[:64]
    with broker.db.session() as s:
        challenge_id = open_challenge(s, bid, None, "passkey", pending)
        challenge = load_challenge(s, challenge_id, bid)
        assert challenge is not None
        options = broker.second_factor.passkey_options(s, challenge)
    return JSONResponse({"challenge": challenge_id, "options": options}, headers=NO_STORE)


@router.post("/login/mfa/passkey/options", tags=["login"])
async def passkey_factor_options(request: Request, bid: str = Depends(csrf_header)) -> Response:
    broker = broker_of(request)
    challenge_id = request.query_params.get("c", "")
    with broker.db.session() as s:
        challenge = load_challenge(s, challenge_id, bid)
        if challenge is None:
            return JSONResponse({"error": "expired", "message": "start the sign-in again"}, status_code=400)
        options = broker.second_factor.passkey_options(s, challenge)
    return JSONResponse({"challenge": challenge_id, "options": options}, headers=NO_STORE)


@router.post("/login/mfa/passkey", tags=["login"], openapi_extra=CREDENTIAL_BODY)
async def passkey_answer(request: Request, bid: str = Depends(csrf_header)) -> Response:
    broker = broker_of(request)
    t = Translator(locale_of(request))
    try:
        credential = parse_credential(await request.body())
    except FactorRefused as exc:
        return JSONResponse({"error": "invalid_request", "message": str(exc)}, status_code=400)
    challenge_id = request.query_params.get("c", "")

    def run() -> Completed | Refused | None:
        with broker.db.session() as s:
            challenge = load_challenge(s, challenge_id, bid)
            if challenge is None:
                return None
            return broker.second_factor.submit_passkey(
                s, challenge, credential, client_ip(request), bid, session_cookie(request),
                request.headers.get("user-agent"))

    result = await run_in_threadpool(run)
    LOGINS.labels("passkey", "ok" if isinstance(result, Completed) else "refused").inc()
    if result is None or isinstance(result, Refused):
        key = result.message_key if result else "mfa.start_over"
        return JSONResponse({"error": "refused", "message": t(key)}, status_code=401)
    response = JSONResponse({"redirect": _resume_url(result.pending, result.next_url)}, headers=NO_STORE)
    if result.cookie:
        set_cookie(response, broker, "sso_session", result.cookie, max_age=None)
    return response


@router.get("/login/resume", include_in_schema=False)
async def resume(request: Request, pending: str = "") -> Response:
    """Continue a parked authorization right after a login finished on a page of its own."""
    broker = broker_of(request)
    bid, _ = browser_id(request)

    def run() -> Any:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            # Only straight after a login: an older session must not skip a prompt=login or max_age.
            if sso is None or now() - sso.auth_time > CHALLENGE_TTL:
                return None
            return broker.authorization.after_login(s, pending[:64], bid, sso, new_session=False)

    outcome = await run_in_threadpool(run)
    if outcome is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
    return outcome_response(request, outcome, bid)
