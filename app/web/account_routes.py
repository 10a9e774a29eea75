"""The official's own page: who is signed in, which applications hold consent (revocable)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, select, update

from app.db import now
from app.identity.models import Official
from app.store.models import Client, Consent, TokenGrant
from app.store.oidc_store import unit_info
from app.web.common import broker_of, browser_id, checked, form_pairs, remember_browser, render, session_cookie

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
