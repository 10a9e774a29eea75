"""Forgotten password: ask for a link (/reset), then set a new password with it (/reset/{token})."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.account.recovery import ResetResult
from app.web.common import (
    broker_of,
    browser_id,
    client_ip,
    csrf_ok,
    form_pairs,
    locale_of,
    remember_browser,
    render,
)
from app.web.i18n import Translator

router = APIRouter()


@router.get("/reset", include_in_schema=False)
async def reset_request_page(request: Request) -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    response = render(request, "reset_request.html", sent=False, csrf_token=broker.csrf_token(bid))
    remember_browser(response, request, bid, new)
    return response


@router.post("/reset", include_in_schema=False)
async def reset_request(request: Request) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, new = browser_id(request)
    if not csrf_ok(request, form.get("csrf_token")):
        return render(request, "reset_request.html", status=403, sent=False, csrf_token=broker.csrf_token(bid))
    name = form.get("username", "").strip()[:256]

    def run() -> None:
        with broker.db.session() as s:
            broker.recovery.request_reset(s, name, client_ip(request))

    if name:
        await run_in_threadpool(run)
    # The same answer whether or not the account exists or has a recovery address.
    return render(request, "reset_request.html", sent=True, csrf_token=broker.csrf_token(bid))


@router.get("/reset/{token}", include_in_schema=False)
async def reset_page(request: Request, token: str) -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    with broker.db.session() as s:
        row = broker.recovery.peek(s, token, "reset")
        needs_code = bool(row and row.issued_by == "self-service"
                          and broker.factors.factors(s, row.official_id).totp)
    t = Translator(locale_of(request))
    response = render(request, "reset.html", status=200 if row else 400, valid=row is not None,
                      needs_code=needs_code, error=None if row else t("reset.expired"), done=False,
                      token=token, csrf_token=broker.csrf_token(bid))
    remember_browser(response, request, bid, new)
    return response


@router.post("/reset/{token}", include_in_schema=False)
async def reset(request: Request, token: str) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, new = browser_id(request)
    t = Translator(locale_of(request))
    if not csrf_ok(request, form.get("csrf_token")):
        return render(request, "reset.html", status=403, valid=True, needs_code=False, done=False,
                      error=t("login.csrf"), token=token, csrf_token=broker.csrf_token(bid))
    password, again = form.get("new_password", "")[:1024], form.get("new_password2", "")[:1024]
    if password != again or not password:
        result = ResetResult(False, "reset.mismatch")
    else:
        def run() -> ResetResult:
            with broker.db.session() as s:
                return broker.recovery.complete_reset(s, token, password, form.get("code", ""),
                                                              client_ip(request))

        result = await run_in_threadpool(run)
    if result.ok:
        return render(request, "reset.html", valid=False, needs_code=False, done=True, error=None, token="",
                      csrf_token="")
    message = t(result.message_key, minutes="15", detail=result.detail, length=result.detail)
    return render(request, "reset.html", status=400, valid=result.message_key != "reset.expired",
                  needs_code=result.message_key == "mfa.wrong_code" or bool(form.get("code")),
                  done=False, error=message, token=token, csrf_token=broker.csrf_token(bid))
