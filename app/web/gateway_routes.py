"""The forward-auth gateway: where a reverse proxy asks (`/gateway/verify`), where a browser without the app's
cookie is sent (`/gateway/start`), and the app-host callback that sets that cookie (`/gateway/callback`,
reached as `https://APP/.sso-broker/callback` through the proxy)."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.signon.gateway import Allowed, Entered, NeedsLogin
from app.web.common import broker_of, render
from app.web.outcomes import NO_STORE, journey

router = APIRouter(prefix="/gateway")


def app_cookie(app_id: str, secure: bool) -> str:
    """Host-only and per application: `__Host-` (https) forbids a Domain, so no sibling host shares it."""
    return f"__Host-sso_gw_{app_id}" if secure else f"sso_gw_{app_id}"


def _return_to(request: Request) -> str:
    """`rd` as nginx sends it: not percent-encoded, so `?x=1&y=2` arrives as two parameters; the raw tail
    after `rd=` is the address. Encoded (as our own links send it), it is decoded once."""
    raw = request.url.query
    if not raw.startswith("rd="):
        return request.query_params.get("rd", "")
    tail = raw[3:]
    return unquote(tail) if tail.lower().startswith(("http%3a", "https%3a")) else tail


def _original_url(request: Request) -> str:
    headers = request.headers
    if headers.get("x-original-url"):
        return headers["x-original-url"]
    proto, host, uri = (headers.get(h, "") for h in ("x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri"))
    return f"{proto}://{host}{uri}" if proto and host else ""


@router.get("/start", include_in_schema=False)
async def start(request: Request) -> Response:
    gateway, target = broker_of(request).gateway, _return_to(request)
    return await journey(request, lambda s, bid, sso: gateway.start(s, target, bid, sso))


@router.get("/callback", include_in_schema=False)
async def callback(request: Request) -> Response:
    broker = broker_of(request)
    code, host = request.query_params.get("code", ""), request.headers.get("host", "")

    def run() -> Entered | None:
        with broker.db.session() as s:
            return broker.gateway.enter(s, code, host)

    entered = await run_in_threadpool(run)
    if entered is None:
        return render(request, "error.html", status=400, error="invalid_request",
                      description="This sign-in link has expired or was used. Go back to the application.")
    response = RedirectResponse(entered.return_to, status_code=303, headers=NO_STORE)
    response.set_cookie(app_cookie(entered.app_id, entered.secure), entered.cookie, max_age=entered.max_age,
                        path="/", httponly=True, samesite="lax", secure=entered.secure)
    return response


@router.api_route("/verify", methods=["GET", "HEAD", "POST"], tags=["gateway"])
def verify(request: Request) -> Response:
    """Forward auth: 200 with identity headers; not signed in: 401 with `X-SSO-Login` for nginx (which reads
    `X-Original-URL`), or a redirect to the sign-in for proxies that pass answers through (Traefik, Caddy);
    403 when the official may not use the application."""
    broker = broker_of(request)
    url = _original_url(request)
    with broker.db.session() as s:
        app = broker.gateway.app(s, url)
        cookie = request.cookies.get(app_cookie(app.id, url.startswith("https://"))) if app else None
        verdict = broker.gateway.verify(s, url, cookie)
    if isinstance(verdict, Allowed):
        return Response(status_code=200, headers={**dict(verdict.headers), **NO_STORE})
    if isinstance(verdict, NeedsLogin):
        if request.headers.get("x-original-url"):
            return PlainTextResponse("sign-in needed", status_code=401,
                                     headers={"X-SSO-Login": verdict.start_url, **NO_STORE})
        return RedirectResponse(verdict.start_url, status_code=302, headers=NO_STORE)
    return PlainTextResponse(verdict.reason, status_code=403, headers=NO_STORE)
