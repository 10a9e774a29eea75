"""CAS Protocol 3.0 through the broker's HTTP surface: services registered with the CLI, a browser at
/cas/login, validation as a CAS client does it, and hostile requests answered with protocol errors."""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.cli import main
from app.settings import Settings
from app.store.models import LogoutDelivery
from tests.kit import PASSWORD, Kit, form_fields, run_cli

APP = "https://vanban.bacninh.gov.vn/"
OTHER = "https://dichvucong.bacninh.gov.vn/"
NS = {"cas": "http://www.yale.edu/tp/cas"}
MOD_AUTH_CAS_TICKET = re.compile(r"^[PS]T-[A-Za-z0-9.-]+$")  # what mod_auth_cas accepts (validCASTicketFormat)


class Recorder(BaseHTTPRequestHandler):
    """A service's own endpoint on loopback: records GET queries (proxy callbacks) and POST forms (logout)."""

    seen: list[dict[str, str]] = []

    def _record(self, query: str) -> None:
        self.seen.append({k: v[0] for k, v in parse_qs(query).items()} | {"_path": urlsplit(self.path).path})
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self._record(urlsplit(self.path).query)

    def do_POST(self) -> None:  # noqa: N802
        self._record(self.rfile.read(int(self.headers["Content-Length"])).decode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    server = HTTPServer(("127.0.0.1", 0), type("Handler", (Recorder,), {"seen": seen}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.fixture
def cas_kit(settings: Settings) -> Iterator[Kit]:
    kit = Kit(settings.model_copy(update={"cas_allow_http_proxy_callbacks": True}))
    kit.official()
    run_cli(kit.settings, ["services", "add", "vanban", "--name", "Văn bản điều hành", "--prefix", APP,
                           "--attribute", "displayName", "--attribute", "mail", "--attribute", "unitName",
                           "--attribute", "groups"])
    yield kit


def login(kit: Kit, service: str = APP, **extra: str) -> str:
    """The browser's trip: /cas/login, the password page if shown; returns where it is sent back to."""
    page = kit.http.get("/cas/login", params={"service": service, **extra})
    if page.status_code == 200 and 'name="password"' in page.text:
        page = kit.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": PASSWORD})
    assert page.status_code == 303, (page.status_code, page.text[:300])
    return str(page.headers["location"])


def ticket_of(location: str, service: str = APP) -> str:
    assert location.startswith(service), location
    return parse_qs(urlsplit(location).query)["ticket"][0]


def validate(kit: Kit, path: str, **params: str) -> ET.Element:
    response = kit.http.get(f"/cas/{path}", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


def failure_code(root: ET.Element) -> str | None:
    node = root.find("cas:authenticationFailure", NS)
    return node.get("code") if node is not None else None


def test_login_then_validate_releases_the_registered_attributes_once(cas_kit: Kit) -> None:
    ticket = ticket_of(login(cas_kit))
    assert MOD_AUTH_CAS_TICKET.match(ticket) and len(ticket) >= 32 and "_" not in ticket
    root = validate(cas_kit, "p3/serviceValidate", service=APP, ticket=ticket)
    success = root.find("cas:authenticationSuccess", NS)
    assert success is not None and success.findtext("cas:user", namespaces=NS) == "hieund"
    attrs = {el.tag.split("}")[1]: el.text for el in success.find("cas:attributes", NS) or []}
    assert attrs["displayName"] == "Nguyễn Đình Hiếu" and attrs["mail"] == "hieund@bacninh.gov.vn"
    assert attrs["unitName"] == "Sở Thông tin và Truyền thông" and attrs["groups"] == "cb-so-ttt"
    assert "title" not in attrs  # not released to this service
    # single use: the same ticket again is refused, at any validation endpoint
    assert failure_code(validate(cas_kit, "p3/serviceValidate", service=APP, ticket=ticket)) == "INVALID_TICKET"
    assert cas_kit.http.get("/cas/validate", params={"service": APP, "ticket": ticket}).text == "no\n\n"


def test_the_second_login_needs_no_password_and_json_and_cas1_answers(cas_kit: Kit) -> None:
    login(cas_kit)
    location = cas_kit.http.get("/cas/login", params={"service": APP + "page?x=1"}).headers["location"]
    assert location.startswith(APP + "page?x=1&ticket=ST-")
    answer = cas_kit.http.get("/cas/p3/serviceValidate", params={
        "service": APP + "page?x=1", "ticket": ticket_of(location, APP), "format": "JSON"}).json()
    success = answer["serviceResponse"]["authenticationSuccess"]
    assert success["user"] == "hieund" and success["attributes"]["displayName"] == ["Nguyễn Đình Hiếu"]
    one = cas_kit.http.get("/cas/validate", params={"service": APP, "ticket": ticket_of(login(cas_kit))})
    assert one.text == "yes\nhieund\n" and one.headers["content-type"].startswith("text/plain")


def test_a_ticket_for_one_service_is_refused_for_another(cas_kit: Kit) -> None:
    run_cli(cas_kit.settings, ["services", "add", "dvc", "--prefix", OTHER])
    ticket = ticket_of(login(cas_kit))
    assert failure_code(validate(cas_kit, "serviceValidate", service=OTHER, ticket=ticket)) == "INVALID_SERVICE"
    # and the attempt used it up: the right service cannot take it afterwards either
    assert failure_code(validate(cas_kit, "serviceValidate", service=APP, ticket=ticket)) == "INVALID_TICKET"


def test_an_unregistered_service_gets_a_page_and_never_a_ticket(cas_kit: Kit) -> None:
    page = cas_kit.http.get("/cas/login", params={"service": "https://attacker.invalid/steal"})
    assert page.status_code == 400 and "location" not in page.headers and "ST-" not in page.text
    # also with a session: a prefix does not extend to another host
    login(cas_kit)
    page = cas_kit.http.get("/cas/login", params={"service": "https://vanban.bacninh.gov.vn.attacker.invalid/"})
    assert page.status_code == 400 and "location" not in page.headers


def test_renew_asks_for_the_password_again_and_the_ticket_says_so(cas_kit: Kit) -> None:
    from_session_ticket = ticket_of(login(cas_kit))  # first login
    sso_ticket = ticket_of(cas_kit.http.get("/cas/login", params={"service": APP}).headers["location"])
    assert failure_code(validate(cas_kit, "serviceValidate", service=APP, ticket=sso_ticket,
                                 renew="true")) == "INVALID_TICKET"
    page = cas_kit.http.get("/cas/login", params={"service": APP, "renew": "true"})
    assert page.status_code == 200 and 'name="password"' in page.text  # the session is not enough
    renewed = ticket_of(login(cas_kit, renew="true"))
    root = validate(cas_kit, "p3/serviceValidate", service=APP, ticket=renewed, renew="true")
    assert root.find("cas:authenticationSuccess", NS) is not None
    assert root.findtext(".//cas:isFromNewLogin", namespaces=NS) == "true"
    assert from_session_ticket != renewed


def test_gateway_returns_without_a_ticket_when_nobody_is_signed_in(cas_kit: Kit) -> None:
    response = cas_kit.http.get("/cas/login", params={"service": APP, "gateway": "true"})
    assert response.status_code == 303 and response.headers["location"] == APP


def test_method_post_answers_with_a_form_that_posts_the_ticket(cas_kit: Kit) -> None:
    login(cas_kit)
    page = cas_kit.http.get("/cas/login", params={"service": APP, "method": "POST"})
    assert page.status_code == 200 and f'action="{APP}"' in page.text
    assert form_fields(page.text)["ticket"].startswith("ST-")


def test_a_service_limited_to_a_unit_refuses_an_official_of_another(cas_kit: Kit) -> None:
    run_cli(cas_kit.settings, ["services", "add", "noi-bo", "--prefix", OTHER, "--unit", "so-tai-chinh"])
    login(cas_kit)
    page = cas_kit.http.get("/cas/login", params={"service": OTHER})
    assert page.status_code == 403 and "location" not in page.headers
    run_cli(cas_kit.settings, ["services", "add", "noi-bo", "--prefix", OTHER, "--unit", "bac-ninh", "--replace"])
    assert cas_kit.http.get("/cas/login", params={"service": OTHER}).headers["location"].startswith(OTHER)


def test_proxy_granting_and_proxy_tickets(cas_kit: Kit, recorder: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = recorder
    portal = f"{base}/portal/"
    run_cli(cas_kit.settings, ["services", "add", "portal", "--prefix", portal, "--allow-proxy",
                               "--proxy-pattern", f"^{re.escape(base)}/pgt$"])
    ticket = ticket_of(login(cas_kit, service=portal), portal)
    root = validate(cas_kit, "serviceValidate", service=portal, ticket=ticket, pgtUrl=f"{base}/pgt")
    iou = root.findtext(".//cas:proxyGrantingTicket", namespaces=NS)
    (callback,) = seen
    assert iou and callback["pgtIou"] == iou and callback["pgtId"].startswith("PGT-")
    proxied = validate(cas_kit, "proxy", pgt=callback["pgtId"], targetService=APP)
    pt = proxied.findtext(".//cas:proxyTicket", namespaces=NS)
    assert pt and MOD_AUTH_CAS_TICKET.match(pt)
    # a proxy ticket is not a service ticket: /serviceValidate refuses it, /proxyValidate names the chain
    other_pt = validate(cas_kit, "proxy", pgt=callback["pgtId"], targetService=APP).findtext(".//cas:proxyTicket",
                                                                                             namespaces=NS)
    assert failure_code(validate(cas_kit, "serviceValidate", service=APP, ticket=str(other_pt))) == \
        "INVALID_TICKET_SPEC"
    root = validate(cas_kit, "p3/proxyValidate", service=APP, ticket=pt)
    assert root.findtext(".//cas:user", namespaces=NS) == "hieund"
    assert [p.text for p in root.findall(".//cas:proxy", NS)] == [f"{base}/pgt"]
    # a service not allowed to proxy, and a callback the service did not register
    ticket = ticket_of(login(cas_kit))
    assert failure_code(validate(cas_kit, "serviceValidate", service=APP, ticket=ticket,
                                 pgtUrl=f"{base}/pgt")) == "UNAUTHORIZED_SERVICE_PROXY"
    ticket = ticket_of(cas_kit.http.get("/cas/login", params={"service": portal}).headers["location"], portal)
    assert failure_code(validate(cas_kit, "serviceValidate", service=portal, ticket=ticket,
                                 pgtUrl="https://attacker.invalid/pgt")) == "INVALID_PROXY_CALLBACK"
    assert failure_code(validate(cas_kit, "proxy", pgt="PGT-1-forged" + "x" * 30, targetService=APP)) is None
    assert validate(cas_kit, "proxy", pgt="PGT-1-" + "x" * 32, targetService=APP).find(
        "cas:proxyFailure", NS).get("code") == "INVALID_TICKET"


def test_logout_tells_each_service_and_returns_only_to_a_registered_one(
        cas_kit: Kit, recorder: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = recorder
    run_cli(cas_kit.settings, ["services", "add", "local", "--prefix", f"{base}/app/"])
    ticket = ticket_of(login(cas_kit, service=f"{base}/app/"), f"{base}/app/")
    assert validate(cas_kit, "serviceValidate", service=f"{base}/app/", ticket=ticket).find(
        "cas:authenticationSuccess", NS) is not None
    away = cas_kit.http.get("/cas/logout", params={"service": "https://attacker.invalid/"})
    assert away.status_code == 200 and "location" not in away.headers  # no open redirect, but signed out
    (told,) = seen
    request = ET.fromstring(told["logoutRequest"])
    assert told["_path"] == "/app/" and request.findtext(
        "{urn:oasis:names:tc:SAML:2.0:protocol}SessionIndex") == ticket
    assert 'name="password"' in cas_kit.http.get("/cas/login", params={"service": APP}).text  # session ended
    login(cas_kit)
    back = cas_kit.http.get("/cas/logout", params={"service": APP})
    assert back.status_code == 303 and back.headers["location"] == APP
    with cas_kit.broker.db.session() as s:
        states = {row.application: (row.status, row.attempts, bool(row.last_error))
                  for row in s.scalars(select(LogoutDelivery))}
    # vanban's host does not exist here: its logout stays queued for the worker's next try, not lost
    assert states == {"local": ("done", 1, False), "vanban": ("pending", 1, True)}


def test_hostile_requests_get_protocol_errors_never_a_5xx(cas_kit: Kit) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("serviceValidate", {}), ("serviceValidate", {"service": APP}), ("serviceValidate", {"ticket": "ST-1-x"}),
        ("serviceValidate", {"service": APP, "ticket": "ST-" + "A" * 5000}),
        ("p3/serviceValidate", {"service": APP, "ticket": "ST-1-<script>alert(1)</script>"}),
        ("proxyValidate", {"service": "x" * 10000, "ticket": "PT-1-" + "a" * 40}),
        ("proxy", {}), ("proxy", {"pgt": "ST-1-" + "a" * 40, "targetService": APP}),
    ]
    for path, params in cases:
        response = cas_kit.http.get(f"/cas/{path}", params=params)
        assert response.status_code == 200, (path, response.status_code)
        ET.fromstring(response.text)  # well-formed, whatever came in
        assert "Success" not in response.text
    assert cas_kit.http.get("/cas/validate").text == "no\n\n"
    assert cas_kit.http.get("/cas/login", params={"service": APP + "\x00"}).status_code == 400


def test_catch_all_patterns_are_refused_with_the_reason(cas_kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"SSO_DATABASE_URL": cas_kit.settings.database_url, "SSO_MASTER_KEY": cas_kit.settings.master_key,
           "SSO_DATA_DIR": str(cas_kit.settings.data_dir)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        for pattern in ("^https://.*", "^(https|imaps)://.*", ".*", "https://app\\.gov\\.vn/.*"):
            assert main(["services", "add", "bad", "--pattern", pattern]) == 2
        assert main(["services", "add", "bad", "--prefix", "https://vanban.bacninh.gov.vn"]) == 2
    err = capsys.readouterr().err
    assert "matches any site" in err and "anchored" in err and "with a path" in err


def test_apereo_service_definitions_are_imported(cas_kit: Kit, tmp_path: Path) -> None:
    (tmp_path / "VanBan-1001.json").write_text(json.dumps({
        "@class": "org.apereo.cas.services.CasRegisteredService", "serviceId": "^https://qlvb\\.bacninh\\.gov\\.vn/.*",
        "name": "QLVB", "id": 1001, "evaluationOrder": 5,
        "attributeReleasePolicy": {"@class": "org.apereo.cas.services.ReturnMappedAttributeReleasePolicy",
                                   "allowedAttributes": {"@class": "java.util.TreeMap", "cn": "hoTen",
                                                         "mail": "email"}}}))
    (tmp_path / "Mail-1002.json").write_text(json.dumps({
        "@class": "org.apereo.cas.services.CasRegisteredService", "serviceId": "^https://mail\\.bacninh\\.gov\\.vn/.*",
        "name": "Mail", "id": 1002, "logoutType": "NONE",
        "attributeReleasePolicy": {"@class": "org.apereo.cas.services.ReturnAllowedAttributeReleasePolicy",
                                   "allowedAttributes": ["java.util.ArrayList", ["uid", "cn"]]}}))
    run_cli(cas_kit.settings, ["services", "import", str(tmp_path)])
    ticket = ticket_of(login(cas_kit, service="https://qlvb.bacninh.gov.vn/home"), "https://qlvb.bacninh.gov.vn/")
    answer = cas_kit.http.get("/cas/p3/serviceValidate", params={
        "service": "https://qlvb.bacninh.gov.vn/home", "ticket": ticket, "format": "JSON"}).json()
    attributes = answer["serviceResponse"]["authenticationSuccess"]["attributes"]
    assert attributes["hoTen"] == ["Nguyễn Đình Hiếu"] and attributes["email"] == ["hieund@bacninh.gov.vn"]
    (tmp_path / "Bad-1003.json").write_text(json.dumps({"serviceId": "^https?://.*", "name": "Bad", "id": 1003}))
    with pytest.raises(AssertionError):
        run_cli(cas_kit.settings, ["services", "import", str(tmp_path / "Bad-1003.json")])
