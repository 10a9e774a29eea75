"""The forward-auth gateway through the broker's HTTP surface, playing the reverse proxy's part: verify
subrequests as nginx and Traefik send them, the sign-in trip and the callback on the app's own host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from app.settings import Settings
from tests.kit import PASSWORD, Kit, form_fields, run_cli

HOP = "https://hop.bacninh.gov.vn/"
PAGE = HOP + "ho-so?x=1&y=2"


@pytest.fixture
def gw(settings: Settings) -> Iterator[Kit]:
    kit = Kit(settings)
    kit.official()
    run_cli(kit.settings, ["gateway", "add", "hop", "--name", "Hồ sơ công việc", "--prefix", HOP])
    yield kit


def verify(kit: Kit, url: str, cookie: str | None = None, nginx: bool = True) -> Any:
    headers = {"X-Original-URL": url} if nginx else {
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": urlsplit(url).netloc,
        "X-Forwarded-Uri": url.split(urlsplit(url).netloc, 1)[1]}
    if cookie:
        headers["Cookie"] = cookie
    return kit.http.get("/gateway/verify", headers=headers)


def sign_in(kit: Kit, page: str = PAGE, host: str = "hop.bacninh.gov.vn") -> str:
    """nginx's 401 → /gateway/start?rd=<raw URL> → login → the app's callback → its cookie."""
    start = kit.http.get(f"/gateway/start?rd={page}")  # not encoded, as nginx sends it
    if start.status_code == 200:
        start = kit.http.post("/login", data={**form_fields(start.text), "username": "hieund", "password": PASSWORD})
    assert start.status_code == 303, start.text[:300]
    callback = urlsplit(start.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}" == f"https://{host}" and callback.path == "/.sso-broker/callback"
    code = parse_qs(callback.query)["code"][0]
    entered = kit.http.get("/gateway/callback", params={"code": code}, headers={"Host": host})
    assert entered.status_code == 303 and entered.headers["location"] == page
    set_cookie = entered.headers["set-cookie"]
    assert set_cookie.startswith("__Host-sso_gw_hop=") and "HttpOnly" in set_cookie and "Secure" in set_cookie
    assert "Domain" not in set_cookie  # host-only: no sibling host receives it
    return set_cookie.split(";", 1)[0]


def test_identity_headers_after_one_sign_in(gw: Kit) -> None:
    first = verify(gw, PAGE)
    assert first.status_code == 401 and first.headers["x-sso-login"].startswith("https://sso.test/gateway/start?rd=")
    assert verify(gw, PAGE, nginx=False).status_code == 302  # Traefik and Caddy pass the redirect on
    cookie = sign_in(gw)
    answer = verify(gw, PAGE, cookie)
    assert answer.status_code == 200
    assert answer.headers["x-remote-user"] == "hieund" and answer.headers["x-remote-email"] == "hieund@bacninh.gov.vn"
    assert answer.headers["x-remote-name"] == "Nguy%E1%BB%85n%20%C4%90%C3%ACnh%20Hi%E1%BA%BFu"
    assert unquote(answer.headers["x-remote-name"]) == "Nguyễn Đình Hiếu"
    assert unquote(answer.headers["x-remote-unit"]) == "Sở Thông tin và Truyền thông"
    assert answer.headers["x-remote-groups"] == "cb-so-ttt"
    assert verify(gw, PAGE, cookie, nginx=False).status_code == 200


def test_a_code_works_once_and_only_on_its_own_host(gw: Kit) -> None:
    run_cli(gw.settings, ["gateway", "add", "other", "--prefix", "https://other.bacninh.gov.vn/"])
    start = gw.http.get(f"/gateway/start?rd={PAGE}")
    start = gw.http.post("/login", data={**form_fields(start.text), "username": "hieund", "password": PASSWORD})
    code = parse_qs(urlsplit(start.headers["location"]).query)["code"][0]
    assert gw.http.get("/gateway/callback", params={"code": code},
                       headers={"Host": "other.bacninh.gov.vn"}).status_code == 400  # not its host
    assert gw.http.get("/gateway/callback", params={"code": code},
                       headers={"Host": "hop.bacninh.gov.vn"}).status_code == 400  # and used up by that try
    cookie = sign_in(gw)
    assert verify(gw, "https://other.bacninh.gov.vn/", cookie.replace("sso_gw_hop", "sso_gw_other")).status_code \
        == 401  # one app's cookie is not another's


def test_unregistered_addresses_and_refused_officials(gw: Kit) -> None:
    page = gw.http.get("/gateway/start?rd=https://attacker.invalid/")
    assert page.status_code == 400 and "location" not in page.headers
    assert verify(gw, "https://attacker.invalid/").status_code == 403
    run_cli(gw.settings, ["gateway", "add", "hop", "--prefix", HOP, "--unit", "so-tai-chinh", "--replace"])
    login = gw.http.get(f"/gateway/start?rd={PAGE}")
    refused = gw.http.post("/login", data={**form_fields(login.text), "username": "hieund", "password": PASSWORD})
    assert refused.status_code == 403 and "location" not in refused.headers


def test_signing_out_ends_the_app_session_at_once(gw: Kit) -> None:
    cookie = sign_in(gw)
    assert verify(gw, PAGE, cookie).status_code == 200
    portal = gw.http.get("/account")
    gw.http.post("/account/sessions/end-all", data={"csrf_token": form_fields(portal.text)["csrf_token"]})
    assert verify(gw, PAGE, cookie).status_code == 401


def test_a_leaver_is_refused_on_the_next_request(gw: Kit) -> None:
    from tests.kit import leave

    cookie = sign_in(gw)
    leave(gw.settings, "hieund")
    assert verify(gw, PAGE, cookie).status_code == 401


def test_bad_gateway_registrations_are_refused(gw: Kit) -> None:
    from app.cli import main

    env = {"SSO_DATABASE_URL": gw.settings.database_url, "SSO_MASTER_KEY": gw.settings.master_key,
           "SSO_DATA_DIR": str(gw.settings.data_dir)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert main(["gateway", "add", "x", "--prefix", "http://hop.bacninh.gov.vn/"]) == 2  # cookie in clear
        assert main(["gateway", "add", "x", "--prefix", "https://hop.bacninh.gov.vn"]) == 2  # no path
        assert main(["gateway", "add", "x", "--prefix", HOP, "--header", "X-Remote-Secret=password"]) == 2


def test_the_portal_launcher_lists_every_kind_of_application_the_official_may_use(gw: Kit) -> None:
    run_cli(gw.settings, ["gateway", "add", "tai-chinh", "--name", "Kế toán", "--prefix",
                          "https://ketoan.bacninh.gov.vn/", "--unit", "so-tai-chinh"])
    run_cli(gw.settings, ["services", "add", "van-ban", "--name", "Văn bản", "--prefix",
                          "https://vanban.bacninh.gov.vn/", "--launch-url", "https://vanban.bacninh.gov.vn/"])
    page = gw.http.get("/login")
    gw.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": PASSWORD})
    portal = gw.http.get("/account").text
    assert 'href="https://hop.bacninh.gov.vn/"' in portal and 'href="https://vanban.bacninh.gov.vn/"' in portal
    assert "ketoan" not in portal  # another unit's system is not offered


def test_applications_in_the_configuration_file(gw: Kit, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """province.toml carries CAS services and gateway apps like clients: plan, apply, export, apply again."""
    (tmp_path / "province.toml").write_text('''
[cas_services.van-ban]
name = "Văn bản"
pattern = "^https://vanban\\\\.bacninh\\\\.gov\\\\.vn/.*"
match = "regex"
attributes = { displayName = "displayName", mail = "mail" }

[gateway_apps.hop]
prefix = "https://hop.bacninh.gov.vn/"
allowed_units = ["so-ttt"]
''', encoding="utf-8")
    capsys.readouterr()
    run_cli(gw.settings, ["config", "plan", "-f", str(tmp_path / "province.toml")])
    planned = capsys.readouterr().out
    assert "+ cas_services.van-ban" in planned and "~ gateway_apps.hop (allowed_units, name)" in planned
    run_cli(gw.settings, ["config", "apply", "-f", str(tmp_path / "province.toml")])
    capsys.readouterr()
    run_cli(gw.settings, ["config", "export", "-o", str(tmp_path / "export.toml")])
    exported = (tmp_path / "export.toml").read_text(encoding="utf-8")
    assert "[cas_services.van-ban]" in exported and 'allowed_units = ["so-ttt"]' in exported
    run_cli(gw.settings, ["config", "plan", "-f", str(tmp_path / "export.toml")])
    assert "+" not in capsys.readouterr().out.replace("no changes", "")  # what was applied is what is exported
    (tmp_path / "bad.toml").write_text('[cas_services.bad]\npattern = "^https://.*"\nmatch = "regex"\n')
    with pytest.raises(AssertionError):
        run_cli(gw.settings, ["config", "apply", "-f", str(tmp_path / "bad.toml")])
    assert "matches any site" in capsys.readouterr().err


def test_cas_services_and_gateway_apps_through_the_admin_api(settings: Settings) -> None:
    from tests.admin_kit import build_province

    province = build_province(Kit(settings))
    entry = {"prefix": "https://hop.bacninh.gov.vn/", "allowed_units": ["xa-a"]}
    assert province.client_for("admin_a").put("/admin/api/applications/gateway_apps/hop", json=entry).status_code \
        == 403  # the province's systems are the province admin's
    admin = province.client_for("prov")
    saved = admin.put("/admin/api/applications/gateway_apps/hop", json=entry)
    assert saved.status_code == 200 and saved.json()["allowed_units"] == ["xa-a"], saved.text
    cas = admin.put("/admin/api/applications/cas_services/van-ban", json={
        "match": "regex", "pattern": r"^https://vanban\.bacninh\.gov\.vn/.*", "attributes": {"cn": "displayName"}})
    assert cas.status_code == 200, cas.text
    assert [a["id"] for a in admin.get("/admin/api/applications/cas_services").json()] == ["van-ban"]
    refused = admin.put("/admin/api/applications/cas_services/mo", json={"match": "regex", "pattern": "^https://.*"})
    assert refused.status_code == 400 and "matches any site" in refused.text
    assert admin.get("/admin/api/applications/other").status_code == 422
    assert admin.delete("/admin/api/applications/gateway_apps/hop").status_code == 204
    assert admin.delete("/admin/api/applications/gateway_apps/hop").status_code == 404


def test_application_entries_of_the_wrong_type_are_refused_by_name(settings: Settings) -> None:
    from tests.admin_kit import build_province

    admin = build_province(Kit(settings)).client_for("prov")
    for body, words in (({"prefix": 5}, "prefix: expected str"), ({"prefix": HOP, "allowed_units": "x"}, "list"),
                        ({"prefix": HOP, "headers": ["X"]}, "dict"), ({"prefix": HOP, "require_mfa": "yes"}, "bool")):
        answer = admin.put("/admin/api/applications/gateway_apps/hop", json=body)
        assert answer.status_code == 400 and words in answer.text, (body, answer.text)
