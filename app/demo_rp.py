"""A tiny relying party served beside the broker by `sso-broker demo`, so a newcomer can see a login.

It is also the Python example of the integration guide: plain httpx and joserfc, nothing hidden.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool

router = APIRouter(prefix="/demo-app")
COOKIE = "demo_rp"


def _config(request: Request) -> dict[str, str]:
    broker = request.app.state.broker
    data: dict[str, str] = json.loads((Path(broker.settings.data_dir) / "demo-client.json").read_text())
    data["issuer"] = broker.issuer
    return data


def _page(body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
                        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                        f"<link rel='stylesheet' href='/static/style.css'><title>Demo app</title></head>"
                        f"<body><main>{body}</main></body></html>", headers={"Cache-Control": "no-store"})


@router.get("")
async def home(request: Request) -> Response:
    claims = request.cookies.get(COOKIE + "_user")
    if not claims:
        return _page("<h1>Ứng dụng minh họa · Demo app</h1><p><a href='/demo-app/login'>Đăng nhập · Sign in</a></p>")
    user = json.loads(base64.urlsafe_b64decode(claims))
    rows = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(json.dumps(v, ensure_ascii=False))}</li>"
                   for k, v in user["claims"].items())
    query = urlencode({"id_token_hint": user["id_token"],
                       "post_logout_redirect_uri": _config(request)["issuer"] + "/demo-app"})
    logout = f"/oauth2/logout?{query}"
    return _page(f"<h1>Xin chào {html.escape(user['claims'].get('name', ''))}</h1><ul>{rows}</ul>"
                 f"<p><a href='{html.escape(logout)}'>Đăng xuất · Sign out</a></p>")


@router.get("/login")
async def login(request: Request) -> Response:
    cfg = _config(request)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)  # RFC 7636: 43 to 128 characters
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": cfg["client_id"], "redirect_uri": cfg["redirect_uri"],
                       "scope": "openid profile email phone groups", "state": state, "nonce": nonce,
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    response = RedirectResponse(f"{cfg['issuer']}/oauth2/authorize?{query}", status_code=303)
    response.set_cookie(COOKIE, ".".join((state, nonce, verifier)), httponly=True, samesite="lax", path="/demo-app")
    return response


def _exchange(cfg: dict[str, str], code: str, verifier: str, nonce: str) -> dict[str, Any]:
    with httpx.Client(timeout=10) as http:
        meta = http.get(f"{cfg['issuer']}/.well-known/openid-configuration").json()
        reply = http.post(meta["token_endpoint"], auth=(cfg["client_id"], cfg["client_secret"]), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": cfg["redirect_uri"],
            "code_verifier": verifier})
        tokens = reply.json()
        if reply.status_code != 200:
            raise ValueError(f"{tokens.get('error')}: {tokens.get('error_description')}")
        keys = KeySet.import_key_set(http.get(meta["jwks_uri"]).json())
    token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256", "ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": meta["issuer"]},
                          aud={"essential": True, "value": cfg["client_id"]},
                          nonce={"essential": True, "value": nonce}).validate(token.claims)
    return {"claims": token.claims, "id_token": tokens["id_token"]}


@router.get("/callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    saved = request.cookies.get(COOKIE, "").split(".")
    if error or len(saved) != 3 or not secrets.compare_digest(saved[0].encode(), state.encode()):
        return _page(f"<h1>Đăng nhập không thành công</h1><p>{html.escape(error or 'state mismatch')}</p>")
    try:
        user = await run_in_threadpool(_exchange, _config(request), code, saved[2], saved[1])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return _page(f"<h1>Đăng nhập không thành công</h1><p>{html.escape(str(exc))}</p>")
    response = RedirectResponse("/demo-app", status_code=303)
    response.set_cookie(COOKIE + "_user", base64.urlsafe_b64encode(json.dumps(user).encode()).decode(),
                        httponly=True, samesite="lax", path="/demo-app")
    response.delete_cookie(COOKIE, path="/demo-app")
    return response
