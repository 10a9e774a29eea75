"""The provider's protocol endpoints: thin adapters from HTTP to `app.oidc` and the flow services."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from app.db import now
from app.oidc.discovery import discovery_document
from app.oidc.http import ProtocolResponse
from app.web.common import (
    broker_of,
    browser_id,
    clear_cookie,
    form_pairs,
    query_pairs,
    remember_browser,
    render,
    session_cookie,
)
from app.web.outcomes import NO_STORE, after_logout, browser_logouts, journey

router = APIRouter()


def to_response(result: ProtocolResponse) -> Response:
    headers = {k: v for k, v in result.headers}
    headers.setdefault("Cache-Control", "no-store")
    if isinstance(result.body, dict | list):
        return JSONResponse(result.body, status_code=result.status, headers=headers)
    return Response(result.body or "", status_code=result.status, headers=headers)


@router.get("/.well-known/openid-configuration")
async def discovery(request: Request) -> JSONResponse:
    return JSONResponse(discovery_document(broker_of(request).issuer),
                        headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth2/token/.well-known/openid-configuration", include_in_schema=False)
async def discovery_wso2_path(request: Request) -> JSONResponse:
    """Where apps integrated with WSO2 Identity Server look for the document (its issuer is …/oauth2/token)."""
    return await discovery(request)


@router.get("/.well-known/oauth-authorization-server")
async def oauth_metadata(request: Request) -> JSONResponse:
    return await discovery(request)


@router.get("/oauth2/jwks")
async def jwks(request: Request) -> JSONResponse:
    ring = broker_of(request).keys.ring()
    return JSONResponse(ring.jwks(now()), headers={"Cache-Control": "public, max-age=300"})


@router.api_route("/oauth2/authorize", methods=["GET", "POST"], include_in_schema=False)
async def authorize(request: Request) -> Response:
    flow = broker_of(request).authorization
    params = await form_pairs(request) if request.method == "POST" else query_pairs(request)
    return await journey(request, lambda s, bid, sso: flow.start(s, params, bid, sso))


def _bearer_error(description: str, status: int = 401, error: str = "invalid_token") -> JSONResponse:
    header = f'Bearer error="{error}", error_description="{description}"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"WWW-Authenticate": header, **NO_STORE})


@router.get("/oauth2/userinfo", tags=["oauth2"], operation_id="userinfo_get")
@router.post("/oauth2/userinfo", tags=["oauth2"], operation_id="userinfo_post")
async def userinfo(request: Request) -> Response:
    broker = broker_of(request)
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not token and request.method == "POST":
        token = dict(await form_pairs(request)).get("access_token", "")
    if not token:
        return JSONResponse({"error": "invalid_request", "error_description": "Bearer token required"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer", **NO_STORE})
    with broker.db.session() as s:
        claims = broker.provider(s).userinfo(token)
    if claims is None:
        return _bearer_error("The access token is invalid, expired, revoked, or lacks the openid scope.")
    return Response(json.dumps(claims, ensure_ascii=False), media_type="application/json", headers=NO_STORE)


@router.api_route("/oauth2/logout", methods=["GET", "POST"], include_in_schema=False)
@router.api_route("/oidc/logout", methods=["GET", "POST"], include_in_schema=False)  # WSO2's path
async def end_session(request: Request) -> Response:
    broker = broker_of(request)
    pairs = await form_pairs(request) if request.method == "POST" else query_pairs(request)
    params = dict(pairs)
    bid, new = browser_id(request)
    service = broker.logout
    confirmed = request.method == "POST" and params.get("confirm") == "yes" and \
        broker.csrf_valid(bid, params.get("csrf_token"))

    frames: list[str] = []
    upstream: list[str | None] = []

    def run() -> tuple[str, Any]:
        with broker.db.session() as s:
            checked = service.validate(s, params.get("id_token_hint", ""), params.get("client_id", ""),
                                       params.get("post_logout_redirect_uri", ""), params.get("state", ""))
            if checked.error:
                return "error", checked.error
            sso = broker.sessions.resolve(s, session_cookie(request))
            # Without a hint naming this very session, a cross-site link could log the official out:
            # ask first (RP-Initiated Logout 1.0 §2).
            hinted = sso is not None and checked.hint_sub == sso.official_id
            if sso is not None and not (hinted or confirmed):
                return "confirm", checked
            frames.extend(browser_logouts(broker, s, sso.sid) if sso else [])
            # A session that began at an upstream provider ends there too, then goes where the RP asked.
            upstream.extend([broker.upstream_sign_on.end_session_url(s, sso.sid, checked.redirect)] if sso else [])
            sids = service.end_session(s, sso.sid) if sso else []
        service.send(sids)
        return "done", checked

    kind, value = await run_in_threadpool(run)
    if kind == "error":
        response: Response = render(request, "error.html", status=400, error="invalid_request", description=value)
    elif kind == "confirm":
        carry = [(k, v) for k, v in pairs if k in ("id_token_hint", "client_id", "post_logout_redirect_uri",
                                                     "state", "ui_locales")]
        response = render(request, "logout.html", done=False, carry=carry, csrf_token=broker.csrf_token(bid))
    else:
        response = after_logout(request, frames, value.redirect, next((url for url in upstream if url), None))
    if kind == "done":
        clear_cookie(response, broker, "sso_session")
    remember_browser(response, request, bid, new)
    return response
