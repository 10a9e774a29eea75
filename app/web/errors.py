"""Each interface answers errors in its own format: the admin API's JSON, SCIM's (RFC 7644 §3.12) under
/scim/v2, OAuth's elsewhere; FastAPI's defaults for the rest."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.admin.errors import AdminError
from app.admin.scope import Forbidden
from app.scim.service import ScimError
from app.web.admin_auth import NeedsMfa, NotAuthenticated
from app.web.common import CsrfRefused, InvalidInput
from app.web.scim_routes import error as scim_error

SCIM_PREFIX = "/scim/v2"


async def admin_error(request: Request, exc: AdminError) -> JSONResponse:
    body = {"error": exc.code, "message": exc.message, **({"field": exc.field} if exc.field else {})}
    return JSONResponse(body, status_code=exc.status)

async def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
    return JSONResponse({"error": "forbidden", "message": f"your roles do not allow this here ({exc})"},
                        status_code=403)

async def not_authenticated(request: Request, exc: NotAuthenticated) -> JSONResponse:
    return JSONResponse({"error": "unauthorized", "message": str(exc)}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer scope="admin"'})

async def needs_mfa(request: Request, exc: NeedsMfa) -> JSONResponse:
    return JSONResponse({"error": "mfa_required", "message": str(exc)}, status_code=403)

async def invalid_parameters(request: Request, exc: RequestValidationError) -> Response:
    if request.url.path.startswith(SCIM_PREFIX):
        return scim_error(400, "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                         for e in exc.errors())[:500], "invalidValue")
    return await request_validation_exception_handler(request, exc)

async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if request.url.path.startswith(SCIM_PREFIX):
        return scim_error(exc.status_code, str(exc.detail))
    return await http_exception_handler(request, exc)

async def scim_refused(request: Request, exc: ScimError) -> Response:
    return scim_error(exc.status, exc.detail, exc.scim_type)

async def csrf_refused(request: Request, exc: CsrfRefused) -> JSONResponse:
    return JSONResponse({"error": "csrf", "message": "missing or wrong X-CSRF-Token"}, status_code=403)

async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AdminError, admin_error)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(NotAuthenticated, not_authenticated)  # type: ignore[arg-type]
    app.add_exception_handler(NeedsMfa, needs_mfa)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_parameters)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(ScimError, scim_refused)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, csrf_refused)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInput, invalid_input)  # type: ignore[arg-type]
