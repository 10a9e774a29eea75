"""Inbound SCIM 2.0 at /scim/v2: scim2-tester's compliance checks over real HTTP, then scope, filters,
PATCH, ETags and the provisioning events a personnel system's pushes produce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.identity.models import Official, ProvisioningEvent
from app.identity.service import ensure_unit
from tests.asgi_server import serving
from tests.kit import Kit

SCIM = "application/scim+json"


@pytest.fixture
def scim(kit: Kit) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """The broker on a real port; a personnel system's client for commune A, and its token."""
    with kit.broker.db.session() as s:
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        a = ensure_unit(s, "xa-a", "Xã Hiệp Hòa", "bac-ninh", "commune").id
        b = ensure_unit(s, "xa-b", "Xã Tiên Du", "bac-ninh", "commune").id
    client = kit.client("nhan-su", grant_types=["client_credentials"], scopes=["scim"])
    with kit.broker.db.session() as s:
        from app.store.models import Client

        s.get(Client, "nhan-su").scim_unit_id = a
    token = kit.http.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "scim"},
                          auth=client.auth).json()["access_token"]
    with serving(kit.app) as url:
        yield f"{url}/scim/v2", {"Authorization": f"Bearer {token}", "Content-Type": SCIM}, {"A": a, "B": b}


def test_scim2_tester_finds_no_error(scim: tuple[str, dict[str, str], dict[str, str]]) -> None:
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server

    base, headers, _ = scim
    with httpx2.Client(base_url=base, headers={"Authorization": headers["Authorization"]}, timeout=30) as http:
        results = check_server(SyncSCIMClient(http), raise_exceptions=False)
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status.name] = statuses.get(result.status.name, 0) + 1
    problems = [f"{r.title} [{r.resource_type}]: {r.reason}" for r in results
                if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert problems == [], "\n".join(problems[:30])
    assert statuses.get("SUCCESS", 0) >= 40, statuses


def _post(base: str, headers: dict[str, str], path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers=headers)


def test_personnel_push_creates_moves_and_disables_officials(kit: Kit, scim: Any) -> None:
    base, headers, units = scim
    created = _post(base, headers, "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "lanpt", "externalId": "NS-0042",
        "name": {"givenName": "Lan", "familyName": "Phạm", "middleName": "Thị"}, "displayName": "Phạm Thị Lan",
        "emails": [{"value": "LanPT@bacninh.gov.vn", "type": "work", "primary": True}], "title": "Kế toán"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert created.headers["content-type"].startswith(SCIM) and created.headers["etag"] == user["meta"]["version"]
    with kit.broker.db.session() as s:
        official = s.get(Official, user["id"])
        assert official.unit_id == units["A"] and official.email == "lanpt@bacninh.gov.vn"
        assert official.employee_number == "NS-0042"
    found = httpx.get(f"{base}/Users", params={"filter": 'externalId eq "NS-0042" and active eq true'},
                      headers=headers).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "lanpt"
    assert httpx.get(f"{base}/Users", params={"filter": 'userName eq'}, headers=headers).json()["scimType"] == \
        "invalidFilter"
    stale = httpx.patch(f"{base}/Users/{user['id']}", headers={**headers, "If-Match": 'W/"999"'}, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert stale.status_code == 412
    leaver = httpx.patch(f"{base}/Users/{user['id']}", headers={**headers, "If-Match": user["meta"]["version"]},
                         json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                               "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert leaver.status_code == 200 and leaver.json()["active"] is False
    with kit.broker.db.session() as s:
        kinds = [e.kind for e in s.query(ProvisioningEvent).filter_by(official_id=user["id"]).order_by(
            ProvisioningEvent.id)]
    assert kinds == ["joiner", "leaver"]
    assert _post(base, headers, "/Users", {"userName": "lanpt"}).status_code == 409


def test_a_client_sees_only_its_units(kit: Kit, scim: Any) -> None:
    base, headers, units = scim
    kit.official("ngoaidonvi", unit_code="xa-b")
    listed = httpx.get(f"{base}/Users", headers=headers).json()
    assert listed["totalResults"] == 0
    with kit.broker.db.session() as s:
        other = s.query(Official).filter_by(username="ngoaidonvi").one().id
    assert httpx.get(f"{base}/Users/{other}", headers=headers).status_code == 404
    assert httpx.delete(f"{base}/Users/{other}", headers=headers).status_code == 404
    assert httpx.get(f"{base}/Users", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_every_scim_error_is_in_the_scim_format(scim: Any) -> None:
    url, headers, _ = scim
    big = httpx.post(f"{url}/Users", headers=headers, content=b'{"x": "' + b"a" * 1_000_000 + b'"}')
    assert big.status_code == 413 and big.headers["content-type"].startswith("application/scim+json")
    body = big.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == "413"
    unauthenticated = httpx.get(f"{url}/Users")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["schemas"][0].endswith(":Error")
    wrong_method = httpx.request("PATCH", f"{url}/ServiceProviderConfig", headers=headers, json={})
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == "405"
