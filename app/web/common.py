"""What every router needs: the broker, cookies, the browser id, the caller's address, page rendering."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from app.broker import Broker
from app.oidc.http import HttpRequest
from app.provisioning.engine import ProvisioningEngine
from app.web.i18n import LOCALES, Translator, choose_locale

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Vietnam keeps one offset all year (no daylight saving): no time-zone database needed.
VIETNAM_TIME = timezone(timedelta(hours=7))
templates.env.filters["timestamp"] = lambda ts: (
    datetime.fromtimestamp(int(ts), VIETNAM_TIME).strftime("%Y-%m-%d %H:%M") if ts else "")


# The OpenAPI description of a WebAuthn answer, for the JSON endpoints that take one.
CREDENTIAL_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "PublicKeyCredential as JSON (WebAuthn Level 3 toJSON())"}}}}}


def content_security_policy(frame_origins: list[str] | None = None) -> str:
    """The one policy of every page; a page that must load other sites in frames (the sign-out page's front
    channel) names just those origins."""
    frames = f"frame-src {' '.join(frame_origins)}; " if frame_origins else ""
    return ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"{frames}form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'")


def broker_of(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


def provisioning_of(request: Request) -> ProvisioningEngine:
    """The process's one provisioning engine (its connectors, and their connections, are kept between requests)."""
    engine: ProvisioningEngine = request.app.state.provisioning
    return engine


def cookie_name(broker: Broker, base: str) -> str:
    # __Host- cookies cannot be set by a sibling subdomain nor scoped to a path: only over HTTPS.
    return f"__Host-{base}" if broker.settings.secure_cookies else base


def set_cookie(response: Response, broker: Broker, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(cookie_name(broker, base), value, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=broker.settings.secure_cookies)


def clear_cookie(response: Response, broker: Broker, base: str) -> None:
    response.delete_cookie(cookie_name(broker, base), path="/", httponly=True, samesite="lax",
                           secure=broker.settings.secure_cookies)


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(cookie_name(broker_of(request), "sso_session"))


def browser_id(request: Request) -> tuple[str, bool]:
    """The browser's random id (for CSRF tokens and binding pending requests); True if newly made."""
    existing = request.cookies.get(cookie_name(broker_of(request), "sso_browser"))
    if existing and 20 <= len(existing) <= 64:
        return existing, False
    return secrets.token_urlsafe(24), True


class CsrfRefused(Exception):
    """A page's request without this browser's CSRF token (answered 403 by the app's handler)."""


def csrf_ok(request: Request, token: str | None) -> bool:
    """The one CSRF check of our pages: the token must be this browser's (a browser without our cookie yet has
    no token at all)."""
    bid, new = browser_id(request)
    return not new and broker_of(request).csrf_valid(bid, token)


def csrf_header(request: Request) -> str:
    """Dependency of the pages' JSON endpoints: X-CSRF-Token must be this browser's. Returns the browser id."""
    if not csrf_ok(request, request.headers.get("x-csrf-token")):
        raise CsrfRefused
    return browser_id(request)[0]


def remember_browser(response: Response, request: Request, bid: str, is_new: bool) -> None:
    if is_new:
        set_cookie(response, broker_of(request), "sso_browser", bid, max_age=365 * 86400)


def client_ip(request: Request) -> str:
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in broker_of(request).settings.trusted_proxies:
        return forwarded.split(",")[-1].strip()[:64]
    return peer[:64]


def locale_of(request: Request, ui_locales: str | None = None) -> str:
    return choose_locale(ui_locales or request.query_params.get("ui_locales"), request.cookies.get("lang"),
                         request.headers.get("accept-language"), broker_of(request).settings.default_locale)


def render(request: Request, template: str, status: int = 200, ui_locales: str | None = None,
           **context: Any) -> HTMLResponse:
    locale = locale_of(request, ui_locales)
    other = next(code for code in LOCALES if code != locale)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    lang_url = f"/lang?{urlencode({'to': other, 'next': here if request.method == 'GET' else ''})}"
    context.update(t=Translator(locale), other_locale=other, lang_url=lang_url)
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def protocol_request(request: Request, form: list[tuple[str, str]] | None = None) -> HttpRequest:
    broker = broker_of(request)
    return HttpRequest(
        method=request.method, url=f"{broker.issuer}{request.url.path}", headers=dict(request.headers),
        query=query_pairs(request), form=form or [],
    )


class InvalidInput(Exception):
    """Input no part of the broker accepts (NUL bytes, which PostgreSQL text cannot even hold)."""


def checked(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise InvalidInput("parameters must not contain NUL characters")
    return pairs


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return checked(list(request.query_params.multi_items()))


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    form = await request.form()
    return checked([(k, v) for k, v in form.multi_items() if isinstance(v, str)])


def local_path(target: str, otherwise: str = "/account") -> str:
    """A path on this site, or `otherwise`: never an open redirect (no scheme, no '//host', no '/\\host')."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) <= 500:
        return target
    return otherwise
