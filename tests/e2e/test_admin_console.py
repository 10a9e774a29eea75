"""The admin console in a real headless Chromium: a commune's admin signs in with a second factor,
onboards an official, sees the accounts provisioned, disables the official, and cannot see another commune."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from app.admin.reorg import Reorganiser
from app.audit.trail import SYSTEM
from app.identity.service import find_official
from app.mfa import totp
from app.provisioning.engine import ProvisioningEngine
from tests.admin_kit import Province, seed_province
from tests.e2e.conftest import LiveBroker
from tests.kit import run_cli

PASSWORD = "Mật-khẩu-2025x"


def prepare(live: LiveBroker, tmp_path: Path) -> tuple[Province, str, ProvisioningEngine]:
    province = Province(None)
    seed_province(live.broker, province)
    target = f"sqlite:///{tmp_path / 'van-ban.db'}"
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE nguoi_dung (id INTEGER PRIMARY KEY, ten_dang_nhap TEXT UNIQUE, ho_ten TEXT, "
                          "email TEXT, don_vi TEXT, hoat_dong INTEGER)"))
    engine.dispose()
    provisioning = ProvisioningEngine(live.broker.db, live.broker.box)
    with live.broker.db.session() as s:
        provisioning.save_instance(s, "van-ban", "sql_table", {
            "url": target, "table": "nguoi_dung", "key_column": "ten_dang_nhap", "id_column": "id",
            "columns": {"full_name": "ho_ten", "email": "email", "unit": "don_vi"}, "enabled_column": "hoat_dong"},
            {"all": True}, {"full_name": "{display_name}", "email": "{email}", "unit": "{unit_path}"})
        admin = find_official(s, "admina")
        assert admin is not None
        secret, _ = live.broker.factors.totp_begin(s, admin)
        live.broker.factors.totp_confirm(s, admin.id, totp.code_at(secret, int(time.time() // 30)))
    return province, secret, provisioning


def sign_in(page, username: str, secret: str, back_to: str) -> None:  # type: ignore[no-untyped-def]
    """From a console page: to the login page and back, through the second factor."""
    page.wait_for_url(re.compile(r".*/login\?next=/admin.*"))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/login/mfa*")
    page.fill("#code", totp.code_at(secret, int(time.time() // 30) + 1))
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    page.wait_for_url(back_to)  # back where the sign-in started


def provision(engine: ProvisioningEngine) -> None:
    for _ in range(5):
        if not engine.run_once():
            break


def test_unit_admin_onboards_provisions_and_disables(page, localhost_broker: LiveBroker,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    province, secret, engine = prepare(localhost_broker, tmp_path)
    provision(engine)  # the seed officials' accounts
    page.goto("/admin")
    sign_in(page, "admina", secret, "**/admin/officials")
    assert page.locator("h1").inner_text() == "Cán bộ"
    listed = page.locator("#officials").inner_text()
    assert "targeta" in listed and "targetb" not in listed  # only the admin's own commune
    assert page.locator("nav.admin a[href='/admin/reorganisations']").count() == 0  # the province's, not hers

    page.fill("#new-username", "thaonv")
    page.fill("#new-name", "Nguyễn Văn Thảo")
    page.fill("#new-email", "thaonv@bacninh.gov.vn")
    page.fill("#new-title", "Văn thư")
    page.click("#create-official")
    page.wait_for_url("**/admin/officials/*")
    assert page.locator("#official-name").inner_text() == "Nguyễn Văn Thảo"
    assert page.locator("#no-accounts").is_visible()
    provision(engine)
    page.reload()
    accounts = page.locator("#accounts table").inner_text()
    assert "van-ban" in accounts and "thaonv" in accounts and "Đang hoạt động" in accounts

    page.click("#toggle-official")
    page.wait_for_load_state()
    assert page.locator("#official-state").inner_text() == "Đã vô hiệu hóa"
    provision(engine)
    page.reload()
    assert "Đã vô hiệu hóa" in page.locator("#accounts table").inner_text()  # disabled in the target too

    other = page.goto(f"/admin/officials/{province.officials['target_B']}")
    assert other is not None and other.status == 404  # another commune's official, even by its id
    page.goto("/admin/officials")
    page.click("a.lang")
    page.wait_for_url("**/admin/officials")
    assert page.locator("h1").inner_text() == "Officials"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 400


def test_province_admin_pages(page, localhost_broker: LiveBroker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Units, groups, roles (granted from the page), clients, target systems with a paused one resumed, and the
    provisioning queue, in Vietnamese and English, on a phone's width."""
    from app.provisioning.models import TargetHealth

    province, _, engine = prepare(localhost_broker, tmp_path)
    with localhost_broker.broker.db.session() as s:
        prov = find_official(s, "prov")
        assert prov is not None
        secret, _ = localhost_broker.broker.factors.totp_begin(s, prov)
        localhost_broker.broker.factors.totp_confirm(s, prov.id, totp.code_at(secret, int(time.time() // 30)))
        s.merge(TargetHealth(connector="van-ban", failures=5, opened=1, paused_until=int(time.time()) + 600,
                             last_error="SCIM answered 503", updated_at=int(time.time())))
    page.goto("/admin/roles")
    sign_in(page, "prov", secret, "**/admin/roles")
    assert page.locator("h1").inner_text() == "Vai trò"
    assert "Cán bộ admin_a (admina)" in page.locator("#roles").inner_text()
    page.fill("#username", "targeta")
    page.select_option("#role", "helpdesk")
    page.select_option("#unit", province.units["A"])
    page.click("#grant-role button[type=submit]")
    page.wait_for_url("**/admin/roles")
    assert "Nguyễn Văn A (targeta)" in page.locator("#roles").inner_text()
    page.goto("/admin/units")
    assert "xa-a" in page.locator("#units").inner_text() and "Xã Tiên Du" in page.locator("#units").inner_text()
    page.goto("/admin/groups")
    assert "nhom-a" in page.locator("#groups").inner_text()
    page.goto("/admin/connectors")
    row = page.locator("#connectors").inner_text()
    assert "van-ban" in row and "Tạm dừng" in row and "503" in row
    page.click("form[action='/admin/connectors/van-ban/resume'] button")
    page.wait_for_url("**/admin/connectors*")
    assert "Đang chạy" in page.locator("#connectors").inner_text()
    page.goto("/admin/provisioning")
    assert page.locator("h1").inner_text() == "Hàng đợi cấp tài khoản"
    with localhost_broker.broker.db.session() as s:  # as POST /admin/api/reorganisations stores it
        Reorganiser(s, SYSTEM, engine).plan("Gộp xã B vào xã A", "2099-07-01",
                                            [{"op": "merge", "from": "xa-b", "into": "xa-a"}])
    page.click("nav.admin a[href='/admin/reorganisations']")
    page.wait_for_url("**/admin/reorganisations")
    plans = page.locator("#reorganisations").inner_text()
    assert "Gộp xã B vào xã A\t2099-07-01\tĐã lập kế hoạch" in plans, plans
    assert "cán bộ thay đổi đơn vị" in plans and "van-ban: " in plans and "tài khoản thay đổi" in plans, plans
    # every application, whatever it speaks, on one page; and the upstream identity providers
    run_cli(localhost_broker.settings, ["services", "add", "van-ban-cas", "--name", "Văn bản", "--prefix",
                                        "https://vanban.bacninh.gov.vn/", "--unit", "xa-a"])
    run_cli(localhost_broker.settings, ["gateway", "add", "hop", "--name", "Họp trực tuyến", "--prefix",
                                        "https://hop.bacninh.gov.vn/", "--require-mfa"])
    page.goto("/admin/clients")
    apps = page.locator("#clients").inner_text()
    assert "CAS\tvan-ban-cas\tVăn bản" in apps and "xa-a" in apps, apps
    assert "Gateway\thop\tHọp trực tuyến\thttps://hop.bacninh.gov.vn/\tMFA" in apps, apps
    page.goto("/admin/identity-providers")
    assert page.locator("h1").inner_text() == "Nhà cung cấp định danh"
    page.goto("/admin/audit")
    assert "Cán bộ prov (prov" in page.locator("#events").inner_text()  # names, not ids
    page.goto("/admin/clients")
    page.click("a.lang")
    page.wait_for_url("**/admin/clients")
    assert page.locator("h1").inner_text() == "Applications"
    page.goto("/admin/reorganisations")
    plans = page.locator("#reorganisations").inner_text()
    assert "Planned" in plans and "officials affected" in plans and "accounts change (unit" in plans, plans
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/admin/roles", "/admin/connectors", "/admin/provisioning", "/admin/reorganisations"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
