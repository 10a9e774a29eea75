"""A sign-in step's outcome as a response, the same for every protocol's pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.broker import Broker
from app.signon.outcomes import AutoPost, Redirect, ShowConsent, ShowError, ShowLogin, ShowSecondFactor
from app.store.sessions import ActiveSession
from app.web.common import (
    broker_of,
    browser_id,
    content_security_policy,
    locale_of,
    remember_browser,
    render,
    session_cookie,
)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def outcome_response(request: Request, outcome: Any, bid: str) -> Response:
    broker = broker_of(request)
    if isinstance(outcome, Redirect):
        return RedirectResponse(outcome.url, status_code=303, headers=NO_STORE)
    if isinstance(outcome, ShowLogin):
        providers = identity_providers(request, outcome.ui_locales)
        # idp_hint: the application sends its users straight to one provider (OIDC's parameter, or the entry
        # page's query for CAS, SAML's launcher and the gateway).
        hint = outcome.idp_hint or request.query_params.get("idp_hint", "")[:40]
        if hint and any(name == hint for name, _, _ in providers):
            return RedirectResponse(f"/login/idp/{hint}?{urlencode({'pending': outcome.pending_id})}",
                                    status_code=303, headers=NO_STORE)
        return render(request, "login.html", ui_locales=outcome.ui_locales, pending=outcome.pending_id,
                      client_name=outcome.client_name, username=outcome.login_hint[:150], error=None,
                      csrf_token=broker.csrf_token(bid), providers=providers)
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


def identity_providers(request: Request, ui_locales: str | None = None) -> list[tuple[str, str, str | None]]:
    """The login page's buttons: (name, label in the page's language, logo)."""
    broker = broker_of(request)
    locale = locale_of(request, ui_locales)
    with broker.db.session() as s:  # remembered per process for seconds: usually no query
        return [(c.name, c.label(locale), c.logo_url) for c in broker.upstream_providers.enabled(s)]


def browser_logouts(broker: Broker, session: Session, sid: str, skip_sp: str | None = None) -> list[str]:
    """What only the browser can tell of a session's end: OIDC front-channel logout URIs and SAML SPs."""
    return broker.logout.frontchannel_urls(session, sid) + broker.saml_idp(session).logout_requests(sid, skip_sp)


def signed_out_page(request: Request, frames: list[str], continue_url: str | None = None) -> Response:
    """The end of a logout: the applications that can only be told through the browser (SAML SPs, front
    channel) are loaded in frames, which the page's policy allows for their origins alone."""
    response = render(request, "logout.html", done=True, frames=frames, continue_url=continue_url)
    origins = sorted({"{0.scheme}://{0.netloc}".format(urlsplit(url)) for url in frames})
    if origins:
        response.headers["Content-Security-Policy"] = content_security_policy(origins)
    return response


def after_logout(request: Request, frames: list[str], after: str | None, upstream: str | None) -> Response:
    """Where a logout ends: the frames of the applications only the browser can tell, then the upstream
    provider's own sign-out when the session came from one (it comes back to `after`), else `after`."""
    onward = upstream or after
    if onward and not frames:
        return RedirectResponse(onward, status_code=303, headers=NO_STORE)
    return signed_out_page(request, frames, onward)


SignOnStart = Callable[[Session, str, ActiveSession | None], Any]  # (db, browser id, SSO session) -> outcome


async def journey(request: Request, start: SignOnStart) -> Response:
    """Every protocol's entry page the same way: the browser's id, its SSO session, the flow's outcome."""
    broker = broker_of(request)
    bid, new = browser_id(request)

    def run() -> Any:
        with broker.db.session() as s:
            return start(s, bid, broker.sessions.resolve(s, session_cookie(request)))

    response = outcome_response(request, await run_in_threadpool(run), bid)
    remember_browser(response, request, bid, new)
    return response
