"""The Zimbra connector against the SOAP Admin API simulator (Zimbra cannot run here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.provisioning.engine import ProvisioningEngine, wait_for_tasks
from connectors.base import Account, AlreadyExists, PermanentError
from connectors.zimbra import ZimbraConfig, ZimbraConnector
from tests.asgi_server import serving
from tests.integration.test_provisioning import hire
from tests.kit import Kit, leave
from tests.zimbra_simulator import ADMIN, build

MAPPING = {"display_name": "{display_name}", "given_name": "{given_name}", "family_name": "{family_name}",
           "title": "{title}", "unit": "{unit_name}"}


@pytest.fixture
def zimbra() -> Iterator[tuple[str, dict[str, Any]]]:
    app, state = build()
    with serving(app) as url:
        yield f"{url}/service/admin/soap", state


def config(url: str, **over: Any) -> dict[str, Any]:
    return {"url": url, "admin_name": ADMIN[0], "admin_password": ADMIN[1], "domain": "bacninh.gov.vn", **over}


def test_connector_operations(zimbra: tuple[str, dict[str, Any]]) -> None:
    url, state = zimbra
    mail = ZimbraConnector(ZimbraConfig.model_validate(config(url)))
    mail.test()
    account = Account(key="hieund", attributes={"display_name": "Nguyễn Đình Hiếu", "title": "Chuyên viên"})
    target_id = mail.create(account)
    with pytest.raises(AlreadyExists):
        mail.create(account)
    found = mail.get("hieund")
    assert found is not None and found.target_id == target_id and found.attributes["display_name"] == "Nguyễn Đình Hiếu"
    assert mail.get("nobody") is None
    mail.disable(target_id)
    assert state["accounts"][target_id]["attrs"]["zimbraAccountStatus"] == "locked"
    assert mail.get("hieund").enabled is False  # type: ignore[union-attr]
    mail.enable(target_id)
    mail.set_password(target_id, "Mail@2026")
    assert [a.key for a in mail.list()] == ["hieund"]
    state["tokens"].clear()  # the admin token expires: the connector logs in again once
    mail.update(target_id, Account(key="hieund", attributes={"display_name": "Nguyễn Đình Hiếu (Sở TT&TT)"}))
    assert state["accounts"][target_id]["attrs"]["displayName"] == "Nguyễn Đình Hiếu (Sở TT&TT)"
    assert state["requests"].count("AuthRequest") == 2
    with pytest.raises(PermanentError, match="admin login"):
        ZimbraConnector(ZimbraConfig.model_validate(config(url, admin_password="wrong"))).test()


def test_engine_provisions_zimbra_mailboxes(kit: Kit, zimbra: tuple[str, dict[str, Any]]) -> None:
    url, state = zimbra
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "zimbra", "zimbra", config(url), {"all": True}, MAPPING)
    hire(kit, "maitt", "Trần Thị Mai", "Mai", "Trần", "Thị")
    wait_for_tasks(engine, 30)
    (account,) = state["accounts"].values()
    assert account["name"] == "maitt@bacninh.gov.vn" and account["attrs"]["displayName"] == "Trần Thị Mai"
    assert account["attrs"]["company"] == "Sở Thông tin và Truyền thông"
    leave(kit.settings, "maitt")
    wait_for_tasks(engine, 30)
    assert account["attrs"]["zimbraAccountStatus"] == "locked"  # mail kept, login blocked


def test_a_mail_domain_change_pushes_the_old_address_as_an_alias(kit: Kit, zimbra: tuple[str, dict[str, Any]]) -> None:
    import datetime as dt

    from sqlalchemy import update

    from app.identity.models import EmailAlias
    from tests.admin_kit import build_province

    url, state = zimbra
    province = build_province(kit)
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "thu-cong-vu", "zimbra", config(url), {"unit_codes": ["xa-a"]}, MAPPING)
    kit.official("hieund", email="hieund@hiephoa.bacninh.gov.vn", unit_code="xa-a")
    wait_for_tasks(engine, 30)
    (account,) = [a for a in state["accounts"].values() if a["name"] == "hieund@bacninh.gov.vn"]
    assert not account.get("aliases")
    admin = province.client_for("prov")
    plan = admin.post("/admin/api/reorganisations", json={
        "name": "Tên miền thư mới", "effective_date": dt.date.today().isoformat(),
        "operations": [{"op": "mail_domain", "unit": "xa-a", "domain": "bacninh.gov.vn", "alias_days": 90}]})
    assert plan.status_code == 201, plan.text
    assert admin.post(f"/admin/api/reorganisations/{plan.json()['id']}/apply").status_code == 200
    wait_for_tasks(engine, 30)
    assert account["aliases"] == {"hieund@hiephoa.bacninh.gov.vn"}  # mail to the old address still arrives
    assert "AddAccountAliasRequest" in state["requests"]
    with kit.broker.db.session() as s:  # 90 days later
        s.execute(update(EmailAlias).values(expires_at=0))
    wait_for_tasks(engine, 30)
    assert account["aliases"] == set() and "RemoveAccountAliasRequest" in state["requests"]
