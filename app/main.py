"""create_app(settings): routers, middleware, nothing else."""

from __future__ import annotations

import gc
import inspect
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from app.auth.ratelimit import Limit, RateLimiter
from app.broker import Broker
from app.health import DatabaseGauges, readiness
from app.observability import RequestObservability, configure_logging, metrics_registry, render_metrics
from app.provisioning.engine import ProvisioningEngine, RetryPolicy
from app.scim import schemas as scim_schemas
from app.settings import Settings
from app.tracing import setup_tracing
from app.web import (
    account_routes,
    admin_api,
    admin_pages,
    admin_routes,
    cas_routes,
    gateway_routes,
    login_routes,
    mfa_routes,
    oidc_routes,
    recovery_routes,
    saml_routes,
    scim_routes,
    upstream_routes,
)
from app.web.common import content_security_policy
from app.web.errors import SCIM_PREFIX, install_error_handlers
from app.web.token_asgi import OPENAPI_PATHS, ASGIApp, Message, Receive, Scope, Send, TokenEndpoints, token_pool

MAX_BODY = 64 * 1024
# Lists of officials are uploaded whole: a province's list is a few megabytes.
UPLOAD_PATHS = ("/admin/api/imports", "/admin/imports")
MAX_UPLOAD = 20 * 1024 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": content_security_policy(),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class Hardening:
    """Security headers on every response and a cap on request bodies (a pure ASGI middleware: cheap)."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if secure:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        limit = MAX_UPLOAD if scope["path"] in UPLOAD_PATHS else MAX_BODY
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._too_large(send, scope["path"])
            return
        if length is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            # No length announced: read up to the limit before the app sees a byte, then replay it.
            chunks, size = [], 0
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    await self._too_large(send, scope["path"])
                    return
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

            async def buffered() -> Message:
                return replay.pop() if replay else await receive()

            receive = buffered

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in self.headers if k not in present]]
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _too_large(self, send: Send, path: str) -> None:
        # Each API answers in its own error format: SCIM's (RFC 7644 §3.12) under /scim/v2, OAuth's elsewhere.
        if path.startswith(SCIM_PREFIX):
            detail = f"the request body is larger than {MAX_BODY} bytes"
            body = json.dumps(scim_schemas.error_body(413, detail)).encode()
            media = scim_schemas.MEDIA_TYPE.encode()
        else:
            body = json.dumps({"error": "invalid_request", "error_description": "request body too large"}).encode()
            media = b"application/json"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", media), *self.headers]})
        await send({"type": "http.response.body", "body": body})


RATE_LIMITED_PREFIXES = ("/login", "/reset", "/consent", "/account/api/password", "/account/password")
# An upstream provider's back-channel logouts come from one address, one per session it ends, and carry a
# signed token rather than a secret someone could guess: never throttled (refusing one would keep a session).
NOT_RATE_LIMITED_SUFFIXES = ("/backchannel-logout",)
TOO_MANY = ("<!doctype html><meta charset=utf-8><title>429</title><p lang=vi>Quá nhiều yêu cầu từ địa chỉ này. "
            "Vui lòng thử lại sau ít phút.</p><p lang=en>Too many requests from this address. Please try again "
            "in a few minutes.</p>").encode()


class RateLimits:
    """Per-address limits on the pages that check secrets, counted across every process."""

    def __init__(self, app: ASGIApp, broker: Broker) -> None:
        self.app = app
        self.broker = broker
        self.limiter = RateLimiter(broker.db, broker.settings.redis_url)
        self.limit = Limit(broker.settings.rate_limit_auth_per_minute, 60)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "POST" and path.startswith(RATE_LIMITED_PREFIXES) \
                and not path.endswith(NOT_RATE_LIMITED_SUFFIXES):
            wait = await run_in_threadpool(self.limiter.hit, "auth", self._address(scope), self.limit)
            if wait:
                await send({"type": "http.response.start", "status": 429, "headers": [
                    (b"content-type", b"text/html; charset=utf-8"), (b"retry-after", str(wait).encode())]})
                await send({"type": "http.response.body", "body": TOO_MANY})
                return
        await self.app(scope, receive, send)

    def _address(self, scope: Scope) -> str:
        peer = scope["client"][0] if scope.get("client") else "?"
        if peer in self.broker.settings.trusted_proxies:
            forwarded = dict(scope["headers"]).get(b"x-forwarded-for", b"").decode("latin-1")
            if forwarded:
                return str(forwarded.split(",")[-1].strip()[:64])
        return str(peer)


def _without_native_telemetry() -> dict[str, Any]:
    """FastAPI 0.16x traces requests itself whenever an OpenTelemetry provider is set anywhere in the process, and
    checks for one on every request. The broker's tracing is app/tracing.py's, on when SSO_OTEL_ENDPOINT is set:
    FastAPI's is turned off so that there is one, and so that the token endpoint does not pay for the check."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}


