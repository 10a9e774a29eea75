"""Two broker processes on one database share nothing else: log in on one, exchange and refresh on the other."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from app.broker import Broker
from app.identity.service import NewOfficial, add_official
from app.services.clients import ClientService, ClientSpec
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
