"""The official's own page: who is signed in, which applications hold consent (revocable)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import delete, select, update
from starlette.concurrency import run_in_threadpool

from app.db import now
from app.identity.models import Official
from app.services.password import ChangeResult, PasswordChange
from app.store.models import Client, Consent, TokenGrant
from app.store.oidc_store import unit_info
from app.web.common import (
    broker_of,
    browser_id,
    checked,
    client_ip,
    form_pairs,
    remember_browser,
    render,
    session_cookie,
)

router = APIRouter()


@router.get("/account")
async def account(request: Request) -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    with broker.db.session() as s:
        sso = broker.sessions.resolve(s, session_cookie(request))
        if sso is None:
            return RedirectResponse("/login", status_code=303)
        official = s.get(Official, sso.official_id)
        unit = unit_info(s, official.unit_id if official else None)
        consents = s.execute(
            select(Client.client_id, Client.name).join(Consent, Consent.client_id == Client.client_id)
            .where(Consent.official_id == sso.official_id).order_by(Client.name)
        ).all()
    response = render(request, "account.html", official=official,
                      unit=" › ".join(p["name"] for p in unit.path) if unit else "",
                      consents=[{"client_id": c, "name": n} for c, n in consents],
                      csrf_token=broker.csrf_token(bid))
    remember_browser(response, request, bid, new)
    return response


@router.post("/account/consents/{client_id}/revoke")
async def revoke_consent(request: Request, client_id: str) -> Response:
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    checked([("client_id", client_id)])
    bid, _ = browser_id(request)
    if not broker.csrf_valid(bid, form.get("csrf_token")):
        return RedirectResponse("/account", status_code=303)
    with broker.db.session() as s:
        sso = broker.sessions.resolve(s, session_cookie(request))
        if sso is None:
            return RedirectResponse("/login", status_code=303)
        s.execute(delete(Consent).where(Consent.official_id == sso.official_id, Consent.client_id == client_id))
        # Withdrawing consent also ends what it allowed: the client's tokens for this official.
        s.execute(update(TokenGrant).where(TokenGrant.official_id == sso.official_id,
                                           TokenGrant.client_id == client_id, TokenGrant.revoked_at.is_(None))
                  .values(revoked_at=now(), revoked_reason="consent_withdrawn"))
    return RedirectResponse("/account", status_code=303)


@router.post("/account/api/password")
async def change_password(request: Request) -> Response:
    """JSON API for the portal: {"current_password", "new_password"}; CSRF token in X-CSRF-Token."""
    broker = broker_of(request)
    bid, _ = browser_id(request)
    if not broker.csrf_valid(bid, request.headers.get("x-csrf-token")):
        return JSONResponse({"error": "csrf", "message": "missing or wrong X-CSRF-Token"}, status_code=403)
    try:
        body = await request.json()
        current, new = str(body["current_password"]), str(body["new_password"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "invalid_request",
                             "message": "send JSON with current_password and new_password"}, status_code=400)
    if "\x00" in current + new or len(current) > 1024 or len(new) > 1024:
        return JSONResponse({"error": "invalid_request", "message": "password too long or malformed"},
                            status_code=400)
    ip = client_ip(request)

    def run() -> ChangeResult:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            if sso is None:
                return ChangeResult(401, "login_required", "Sign in again.")
            return PasswordChange(broker).change(s, sso.official_id, current, new, ip)

    result = await run_in_threadpool(run)
    if result.status == 200:
        return JSONResponse({"ok": True})
    return JSONResponse({"error": result.error, "message": result.message}, status_code=result.status)
