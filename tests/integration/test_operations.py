"""Operations: metrics, readiness, request ids, rate limits shared by processes, master-key rotation."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from app.auth.ratelimit import Limit, RateLimiter
from app.db import now
from app.provisioning.models import ProvisioningTask
from tests.kit import Flow, Kit, form_fields


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


def test_metrics_count_logins_tokens_and_read_the_queue(kit: Kit) -> None:
    official_id = kit.official()
    client = kit.client(first_party=True)
    before = kit.http.get("/metrics").text
    kit.submit_login(kit.http.get("/login"), password="wrong")
    kit.tokens(Flow(client))
    kit.http.post("/oauth2/token", data={"grant_type": "authorization_code", "code": "nope"}, auth=client.auth)
    with kit.broker.db.session() as s:
        s.add(ProvisioningTask(official_id=official_id, connector="nowhere", status="pending",
                               created_at=now() - 120, next_attempt_at=now()))
        s.add(ProvisioningTask(official_id=official_id, connector="nowhere", status="dead", created_at=now(),
                               next_attempt_at=now()))
    response = kit.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = response.text
    for labels, delta in (({"step": "password", "outcome": "ok"}, 1),
                          ({"step": "password", "outcome": "bad_credentials"}, 1)):
        assert sample(after, "sso_logins_total", **labels) - sample(before, "sso_logins_total", **labels) == delta
    assert sample(after, "sso_token_requests_total", endpoint="token", status="200") >= 1
    assert sample(after, "sso_token_requests_total", endpoint="token", status="400") >= 1
    assert sample(after, "sso_provisioning_queue_depth", status="pending") == 1
    assert sample(after, "sso_provisioning_dead_letters") == 1
    assert sample(after, "sso_provisioning_oldest_pending_age_seconds") >= 119
    assert sample(after, "sso_http_request_duration_seconds_count", route="/login", method="POST") >= 1
    assert sample(after, "process_resident_memory_bytes") > 10_000_000
    assert not re.search(r'route="/reset/[A-Za-z0-9_-]{20,}"', after)  # ids folded: one series per route


def test_readiness_reports_database_keys_and_directories(kit: Kit) -> None:
    ready = kit.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "signing_keys": "ok"}}
    from app.directory.sources import parse_config  # a directory nobody answers for

    with kit.broker.db.session() as s:
        kit.broker.directories.save(s, parse_config({"name": "down", "urls": ["ldap://127.0.0.1:9"],
                                                     "bind_dn": "cn=x", "people_base": "dc=x", "timeout": 1}), "pw")
    degraded = kit.http.get("/readyz")
    assert degraded.status_code == 200  # sessions and local accounts still work: stay in rotation
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["checks"]["directories"] == {"down": "unreachable"}


def test_every_response_carries_a_request_id(kit: Kit) -> None:
    given = kit.http.get("/healthz", headers={"X-Request-ID": "proxy-1234abcd"})
    assert given.headers["x-request-id"] == "proxy-1234abcd"
    odd = kit.http.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{16}", odd.headers["x-request-id"])
    assert kit.http.post("/oauth2/token", data={}).headers.get("x-request-id")


def fresh_window() -> None:
    """Fixed one-minute windows: start a counting test well inside one."""
    left = 60 - time.time() % 60
    if left < 8:
        time.sleep(left + 0.1)


def test_rate_limit_is_shared_by_two_app_instances(settings) -> None:  # type: ignore[no-untyped-def]
    from app.main import create_app

    fresh_window()
    limited = settings.model_copy(update={"rate_limit_auth_per_minute": 6})
    one, two = (TestClient(create_app(limited), base_url=settings.issuer, follow_redirects=False)
                for _ in range(2))
    statuses = []
    for i in range(10):
        http = one if i % 2 else two
        page = http.get("/login")
        statuses.append(http.post("/login", data={**form_fields(page.text), "username": f"x{i}",
                                                   "password": "y"}).status_code)
    assert statuses[:6] == [401] * 6
    assert statuses[6:] == [429] * 4
    reply = one.post("/login", data={})
    assert reply.status_code == 429 and int(reply.headers["retry-after"]) <= 60
    assert "Quá nhiều yêu cầu" in reply.text and "Too many requests" in reply.text
    assert one.get("/login").status_code == 200  # pages still load; only the POSTs that check secrets count


def test_rate_limiter_in_redis_is_shared_too(settings) -> None:  # type: ignore[no-untyped-def]
    from app.db import Database

    db = Database(settings.effective_database_url)
    a, b = RateLimiter(db, "redis://127.0.0.1:6379/0"), RateLimiter(db, "redis://127.0.0.1:6379/0")
    address = f"203.0.113.{now() % 250}"
    limit = Limit(3, 60)
    fresh_window()
    results = [(a if i % 2 else b).hit(f"test-{now()}", address, limit) for i in range(5)]
    assert results[:3] == [0, 0, 0] and all(r > 0 for r in results[3:])
    broken = RateLimiter(db, "redis://127.0.0.1:1/0")  # Redis down: the database takes over
    assert broken.hit("fallback", address, limit) == 0
    db.dispose()


def test_opentelemetry_spans_reach_an_otlp_collector(settings) -> None:  # type: ignore[no-untyped-def]
    """A stand-in OTLP/HTTP collector decodes what the broker exports with the OpenTelemetry protobufs."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from app.main import create_app

    received: list[ExportTraceServiceRequest] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            message = ExportTraceServiceRequest()
            message.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(message)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    traced = settings.model_copy(update={"otel_endpoint": f"http://127.0.0.1:{server.server_address[1]}/v1/traces"})
    app = create_app(traced)
    with TestClient(app, base_url=settings.issuer) as http:
        assert http.get("/healthz").status_code == 200
        http.post("/oauth2/token", data={"grant_type": "client_credentials"})
    app.state.tracer_provider.shutdown()  # flushes, and stops exporting before the collector goes away
    server.shutdown()
    spans = [span for message in received for rs in message.resource_spans for ss in rs.scope_spans
             for span in ss.spans]
    services = {attr.value.string_value for message in received for rs in message.resource_spans
                for attr in rs.resource.attributes if attr.key == "service.name"}
    assert services == {"sso-broker"}
    names = {span.name for span in spans}
    assert any("/healthz" in n for n in names) and any("/oauth2/token" in n for n in names), names


def test_concurrent_hits_are_all_counted(settings) -> None:  # type: ignore[no-untyped-def]
    """Read-modify-write counters under concurrent writers (SQLite ignores FOR UPDATE): no hit is lost."""
    import threading

    from app.db import Database

    db = Database(settings.effective_database_url)
    limiter = RateLimiter(db)
    fresh_window()
    seen: list[int] = []
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            for _ in range(10):
                seen.append(limiter.hit("concurrency", "198.51.100.7", Limit(1000, 60)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen == [0] * 40
    from app.auth.models import RateCounter

    with db.session() as s:
        counts = [r.count for r in s.query(RateCounter).filter(RateCounter.key.like("rl:concurrency:%"))]
    assert counts == [40]
    db.dispose()
