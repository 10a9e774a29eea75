"""The admin console in a real headless Chromium: a commune's admin signs in with a second factor,
onboards an official, sees the accounts provisioned, disables the official, and cannot see another commune."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, text

from app.identity.service import find_official
from app.mfa import totp
from app.provisioning.engine import ProvisioningEngine
from tests.admin_kit import Province, seed_province
from tests.e2e.conftest import LiveBroker

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
        secret, _ = live.broker.factors.totp_begin(s, admin)
        live.broker.factors.totp_confirm(s, admin.id, totp.code_at(secret, int(time.time() // 30)))
    return province, secret, provisioning


def provision(engine: ProvisioningEngine) -> None:
    for _ in range(5):
        if not engine.run_once():
            break


def test_unit_admin_onboards_provisions_and_disables(page, localhost_broker: LiveBroker,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    province, secret, engine = prepare(localhost_broker, tmp_path)
    provision(engine)  # the seed officials' accounts
    page.goto("/admin")
    page.wait_for_url("**/login")
    page.fill("#username", "admina")
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/login/mfa*")
    page.fill("#code", totp.code_at(secret, int(time.time() // 30) + 1))
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    page.wait_for_url("**/account")
    page.goto("/admin/officials")
    assert page.locator("h1").inner_text() == "Cán bộ"
    listed = page.locator("#officials").inner_text()
    assert "targeta" in listed and "targetb" not in listed  # only the admin's own commune

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