def create_app(settings: Settings | None = None, issuer: str | None = None, check_schema: bool = True) -> FastAPI:
    settings = settings or Settings()
    broker = Broker(settings, issuer=issuer)
    if check_schema:
        broker.check_migrated()
    broker.keys.ensure()
    broker.keys.ring()  # a wrong master key fails here, at start, not at the first login
    token_threads = token_pool(broker)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The pool behind run_in_threadpool: every blocking call of the app goes through it (Settings.threads).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        yield
        token_threads.shutdown(wait=False)

    app = FastAPI(title="sso-broker", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  **_without_native_telemetry())
    app.state.broker = broker
    app.state.provisioning = ProvisioningEngine(broker.db, broker.box, RetryPolicy.from_settings(settings))
    app.add_middleware(TokenEndpoints, broker=broker, threads=token_threads)
    app.add_middleware(RateLimits, broker=broker)
    app.add_middleware(Hardening, secure=settings.secure_cookies)
    app.add_middleware(RequestObservability)
    setup_tracing(app, settings)
    registry = metrics_registry(DatabaseGauges(broker.db))
    # Routes are matched in order: a login's two pages first (each login passes through both).
    app.include_router(login_routes.router)
    app.include_router(oidc_routes.router)
    app.include_router(cas_routes.router)
    app.include_router(gateway_routes.router)
    app.include_router(saml_routes.router)
    app.include_router(upstream_routes.router)
    app.include_router(mfa_routes.router)
    app.include_router(account_routes.router)
    app.include_router(recovery_routes.router)
    app.include_router(admin_api.router)
    app.include_router(admin_routes.router)
    app.include_router(admin_pages.router)
    app.include_router(scim_routes.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "web" / "static")), name="static")

    install_error_handlers(app)

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/account", status_code=303)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: database, signing keys, directories")
    async def readyz() -> JSONResponse:
        ready, body = await run_in_threadpool(readiness, broker.db, broker.keys, broker.directories,
                                                 {settings.access_token_alg, settings.id_token_alg})
        return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        body = await run_in_threadpool(render_metrics, registry)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description="The broker's JSON APIs. Browser pages are not listed.")
            schema["paths"].update(OPENAPI_PATHS)
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["client_secret_basic"] = {
                "type": "http", "scheme": "basic"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def api_reference(request: Request) -> Response:
        """The API reference as a page of our own (no scripts from elsewhere: the CSP allows none)."""
        from app.web.common import render

        groups: dict[str, list[dict[str, str]]] = {}
        for path, item in sorted(openapi()["paths"].items()):
            for method, op in item.items():
                tag = (op.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append({"method": method.upper(), "path": path,
                                                   "summary": op.get("summary") or op.get("description", "")})
        return render(request, "api_docs.html", groups=sorted(groups.items()))

    # Everything built so far lives as long as the process: keep it out of the cyclic collector's full
    # passes, which otherwise stall every request for tens of milliseconds (bench/: p99 at 70% load).
    gc.collect()
    gc.freeze()
    return app


def app_from_env() -> FastAPI:
    """For `uvicorn app.main:app_from_env --factory` and multi-worker servers."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
