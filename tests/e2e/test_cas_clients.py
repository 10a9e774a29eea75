"""Real CAS clients against the live broker: Apache mod_auth_cas protecting a page, phpCAS reading
attributes, python-cas obtaining and validating proxy tickets; single logout reaches the first two."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.e2e.conftest import LiveBroker, free_port
from tests.e2e.test_relying_parties import PASSWORD, browser_login
from tests.kit import form_fields, run_cli

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


@pytest.fixture
def official(live_broker: LiveBroker) -> str:
    run_cli(live_broker.settings, ["user", "add", "hieund", "--name", "Nguyễn Đình Hiếu", "--email",
                                   "hieund@bacninh.gov.vn", "--title", "Chuyên viên", "--password", PASSWORD])
    return "hieund"


def _service(live: LiveBroker, *argv: str) -> None:
    run_cli(live.settings, ["services", "add", *argv])


def _start(script: str, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", str(SCRIPTS / script)], env={**os.environ, **env}, timeout=180,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture
def mod_auth_cas(live_broker: LiveBroker, official: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    _service(live_broker, "apache-cas", "--name", "Quản lý văn bản", "--prefix", f"{base}/protected/",
             "--attribute", "displayName", "--attribute", "mail")
    # Apache's workers run as www-data: their directory must be reachable, unlike pytest's private tmp dirs.
    env = {"APACHE_CAS_DIR": f"/tmp/sso-broker-apache-cas-{port}", "APACHE_CAS_PORT": str(port),
           "CAS_LOGIN_URL": f"{live_broker.issuer}/cas/login",
           "CAS_VALIDATE_URL": f"{live_broker.issuer}/cas/p3/serviceValidate"}
    _start("apache-cas-start.sh", env)
    yield base
    subprocess.run(["bash", str(SCRIPTS / "apache-cas-stop.sh")], env={**os.environ, **env}, timeout=30,
                   capture_output=True)


@pytest.fixture
def phpcas(live_broker: LiveBroker, official: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    _service(live_broker, "phpcas", "--name", "Đào tạo", "--prefix", f"{base}/", "--attribute", "displayName",
             "--attribute", "mail", "--attribute", "chucVu=title")
    env = {"PHPCAS_DIR": str(tmp_path / "phpcas"), "PHPCAS_PORT": str(port),
           "CAS_BASE_URL": f"{live_broker.issuer}/cas"}
    _start("phpcas-start.sh", env)
    yield base
    subprocess.run(["bash", str(SCRIPTS / "phpcas-stop.sh")], env={**os.environ, **env}, timeout=30,
                   capture_output=True)


def _signed_out(http: httpx.Client, url: str, issuer: str) -> bool:
    """The application sends the browser to the broker's login again: its own session is gone."""
    response = http.get(url)
    return response.status_code in (302, 303) and response.headers["location"].startswith(f"{issuer}/cas/login")


def test_mod_auth_cas_protects_a_page_and_single_logout_ends_its_session(
        mod_auth_cas: str, live_broker: LiveBroker) -> None:
    with httpx.Client(timeout=30) as http:
        page = browser_login(http, f"{mod_auth_cas}/protected/", f"{mod_auth_cas}/protected/")
        assert "user: hieund" in page.text and "displayName: Nguyễn Đình Hiếu" in page.text
        assert "mail: hieund@bacninh.gov.vn" in page.text
        assert http.get(f"{mod_auth_cas}/protected/").status_code == 200  # its own session now
        bye = http.get(f"{live_broker.issuer}/cas/logout")
        assert bye.status_code == 200
        assert _signed_out(http, f"{mod_auth_cas}/protected/", live_broker.issuer)


def test_phpcas_reads_attributes_and_its_logout_signs_out_everywhere(
        phpcas: str, mod_auth_cas: str, live_broker: LiveBroker) -> None:
    with httpx.Client(timeout=30) as http:
        answer = browser_login(http, f"{phpcas}/", f"{phpcas}/")
        data = json.loads(answer.text)
        assert data["user"] == "hieund"
        assert data["attributes"]["displayName"] == "Nguyễn Đình Hiếu" and data["attributes"]["chucVu"] == \
            "Chuyên viên"
        # the second application opens without a password: one sign-in for both
        page = browser_login(http, f"{mod_auth_cas}/protected/", f"{mod_auth_cas}/protected/", password="unused")
        assert "user: hieund" in page.text
        # phpCAS's own logout goes through the broker, which tells both applications
        response = http.get(f"{phpcas}/logout.php")
        for _ in range(5):
            if not response.is_redirect:
                break
            response = http.get(urljoin(str(response.url), response.headers["location"]))
        assert response.status_code == 200
        assert _signed_out(http, f"{phpcas}/", live_broker.issuer)
        assert _signed_out(http, f"{mod_auth_cas}/protected/", live_broker.issuer)


class _Callback(BaseHTTPRequestHandler):
    """The proxying application's pgtUrl: remembers pgtIou -> pgtId, as CAS proxy clients do."""

    pgts: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "pgtIou" in query:
            self.pgts[query["pgtIou"]] = query["pgtId"]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_python_cas_proxy_tickets(live_broker: LiveBroker, official: str) -> None:
    import cas  # type: ignore[import-untyped]

    pgts: dict[str, str] = {}
    server = HTTPServer(("127.0.0.1", 0), type("Handler", (_Callback,), {"pgts": pgts}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{server.server_address[1]}/pgt"
    portal, backend = "http://127.0.0.1:9/portal/", "http://127.0.0.1:9/api/"  # names only: never fetched
    _service(live_broker, "portal", "--prefix", portal, "--allow-proxy", "--proxy-pattern",
             f"^http://127\\.0\\.0\\.1:{server.server_address[1]}/pgt$")
    _service(live_broker, "backend", "--prefix", backend, "--attribute", "displayName")
    try:
        proxy = cas.CASClient(version=3, service_url=portal, server_url=f"{live_broker.issuer}/cas/",
                              proxy_callback=callback)
        with httpx.Client(timeout=30) as http:
            page = http.get(proxy.get_login_url())
            fields = {"username": official, "password": PASSWORD}
            for name, value in form_fields(page.text).items():
                fields.setdefault(name, value)
            back = http.post(f"{live_broker.issuer}/login", data=fields)
        ticket = parse_qs(urlsplit(back.headers["location"]).query)["ticket"][0]
        user, attributes, iou = proxy.verify_ticket(ticket)
        assert user == official and iou in pgts
        target = type("ProxyValidating", (cas.CASClientV3,), {"url_suffix": "p3/proxyValidate"})(
            service_url=backend, server_url=f"{live_broker.issuer}/cas/")
        proxy_ticket = target.get_proxy_ticket(pgts[iou])
        assert proxy_ticket.startswith("PT-")
        user, attributes, _ = target.verify_ticket(proxy_ticket)
        assert user == official and attributes["displayName"] == "Nguyễn Đình Hiếu"
        assert target.verify_ticket(proxy_ticket)[0] is None  # single use
    finally:
        server.shutdown()

