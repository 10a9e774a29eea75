"""A sign-in step's outcome as a response, the same for every protocol's pages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from app.signon.outcomes import AutoPost, Redirect, ShowConsent, ShowError, ShowLogin, ShowSecondFactor
from app.web.common import broker_of, render

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def outcome_response(request: Request, outcome: Any, bid: str) -> Response:
    broker = broker_of(request)
    if isinstance(outcome, Redirect):
        return RedirectResponse(outcome.url, status_code=303, headers=NO_STORE)
    if isinstance(outcome, ShowLogin):
        return render(request, "login.html", ui_locales=outcome.ui_locales, pending=outcome.pending_id,
                      client_name=outcome.client_name, username=outcome.login_hint[:150], error=None,
                      csrf_token=broker.csrf_token(bid))
    if isinstance(outcome, ShowConsent):
        return render(request, "consent.html", ui_locales=outcome.ui_locales, pending=outcome.pending_id,
                      client_name=outcome.client_name, scopes=outcome.scopes, csrf_token=broker.csrf_token(bid))
    if isinstance(outcome, ShowSecondFactor):
        return RedirectResponse(f"/login/mfa?c={outcome.challenge_id}", status_code=303, headers=NO_STORE)
    if isinstance(outcome, AutoPost):
        return render(request, "autopost.html", url=outcome.url, fields=outcome.fields)
    assert isinstance(outcome, ShowError)
    return render(request, "error.html", status=outcome.status, error=outcome.error,
                  description=outcome.description)
