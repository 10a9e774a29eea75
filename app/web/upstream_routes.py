"""Logging in with an upstream identity provider, linking identities on /account, and logout both ways."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.observability import LOGINS
from app.signon.service import NeedsSecondFactor, SignedIn
from app.signon.upstream_login import CallbackParams, NotLinked, Refused
from app.upstream import links
from app.upstream.client import UpstreamError
from app.web.common import (
    broker_of,
    browser_id,
    client_ip,
    form_pairs,
    local_path,
    locale_of,
    remember_browser,
    render,
    session_cookie,
    set_cookie,
)
from app.web.i18n import Translator
from app.web.outcomes import NO_STORE, outcome_response, signed_out_page

router = APIRouter()
# What the page says when a login at a provider is refused; anything else is "could not be accepted".
REFUSAL_KEYS = {"unavailable": "upstream.unavailable", "unknown": "upstream.unknown", "disabled": "login.disabled",
                "upstream_error": "upstream.cancelled", "state": "upstream.start_over"}


def _refused_page(request: Request, reason: str) -> Response:
    status = 503 if reason == "unavailable" else 404 if reason == "unknown" else 403 if reason == "disabled" else 400
    message = Translator(locale_of(request))(REFUSAL_KEYS.get(reason, "upstream.refused"))
    return render(request, "upstream_refused.html", status=status, message=message)


@router.get("/login/idp/{name}", include_in_schema=False)
async def start(request: Request, name: str, pending: str = "", next: str = "") -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)

    def run() -> Any:
        with broker.db.session() as s:
            return broker.upstream_sign_on.begin(s, name[:40], bid, pending[:100], local_path(next, "/account"))

    outcome = await run_in_threadpool(run)
    response = _refused_page(request, outcome.reason) if isinstance(outcome, Refused) else outcome_response(
        request, outcome, bid)
    remember_browser(response, request, bid, new)
    return response


@router.get("/login/idp/{name}/callback", include_in_schema=False)
async def callback(request: Request, name: str) -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    q = request.query_params
    params = CallbackParams(q.get("code", ""), q.get("state", ""), q.get("iss"), q.get("error", ""))

    def run() -> Any:
        with broker.db.session() as s:
            return broker.upstream_sign_on.finish(s, name[:40], params, bid, client_ip(request),
                                                  request.headers.get("user-agent"), session_cookie(request))

    outcome = await run_in_threadpool(run)
    match outcome:
        case Refused(reason):
            LOGINS.labels("upstream", reason).inc()
            response = _refused_page(request, reason)
        case NotLinked(offer, label, display_name):
            LOGINS.labels("upstream", "not_linked").inc()
            response = render(request, "upstream_not_linked.html", status=403, provider=label,
                              display_name=display_name, offer=offer)
        case NeedsSecondFactor(challenge):
            LOGINS.labels("upstream", "mfa").inc()
            response = RedirectResponse(f"/login/mfa?c={challenge}", status_code=303, headers=NO_STORE)
        case SignedIn(cookie, _, resumed):
            LOGINS.labels("upstream", "ok").inc()
            response = RedirectResponse("/account", status_code=303, headers=NO_STORE) if resumed is None \
                else outcome_response(request, resumed, bid)
            set_cookie(response, broker, "sso_session", cookie, max_age=None)
    remember_browser(response, request, bid, new)
    return response


@router.post("/login/idp/{name}/backchannel-logout", include_in_schema=False)
async def backchannel_logout(request: Request, name: str) -> Response:
    """The provider ends our sessions that came from its session (Back-Channel Logout 1.0)."""
    broker = broker_of(request)
    token = dict(await form_pairs(request)).get("logout_token", "")

    def run() -> list[str]:
        with broker.db.session() as s:
            return broker.upstream_sign_on.logout_from_upstream(s, name[:40], token[:20000])

    try:
        sids = await run_in_threadpool(run)
    except UpstreamError as exc:
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)[:200]}, status_code=400,
                            headers=NO_STORE)
    await run_in_threadpool(broker.logout.send, sids)
    return Response(status_code=200, headers=NO_STORE)


@router.get("/login/idp/{name}/signed-out", include_in_schema=False)
async def signed_out(request: Request, name: str, state: str = "") -> Response:
    """Back from signing out at the provider: on to where the application asked to go, if it did."""
    after = broker_of(request).upstream_sign_on.opened_after(state[:4000])
    if after:
        return RedirectResponse(after, status_code=303, headers=NO_STORE)
    return signed_out_page(request, [])


@router.get("/login/idp/{name}/jwks", include_in_schema=False)
async def client_jwks(request: Request, name: str) -> Response:
    """Our public key for private_key_jwt at this provider."""
    broker = broker_of(request)

    def run() -> dict[str, Any] | None:
        with broker.db.session() as s:
            return broker.upstream_providers.public_key(s, name[:40])

    key = await run_in_threadpool(run)
    if key is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    return JSONResponse({"keys": [key]})


# --- linking on /account ---------------------------------------------------------------------------------
@router.get("/account/links/confirm", include_in_schema=False)
async def confirm_page(request: Request, offer: str = "") -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    with broker.db.session() as s:
        sso = broker.sessions.resolve(s, session_cookie(request))
        found = links.offer(s, offer[:64], bid)
        config = broker.upstream_providers.config(s, found.provider) if found else None
    if sso is None:
        back = urlencode({"next": f"/account/links/confirm?offer={offer[:64]}"})
        return RedirectResponse(f"/login?{back}", status_code=303)
    response = render(request, "upstream_confirm.html", offer=offer[:64] if found else "",
                      provider=config.label(locale_of(request)) if config else "",
                      display_name=found.display_name if found else "", csrf_token=broker.csrf_token(bid))
    remember_browser(response, request, bid, new)
    return response
