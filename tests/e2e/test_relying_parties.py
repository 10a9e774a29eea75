"""Real relying parties against the live broker: node openid-client v6, Apache mod_auth_openidc, and the
Python example of the integration guide (the demo app)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from app.applications.clients import ClientService, ClientSpec
from app.identity.service import NewOfficial, add_official, ensure_unit
from tests.e2e.conftest import LiveBroker, free_port

PASSWORD = "Mật-khẩu@2025"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


def _seed(live: LiveBroker, spec: ClientSpec) -> str:
    with live.broker.db.session() as s:
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        ensure_unit(s, "xa-hiep-hoa", "Xã Hiệp Hòa", "bac-ninh", "commune")
        add_official(s, NewOfficial("hieund", "Nguyễn Đình Hiếu", PASSWORD, "hieund@bacninh.gov.vn",
                                    title="Chuyên viên", unit_code="xa-hiep-hoa"))
        _, secret = ClientService(live.broker.clients).add(s, spec)
    assert secret
    return secret


def test_node_openid_client_full_flow(live_broker: LiveBroker, node_rp: Path) -> None:
    redirect = "http://127.0.0.1:8089/cb"
    secret = _seed(live_broker, ClientSpec(client_id="node-rp", name="Hệ thống quản lý văn bản",
                                           redirect_uris=[redirect], post_logout_redirect_uris=["http://127.0.0.1:8089/"]))
    env = {**os.environ, "RP_LOGOUT_REDIRECT": "http://127.0.0.1:8089/"}
    result = subprocess.run(["node", str(node_rp), live_broker.issuer, "node-rp", secret, redirect, "hieund",
                             PASSWORD], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["refresh"] == "rotated" and out["revocation"] == "ok" and out["logout"] == "ok"
    assert out["id_token_claims"]["name"] == "Nguyễn Đình Hiếu"
    assert out["userinfo"]["unit"]["path"][-1]["name"] == "Xã Hiệp Hòa"


def _forms(html: str) -> list[tuple[str, dict[str, str]]]:
    found = []
    for head, body in re.findall(r"<form\b([^>]*)>(.*?)</form>", html, re.S | re.I):
        action = re.search(r'action="([^"]*)"', head)
        fields = {}
        for tag in re.findall(r"<input\b[^>]*>", body):
            name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = value.group(1).replace("&amp;", "&") if value else ""
        found.append((action.group(1) if action else "", fields))
    return found


def browser_login(http: httpx.Client, start: str, done_prefix: str, username: str = "hieund",
                  password: str = PASSWORD) -> httpx.Response:
    """Follow redirects and submit the broker's forms like a browser until we land under done_prefix."""
    response = http.get(start)
    for _ in range(20):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            response = http.get(target)
            continue
        if str(response.url).startswith(done_prefix) and response.status_code == 200:
            return response
        forms = _forms(response.text)
        assert forms, f"stuck at {response.url}: {response.status_code} {response.text[:300]}"
        action, fields = forms[0]
        if "password" in fields:
            fields.update(username=username, password=password)
        if "decision" in response.text:
            fields["decision"] = "allow"
        response = http.post(urljoin(str(response.url), action), data=fields)
    raise AssertionError("too many steps")


@pytest.fixture
def apache(live_broker: LiveBroker, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/protected/redirect_uri"
    secret = _seed(live_broker, ClientSpec(client_id="apache-rp", name="Cổng dịch vụ công", redirect_uris=[redirect],
                                           first_party=True))
    # Apache's workers run as www-data: their directory must be reachable, unlike pytest's private tmp dirs.
    env = {**os.environ, "APACHE_OIDC_DIR": f"/tmp/sso-broker-apache-{port}", "APACHE_OIDC_PORT": str(port),
           "OIDC_PROVIDER_METADATA_URL": f"{live_broker.issuer}/.well-known/openid-configuration",
           "OIDC_CLIENT_ID": "apache-rp", "OIDC_CLIENT_SECRET": secret, "OIDC_REDIRECT_URI": redirect,
           "OIDC_REMOTE_USER_CLAIM": "preferred_username"}
    subprocess.run(["bash", str(SCRIPTS / "apache-oidc-start.sh")], env=env, check=True, timeout=120,
                   capture_output=True)
    yield f"http://127.0.0.1:{port}"
    subprocess.run(["bash", str(SCRIPTS / "apache-oidc-stop.sh")], env=env, timeout=30, capture_output=True)


def test_apache_mod_auth_openidc(apache: str) -> None:
    with httpx.Client(headers={"Accept": "text/html"}, timeout=20) as http:
        page = browser_login(http, f"{apache}/protected/whoami.html", f"{apache}/protected/whoami.html")
    text = page.text
    assert "OIDC_CLAIM_name=Nguyễn Đình Hiếu" in text
    assert "REMOTE_USER=hieund" in text
    assert "OIDC_CLAIM_email=hieund@bacninh.gov.vn" in text


def test_python_demo_app(live_broker: LiveBroker) -> None:
    """The demo relying party (app/demo_rp.py), served by `sso-broker demo`, logs in end to end."""
    import socket
    import sys
    import time

    port = free_port()
    data_dir = live_broker.settings.data_dir / "demo"
    env = {**os.environ, "SSO_DATABASE_URL": live_broker.settings.database_url,
           "SSO_MASTER_KEY": live_broker.settings.master_key, "SSO_DATA_DIR": str(data_dir), "SSO_ISSUER": ""}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = ""
        deadline = time.monotonic() + 30
        while "log in as" not in banner and time.monotonic() < deadline:
            banner += proc.stdout.readline() if proc.stdout else ""
        assert f"http://127.0.0.1:{port}/demo-app" in banner and "hieund / Demo@12345" in banner, banner
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        with httpx.Client(timeout=20) as http:
            home = http.get(f"http://127.0.0.1:{port}/demo-app")
            assert "Sign in" in home.text
            page = browser_login(http, f"http://127.0.0.1:{port}/demo-app/login",
                                 f"http://127.0.0.1:{port}/demo-app", password="Demo@12345")
            assert "Xin chào Nguyễn Đình Hiếu" in page.text, page.text[:500]
            assert "Sở Thông tin và Truyền thông" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
