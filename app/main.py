"""create_app(settings): routers, middleware, nothing else."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from app.broker import Broker
from app.settings import Settings
from app.web import account_routes, login_routes, oidc_routes
from app.web.common import InvalidInput

MAX_BODY = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' "
                               "http: https:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class Hardening(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"error": "invalid_request", "error_description": "request body too large"},
                                status_code=413)
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.app.state.broker.settings.secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def create_app(settings: Settings | None = None, issuer: str | None = None, check_schema: bool = True) -> FastAPI:
    settings = settings or Settings()
    broker = Broker(settings, issuer=issuer)
    if check_schema:
        broker.check_migrated()
    broker.keys.ensure()
    broker.keys.ring()  # a wrong master key fails here, at start, not at the first login
    app = FastAPI(title="sso-broker", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.broker = broker
    app.add_middleware(Hardening)
    app.include_router(oidc_routes.router)
    app.include_router(login_routes.router)
    app.include_router(account_routes.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "web" / "static")), name="static")

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, status_code=400)

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/account", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_env() -> FastAPI:
    """For `uvicorn app.main:app_from_env --factory` and multi-worker servers."""
    return create_app()
