"""The admin API: the whole matrix of roles x endpoints x own/other unit, then its behaviours one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.admin.scope import PERMISSIONS
from app.audit.trail import verify
from tests.admin_kit import ACR_PASSWORD, ROLE_OF, Official, Province, Unit, build_province
from tests.kit import Kit

Case = tuple[str, str, str | None, Callable[..., tuple[str, str, Any, dict[str, Any]]], int]


def _official(unit: str) -> Callable[[Province, str], str]:
    return lambda p, _: p.officials[f"target_{unit}"]


def cases() -> list[Case]:
    """(name, permission, unit: A own / B other / None global, request maker, success status)."""
    out: list[Case] = []
    for unit in ("A", "B"):
        o = _official(unit)
        out += [
            (f"read official {unit}", "read", unit, lambda p, u, o=o: ("GET", f"/admin/api/officials/{o(p, u)}",
                                                                        None, {}), 200),
            (f"accounts {unit}", "read", unit, lambda p, u, o=o: ("GET", f"/admin/api/officials/{o(p, u)}/accounts",
                                                                   None, {}), 200),
            (f"patch official {unit}", "write_officials", unit, lambda p, u, o=o: (
                "PATCH", f"/admin/api/officials/{o(p, u)}", {"title": "Phó chủ tịch"},
                {"If-Match": p.version(Official, o(p, u))}), 200),
            (f"create official {unit}", "write_officials", unit, lambda p, u: (
                "POST", "/admin/api/officials", {"username": f"new{len(p.officials)}{u.lower()}{id(p) % 997}",
                                                 "display_name": "Lê Thị Mới", "unit_id": p.units[u]}, {}), 201),
            (f"reset link {unit}", "reset_credentials", unit, lambda p, u, o=o: (
                "POST", f"/admin/api/officials/{o(p, u)}/reset-link", None, {}), 200),
            (f"read unit {unit}", "read", unit, lambda p, u: ("GET", f"/admin/api/units/{p.units[u]}", None, {}), 200),
            (f"rename unit {unit}", "write_units", unit, lambda p, u: (
                "PATCH", f"/admin/api/units/{p.units[u]}", {"name": f"Xã {u} mới"},
                {"If-Match": p.version(Unit, p.units[u])}), 200),
            (f"create group {unit}", "write_groups", unit, lambda p, u: (
                "POST", "/admin/api/groups", {"name": f"g{len(p.groups)}{u}{id(p) % 991}", "unit_id": p.units[u]},
                {}), 201),
            (f"add member {unit}", "write_groups", unit, lambda p, u, o=o: (
                "PUT", f"/admin/api/groups/{p.groups[u]}/members/{o(p, u)}", None, {}), 204),
            (f"grant helpdesk {unit}", "grant_roles", unit, lambda p, u, o=o: (
                "POST", "/admin/api/roles", {"official_id": o(p, u), "role": "helpdesk", "unit_id": p.units[u]},
                {}), 201),
            (f"disable official {unit}", "write_officials", unit, lambda p, u, o=o: (
                "POST", f"/admin/api/officials/{o(p, u)}/disable", None, {}), 200),
        ]
    out += [
        ("list clients", "read", None, lambda p, u: ("GET", "/admin/api/clients", None, {}), 200),
        ("register client", "manage_clients", None, lambda p, u: (
            "POST", "/admin/api/clients", {"client_id": f"c{id(p) % 9973}", "redirect_uris": [
                "https://docs.bacninh.gov.vn/cb"]}, {}), 201),
        ("list connectors", "read", None, lambda p, u: ("GET", "/admin/api/connectors", None, {}), 200),
        ("audit", "read_audit", "A", lambda p, u: ("GET", "/admin/api/audit", None, {}), 200),
    ]
    return out


def expected(who: str, permission: str, unit: str | None, success: int) -> int:
    role, home = ROLE_OF[who]
    if role is None:
        return 403  # an official without any admin role
    perms = PERMISSIONS[role]
    if unit is None:  # a global object: the role must hold over the province
        return success if permission in perms and home == "root" else 403
    reach = {"root": {"A", "B"}, "A": {"A"}}[home]
    if unit not in reach and permission != "read_audit":
        return 404  # another unit's object: not found, whoever asks
    return success if permission in perms else 403


@pytest.mark.parametrize("who", list(ROLE_OF))
def test_role_scope_matrix(kit: Kit, who: str) -> None:
    province = build_province(kit)
    http = province.client_for(who)
    failures = []
    for name, permission, unit, make, success in cases():
        method, path, body, headers = make(province, unit or "A")
        response = http.request(method, path, json=body, headers=headers)
        want = expected(who, permission, unit, success)
        if response.status_code != want:
            failures.append(f"{who} {name}: {method} {path} -> {response.status_code}, expected {want}: "
                            f"{response.text[:160]}")
    assert failures == []
    assert kit.http.get("/admin/api/me").status_code == 401  # and nobody at all: 401


def test_lists_show_only_the_callers_units(kit: Kit) -> None:
    p = build_province(kit)
    names = {o["username"] for o in p.client_for("admin_a").get("/admin/api/officials?per_page=500").json()["items"]}
    assert "targeta" in names and "targetb" not in names and "prov" not in names
    everyone = p.client_for("prov").get("/admin/api/officials?per_page=500").json()
    assert {"targeta", "targetb", "prov"} <= {o["username"] for o in everyone["items"]}
    units = {u["code"] for u in p.client_for("help_a").get("/admin/api/units").json()}
    assert units == {"xa-a"}
    groups = {g["name"] for g in p.client_for("admin_a").get("/admin/api/groups").json()}
    assert groups == {"nhom-a"}
    assert p.client_for("admin_a").get(f"/admin/api/officials?unit_id={p.units['B']}").status_code == 404


def test_pagination_filter_sort_and_field_errors(kit: Kit) -> None:
    p = build_province(kit)
    http = p.client_for("prov")
    for i in range(12):
        assert http.post("/admin/api/officials", json={"username": f"cb{i:02d}", "display_name": f"Cán bộ {i}",
                                                        "unit_id": p.units["A"]}).status_code == 201
    page = http.get("/admin/api/officials", params={"q": "cb", "sort": "-username", "per_page": 5, "page": 2})
    body = page.json()
    assert body["total"] == 12 and [o["username"] for o in body["items"]] == ["cb06", "cb05", "cb04", "cb03", "cb02"]
    bad = http.get("/admin/api/officials", params={"sort": "password"})
    assert bad.status_code == 400 and bad.json()["field"] == "sort"
    invalid = http.post("/admin/api/officials", json={"username": "x", "display_name": "", "unit_id": p.units["A"]})
    assert invalid.status_code == 422
    assert {tuple(e["loc"])[-1] for e in invalid.json()["detail"]} == {"username", "display_name"}
    dup = http.post("/admin/api/officials", json={"username": "cb01", "display_name": "Trùng",
                                                  "unit_id": p.units["A"]})
    assert dup.status_code == 409 and dup.json()["field"] == "username"
    mail = http.patch(f"/admin/api/officials/{p.officials['target_A']}", json={"email": "không-phải-thư"},
                      headers={"If-Match": p.version(Official, p.officials["target_A"])})
    assert mail.status_code == 400 and mail.json()["field"] == "email"


def test_if_match_keeps_two_admins_from_overwriting_each_other(kit: Kit) -> None:
    p = build_province(kit)
    one, two = p.client_for("prov"), p.client_for("admin_a")
    url = f"/admin/api/officials/{p.officials['target_A']}"
    etag = one.get(url).headers["etag"]
    assert two.get(url).headers["etag"] == etag
    assert one.patch(url, json={"title": "Chánh văn phòng"}, headers={"If-Match": etag}).status_code == 200
    late = two.patch(url, json={"title": "Kế toán"}, headers={"If-Match": etag})
    assert late.status_code == 412 and late.json()["error"] == "precondition_failed"
    assert two.patch(url, json={"title": "Kế toán"}).status_code == 428
    assert one.get(url).json()["title"] == "Chánh văn phòng"


def test_directory_owned_attributes_are_read_only(kit: Kit) -> None:
    p = build_province(kit)
    with kit.broker.db.session() as s:
        official = s.get(Official, p.officials["target_A"])
        official.source = "bacninh"
    http = p.client_for("prov")
    url = f"/admin/api/officials/{p.officials['target_A']}"
    got = http.get(url)
    assert "email" in got.json()["directory_owned"]
    refused = http.patch(url, json={"email": "khac@bacninh.gov.vn"}, headers={"If-Match": got.headers["etag"]})
    assert refused.status_code == 409 and refused.json()["error"] == "directory_owned"
    assert "bacninh" in refused.json()["message"]


def test_admins_need_a_second_factor_and_writes_need_csrf(kit: Kit) -> None:
    p = build_province(kit)
    weak = p.client_for("prov", acr=ACR_PASSWORD)
    refused = weak.get("/admin/api/me")
    assert refused.status_code == 403 and refused.json()["error"] == "mfa_required"
    strong = p.client_for("prov")
    del strong.headers["X-CSRF-Token"]
    assert strong.get("/admin/api/me").status_code == 200  # reads need no CSRF token
    assert strong.post("/admin/api/groups", json={"name": "x"}).status_code == 401


def test_bearer_token_with_the_admin_scope(kit: Kit) -> None:
    from tests.kit import Flow

    p = build_province(kit)
    client = kit.client("admin-cli", first_party=True, scopes=["openid", "profile", "admin"])
    password = "Mật-khẩu-2025x"
    with_admin = kit.tokens(Flow(client), username="prov", password=password, scope="openid admin")
    bearer = {"Authorization": f"Bearer {with_admin['access_token']}"}
    refused = kit.http.get("/admin/api/me", headers=bearer)
    assert refused.status_code == 403 and refused.json()["error"] == "mfa_required"  # a password-only login
    kit.broker.settings.admin_require_mfa = False
    try:
        assert kit.http.get("/admin/api/me", headers=bearer).json()["username"] == "prov"
        # Writes with a bearer token need no CSRF token: no cookie, no cross-site request to forge.
        assert kit.http.post("/admin/api/groups", json={"name": "api"}, headers=bearer).status_code == 201
        kit.http.cookies.clear()
        plain = kit.tokens(Flow(client), username="prov", password=password, scope="openid profile")
        assert kit.http.get("/admin/api/me", headers={
            "Authorization": f"Bearer {plain['access_token']}"}).status_code == 401
        kit.http.cookies.clear()
        nobody = kit.tokens(Flow(client), username="plaina", password=password, scope="openid admin")
        assert kit.http.get("/admin/api/me", headers={
            "Authorization": f"Bearer {nobody['access_token']}"}).status_code == 403
    finally:
        kit.broker.settings.admin_require_mfa = True
    assert p


def test_every_admin_action_is_in_the_audit_trail_and_the_chain_verifies(kit: Kit) -> None:
    p = build_province(kit)
    http = p.client_for("prov")
    http.post(f"/admin/api/officials/{p.officials['target_B']}/disable")
    http.post("/admin/api/groups", json={"name": "lanh-dao", "unit_id": p.units["B"]})
    events = http.get("/admin/api/audit").json()
    actions = [e["action"] for e in events]
    assert actions[:2] == ["group.created", "official.disabled"]
    assert events[1]["actor"] == p.officials["prov"] and events[1]["target"] == p.officials["target_B"]
    assert events[1]["address"] == "testclient"
    # The unit admin of A sees A's events only.
    assert p.client_for("admin_a").get("/admin/api/audit").json() == []
    csv = http.get("/admin/api/audit", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and "official.disabled" in csv.text
    assert verify(kit.broker.db).ok
