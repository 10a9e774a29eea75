"""Two broker processes on one database share nothing else: log in on one, exchange and refresh on the other."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from app.applications.clients import ClientService, ClientSpec
from app.broker import Broker
from app.identity.service import NewOfficial, add_official
from app.settings import Settings
from tests.e2e.conftest import free_port, start_server
from tests.e2e.test_relying_parties import _forms
from tests.kit import pkce_pair

PASSWORD = "Mật-khẩu@2025"


def test_login_on_one_process_tokens_on_another(database_url: str, master_key: str, tmp_path: Path) -> None:
    issuer = "http://127.0.0.1:1"  # one issuer in front of both processes, as behind a load balancer
    ports = [free_port(), free_port()]
    env = {**os.environ, "SSO_DATABASE_URL": database_url, "SSO_MASTER_KEY": master_key,
           "SSO_DATA_DIR": str(tmp_path), "SSO_ISSUER": issuer}
    settings = Settings(database_url=database_url, master_key=master_key, issuer=issuer, data_dir=tmp_path)
    broker = Broker(settings)
    broker.keys.ensure()
    with broker.db.session() as s:
        add_official(s, NewOfficial("hieund", "Nguyễn Đình Hiếu", PASSWORD))
        _, secret = ClientService(broker.clients).add(s, ClientSpec(
            client_id="lb", redirect_uris=["https://app.example.gov.vn/cb"], first_party=True))
    procs = [start_server(env, port, tmp_path / f"p{port}.log") for port in ports]
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    try:
        verifier, challenge = pkce_pair()
        query = urlencode({"response_type": "code", "client_id": "lb", "redirect_uri": "https://app.example.gov.vn/cb",
                           "scope": "openid offline_access", "state": "s", "nonce": "n",
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        with httpx.Client(timeout=20) as browser:
            page = browser.get(f"{a}/oauth2/authorize?{query}")
            _, fields = _forms(page.text)[0]
            done = browser.post(f"{a}/login", data={**fields, "username": "hieund", "password": PASSWORD})
            code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
            # the same browser, now routed to the other process, is still logged in there
            silent = browser.get(f"{b}/oauth2/authorize?{query}&prompt=none")
            assert "code=" in silent.headers["location"]
        auth = ("lb", secret or "")
        tokens = httpx.post(f"{b}/oauth2/token", auth=auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example.gov.vn/cb",
            "code_verifier": verifier}).json()
        assert "id_token" in tokens, tokens
        refreshed = httpx.post(f"{a}/oauth2/token", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
        assert "access_token" in refreshed, refreshed
        again = httpx.post(f"{b}/oauth2/token", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
        assert again.status_code == 200
        reuse = httpx.post(f"{a}/oauth2/token", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert reuse.json()["error"] == "invalid_grant"
        introspected = httpx.post(f"{b}/oauth2/introspect", auth=auth, data={"token": again.json()["access_token"]})
        assert introspected.json() == {"active": False}  # the reuse on A revoked the family everywhere
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        broker.db.dispose()


def test_two_workers_log_json_with_request_ids_and_share_metrics(database_url: str, master_key: str,
                                                                 tmp_path: Path) -> None:
    import json

    port = free_port()
    env = {**os.environ, "SSO_DATABASE_URL": database_url, "SSO_MASTER_KEY": master_key,
           "SSO_DATA_DIR": str(tmp_path), "SSO_ISSUER": f"http://127.0.0.1:{port}", "SSO_LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "broker.log"
    proc = start_server(env, port, log, workers=2, log_level="info")
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as http:  # new connections, so both workers answer some
            for i in range(40):
                reply = httpx.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"},
                                   headers={"X-Request-ID": f"trace-{i:04d}-abcdef"})
                assert reply.status_code == 401 and reply.headers["x-request-id"] == f"trace-{i:04d}-abcdef"
            metrics = http.get(f"{base}/metrics").text
        total = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith("sso_token_requests_total{") and 'endpoint="token"' in line)
        assert total == 40  # counted by whichever process answered, summed by any
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        access = [entry for entry in lines if entry.get("logger") == "sso.access"]
        assert {e["request_id"] for e in access if e["path"] == "/oauth2/token"} >= {
            f"trace-{i:04d}-abcdef" for i in range(40)}
        assert all({"time", "level", "status", "duration_ms"} <= set(e) for e in access)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
