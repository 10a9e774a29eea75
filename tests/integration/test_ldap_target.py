"""The LDAP target connector against a second, real slapd (an application's own directory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import Connection, Server

from app.provisioning.engine import ProvisioningEngine, wait_for_tasks
from connectors.base import Account, AlreadyExists
from connectors.ldap_target import LdapTargetConfig, LdapTargetConnector
from tests.directory_kit import ADMIN_PW, Slapd
from tests.e2e.conftest import free_port
from tests.integration.test_provisioning import hire
from tests.kit import Kit, leave

SUFFIX = "dc=vanban,dc=bacninh,dc=gov,dc=vn"
MAPPING = {"display_name": "{display_name}", "family_name": "{family_name}", "given_name": "{given_name}",
           "email": "{email}"}


@pytest.fixture(scope="module")
def app_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    base = tmp_path_factory.mktemp("app-ldap")
    ldif = base / "app.ldif"
    ldif.write_text(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Van ban\ndc: vanban\n\n"
                    f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n")
    server = Slapd("vanban", SUFFIX, free_port(), base / "slapd", ldif)
    server.start()
    yield server
    server.stop()


def config(server: Slapd) -> dict[str, object]:
    return {"url": server.url, "bind_dn": server.admin_dn, "bind_password": ADMIN_PW,
            "base_dn": f"ou=people,{SUFFIX}"}


def entries(server: Slapd) -> dict[str, dict[str, object]]:
    conn = Connection(Server(server.url), server.admin_dn, ADMIN_PW, auto_bind=True)
    conn.search(f"ou=people,{SUFFIX}", "(uid=*)", attributes=["uid", "cn", "mail", "pwdAccountLockedTime"])
    found = {str(e.uid): e.entry_attributes_as_dict for e in conn.entries}
    conn.unbind()
    return found


def test_engine_provisions_into_another_directory(kit: Kit, app_directory: Slapd, tmp_path: Path) -> None:
    app_directory.start()  # a clean directory for each backend's run
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban-ldap", "ldap_target", config(app_directory), {"all": True}, MAPPING)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    hire(kit, "hieund.b", "Ngô Đức Hiếu", "Hiếu", "Ngô", "Đức")
    wait_for_tasks(engine, 30)
    found = entries(app_directory)
    assert sorted(found) == ["hieund", "hieund2"]
    assert found["hieund"]["cn"] == ["Nguyễn Đình Hiếu"] and found["hieund"]["mail"] == ["hieund@bacninh.gov.vn"]
    leave(kit.settings, "hieund")
    wait_for_tasks(engine, 30)
    assert entries(app_directory)["hieund"]["pwdAccountLockedTime"] in (["000001010000Z"], [b"000001010000Z"])


def test_connector_operations(app_directory: Slapd) -> None:
    app_directory.start()
    target = LdapTargetConnector(LdapTargetConfig.model_validate(config(app_directory)))
    target.test()
    account = Account(key="maitt", attributes={"display_name": "Trần Thị Mai", "family_name": "Trần"})
    dn = target.create(account)
    with pytest.raises(AlreadyExists):
        target.create(account)
    assert target.get("maitt").target_id == dn  # type: ignore[union-attr]
    assert target.get("*") is None  # escaped: a literal star, not a wildcard
    target.disable(dn)
    assert target.get("maitt").enabled is False  # type: ignore[union-attr]
    target.enable(dn)
    target.enable(dn)  # enabling twice is harmless
    assert target.get("maitt").enabled is True  # type: ignore[union-attr]
    assert [a.key for a in target.list()] == ["maitt"]
    target.delete(dn)
    assert target.get("maitt") is None


def test_a_missing_family_name_is_not_reported_as_drift(kit: Kit, app_directory: Slapd) -> None:
    from app.provisioning.reconcile import reconcile

    app_directory.start()
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban-ldap", "ldap_target", config(app_directory), {"all": True}, MAPPING)
    hire(kit, "tuan", "Tuấn", "Tuấn", "", "")  # one name only: sn is filled with the account key
    wait_for_tasks(engine, 30)
    for _ in range(2):  # every run, not only the first
        with kit.broker.db.session() as s:
            report = reconcile(engine, s, "van-ban-ldap", fix=True)
        assert report.drifted == [] and report.missing == [], report.as_dict()
