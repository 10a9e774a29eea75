"""The token, revocation and introspection endpoints as a bare ASGI handler.

These are the endpoints machines call thousands of times a second. They take a form and return JSON, so they
need none of the framework's routing, dependency injection or middleware stack, whose overhead measured
larger than the whole OAuth work (bench/). Everything else is served by FastAPI.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

from app.broker import Broker
from app.observability import token_requests
from app.oidc.http import HttpRequest, ProtocolResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ENDPOINTS = {"/oauth2/token": None, "/oauth2/revoke": "revocation", "/oauth2/introspect": "introspection"}
MAX_BODY = 64 * 1024
STATEMENTWISE_GRANTS = ("authorization_code", "refresh_token")
JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
]


def _error(status: int, error: str, description: str) -> ProtocolResponse:
    return ProtocolResponse(status, {"error": error, "error_description": description}, [])


def form_pairs(body: str) -> list[tuple[str, str]]:
    """The pairs of an application/x-www-form-urlencoded body, as `parse_qsl(body, keep_blank_values=True)` gives
    them, with only what is encoded decoded: a token request's codes and tokens are URL-safe already, and
    `parse_qsl` unquoted each of them (a twentieth of a code exchange in cProfile)."""
    pairs = []
    for field in body.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((_decoded(name), _decoded(value)))
    return pairs


def _decoded(text: str) -> str:
    return unquote_plus(text) if "%" in text or "+" in text else text


def protocol_call(broker: Broker, path: str, headers: dict[str, str], body: bytes) -> ProtocolResponse:
    """One token-endpoint request in one short transaction."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type != "application/x-www-form-urlencoded":
        return _error(400, "invalid_request", "Send the parameters as application/x-www-form-urlencoded.")
    try:
        form = form_pairs(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(400, "invalid_request", "The request body is not UTF-8.")
    if any("\x00" in k or "\x00" in v for k, v in form):
        return _error(400, "invalid_request", "Parameters must not contain NUL characters.")
    request = HttpRequest("POST", f"{broker.issuer}{path}", headers, form=form)
    endpoint = ENDPOINTS[path]
    # A grant's writes are each one statement that holds alone (the code claimed for this grant's id; the
    # refresh token rotated and its successor written together): without a transaction around them the
    # database is asked two round trips fewer, BEGIN and COMMIT. Revocation and introspection keep theirs.
    grant = endpoint is None and dict(form).get("grant_type") in STATEMENTWISE_GRANTS
    try:
        with broker.db.session(each_statement_commits=grant) as session:
            provider = broker.provider(session)
            if endpoint is None:
                return provider.create_token_response(request)  # type: ignore[no-any-return]
            return provider.create_endpoint_response(endpoint, request)  # type: ignore[no-any-return]
    except ValueError:
        # Authlib refuses to echo control characters or quotes in an error description.
        return _error(400, "invalid_request", "The request contains characters that are not allowed.")


class TokenEndpoints:
    """ASGI middleware: answers the three machine endpoints itself and hands everything else on."""

    def __init__(self, app: ASGIApp, broker: Broker, threads: ThreadPoolExecutor) -> None:
        self.app = app
        self.broker = broker
        # A pool of its own (`token_pool`) rather than anyio's (run_in_threadpool): a hop through anyio's limiter
        # and cancel scopes cost twice the CPU of one through the executor, 50 against 25 µs with 16 requests in
        # flight, and the endpoint's p99 wants fewer threads than the pages do.
        self.threads = threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in ENDPOINTS:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _send(send, _error(405, "invalid_request", "Use POST."), [(b"allow", b"POST")])
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _send(send, _error(413, "invalid_request", "request body too large"))
                return
            if not message.get("more_body"):
                break
        if b"grant_type=client_credentials" in body:
            # Nothing to wait for (the client is cached, the token is signed here): inline is cheaper than a hop
            # to the thread pool.
            response = protocol_call(self.broker, scope["path"], headers, body)
        else:
            # Codes, refresh tokens, revocation and introspection wait on the database: in the pool, so the event
            # loop serves other requests meanwhile instead of queueing them behind each commit.
            call = partial(contextvars.copy_context().run, protocol_call, self.broker, scope["path"], headers, body)
            response = await asyncio.get_running_loop().run_in_executor(self.threads, call)
        token_requests(scope["path"].rsplit("/", 1)[1], response.status).inc()
        await _send(send, response)


async def _send(send: Send, response: ProtocolResponse, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode()
    headers = list(JSON_HEADERS)
    seen = {name for name, _ in headers}
    for name, value in response.headers:
        key = name.lower().encode("latin-1")
        if key not in seen:
            headers.append((key, value.encode("latin-1")))
    headers.append((b"content-length", str(len(payload)).encode()))
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def token_pool(broker: Broker) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(broker.settings.token_threads, thread_name_prefix="token-endpoint")


def _form_operation(summary: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    error = {"description": "An OAuth 2.0 error (RFC 6749 §5.2)", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}}}}
    return {"post": {
        "summary": summary, "tags": ["oauth2"],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": properties, "required": required}}}},
        "security": [{"client_secret_basic": []}, {}],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "400": error, "401": error},
    }}


_STR = {"type": "string"}
# These endpoints are answered by TokenEndpoints, outside FastAPI's routing: described here for OpenAPI.
OPENAPI_PATHS: dict[str, Any] = {
    "/oauth2/token": _form_operation("Token endpoint (RFC 6749 §3.2)", {
        "grant_type": {"type": "string", "enum": ["authorization_code", "refresh_token", "client_credentials"]},
        "code": _STR, "redirect_uri": _STR, "code_verifier": _STR, "refresh_token": _STR, "scope": _STR,
        "client_id": _STR, "client_secret": _STR, "client_assertion": _STR, "client_assertion_type": _STR,
    }, ["grant_type"]),
    "/oauth2/revoke": _form_operation("Revocation (RFC 7009)", {
        "token": _STR, "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
        "client_id": _STR, "client_secret": _STR}, ["token"]),
    "/oauth2/introspect": _form_operation("Introspection (RFC 7662)", {
        "token": _STR, "token_type_hint": _STR, "client_id": _STR, "client_secret": _STR}, ["token"]),
}
