"""Metrics (Prometheus), structured JSON logs with request ids, and the health of what we depend on.

Counters and histograms live in the process; with several worker processes set PROMETHEUS_MULTIPROC_DIR
and each process writes its samples there, so one scrape adds them up. Queue depth, dead letters and
directory lag are read from the database at scrape time: they are shared state, the same from any process.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import sys
import time
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.registry import Collector

LOGINS = Counter("sso_logins_total", "Login attempts by step and outcome", ["step", "outcome"])
TOKEN_REQUESTS = Counter("sso_token_requests_total", "Token, revocation and introspection requests",
                         ["endpoint", "status"])
REQUEST_SECONDS = Histogram("sso_http_request_duration_seconds", "HTTP request latency by route",
                            ["route", "method"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
PROVISIONING = Counter("sso_provisioning_outcomes_total", "Provisioning task outcomes", ["connector", "outcome"])
BREAKER_OPENED = Counter("sso_provisioning_target_paused_total", "Times a target's circuit breaker opened",
                         ["connector"])

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
# Routes carrying ids in the path are folded to their template: one series per route, not per id.
_FOLD = [(re.compile(p), t) for p, t in (
    (r"^/account/consents/[^/]+/revoke$", "/account/consents/{client_id}/revoke"),
    (r"^/reset/[^/]+$", "/reset/{token}"),
    (r"^/static/.*$", "/static"),
    (r"^/admin/api/.*$", "/admin/api"),
    (r"^/admin/.*$", "/admin"),
    (r"^/scim/v2/.*$", "/scim/v2"),
)]
KNOWN_ROUTES = {
    "/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/authorize", "/oauth2/userinfo",
    "/oauth2/logout", "/.well-known/openid-configuration", "/.well-known/jwks.json", "/login", "/login/mfa",
    "/login/resume", "/login/passkey/options", "/login/mfa/passkey", "/login/mfa/passkey/options", "/consent",
    "/account", "/reset", "/healthz", "/readyz", "/metrics", "/lang",
}


def route_label(path: str) -> str:
    if path in KNOWN_ROUTES or path.startswith("/account/") and path.count("/") <= 3 and "consents" not in path:
        return path
    for pattern, template in _FOLD:
        if pattern.match(path):
            return template
    return "other"


def metrics_registry(*collectors: Collector) -> CollectorRegistry:
    """This process's counters and memory, and the collectors of those layers above that read state (the
    database gauges in app/health.py), so this module imports no domain package."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for counter in (LOGINS, TOKEN_REQUESTS, REQUEST_SECONDS, PROVISIONING, BREAKER_OPENED):
            registry.register(counter)
    ProcessCollector(registry=registry)  # this process's memory and CPU
    for collector in collectors:
        registry.register(collector)
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


# --- logs -----------------------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "pid": record.process,
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        for key in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@lru_cache(maxsize=1024)
def request_seconds(route: str, method: str) -> Any:
    """The latency histogram of one route and method: `labels()` takes a lock and checks its arguments on each
    call, and every request asks for one of a few dozen."""
    return REQUEST_SECONDS.labels(route, method)


@lru_cache(maxsize=64)
def token_requests(endpoint: str, status: int) -> Any:
    return TOKEN_REQUESTS.labels(endpoint, str(status))


def new_request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy's), else a fresh one."""
    if incoming and REQUEST_ID_SHAPE.match(incoming):
        return incoming
    return secrets.token_hex(8)


# --- the middleware -------------------------------------------------------------------------------------
access_log = logging.getLogger("sso.access")


class RequestObservability:
    """Pure ASGI: a request id for every request (X-Request-ID, in every log line), latency by route, and
    one access-log line at INFO."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = new_request_id(incoming)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = [500]

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            elapsed = time.perf_counter() - started
            request_seconds(route_label(scope["path"]), scope["method"]).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info("%s %s %s", scope["method"], scope["path"], status[0], extra={
                    "method": scope["method"], "path": scope["path"], "status": status[0],
                    "duration_ms": round(elapsed * 1000, 2), "client": client[0] if client else None})
            request_id.reset(token)
