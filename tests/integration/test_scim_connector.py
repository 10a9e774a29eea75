"""The SCIM connector against a real SCIM server (scim2-server), through the provisioning engine."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.provisioning.engine import ProvisioningEngine, RetryPolicy, wait_for_tasks
from app.provisioning.models import ProvisioningTask
from connectors.base import Account, AlreadyExists, PermanentError
from connectors.scim import ScimConfig, ScimConnector
from tests.conftest import SCIM_TOKEN as TOKEN
from tests.e2e.conftest import free_port
from tests.integration.test_provisioning import hire
from tests.kit import Kit, leave

MAPPING = {"display_name": "{display_name}", "given_name": "{given_name}", "family_name": "{family_name}",
           "middle_name": "{middle_name}", "email": "{email}", "title": "{title}", "external_id": "{sub}"}


def users(url: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/Users", headers={"Authorization": f"Bearer {TOKEN}"})
    return list(reply.json().get("Resources", []))


def test_connector_operations(scim_server: str) -> None:
    scim = ScimConnector(ScimConfig(base_url=scim_server, token=TOKEN, page_size=2))
    scim.test()
    account = Account(key="hieund", attributes={"display_name": "Nguyễn Đình Hiếu", "email": "hieund@bacninh.gov.vn"})
    target_id = scim.create(account)
    with pytest.raises(AlreadyExists):
        scim.create(account)
    found = scim.get("HIEUND")
    assert found is not None and found.target_id == target_id and found.attributes["display_name"] == "Nguyễn Đình Hiếu"
    assert scim.get('x" or userName pr or userName eq "y') is None  # a filter literal, not filter syntax
    scim.disable(target_id)
    assert scim.get("hieund").enabled is False  # type: ignore[union-attr]
    for i in range(4):
        scim.create(Account(key=f"cb{i}", attributes={}))
    assert sorted(a.key for a in scim.list()) == ["cb0", "cb1", "cb2", "cb3", "hieund"]  # paged by 2
    with pytest.raises(PermanentError):
        ScimConnector(ScimConfig(base_url=scim_server, token="wrong")).test()


def test_engine_provisions_over_scim(kit: Kit, scim_server: str) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "dao-tao", "scim", {"base_url": scim_server, "token": TOKEN}, {"all": True}, MAPPING)
    # an account the target already had (a create whose answer was lost): adopted, not duplicated
    httpx.post(f"{scim_server}/Users", headers={"Authorization": f"Bearer {TOKEN}"},
               json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "maitt"})
    official_id = hire(kit, "maitt", "Trần Thị Mai", "Mai", "Trần", "Thị")
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    by_name = {u["userName"]: u for u in users(scim_server)}
    assert sorted(by_name) == ["hieund", "maitt"]
    assert by_name["maitt"]["displayName"] == "Trần Thị Mai" and by_name["maitt"]["externalId"] == official_id
    leave(kit.settings, "maitt")
    wait_for_tasks(engine, 30)
    assert {u["userName"]: u["active"] for u in users(scim_server)} == {"hieund": True, "maitt": False}


def test_unreachable_scim_target_is_retried_then_dead_lettered(kit: Kit) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(max_attempts=2, base_delay=0, max_delay=0))
    with kit.broker.db.session() as s:
        engine.save_instance(s, "dao-tao", "scim", {"base_url": f"http://127.0.0.1:{free_port()}", "timeout": 2},
                             {"all": True}, MAPPING)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    with kit.broker.db.session() as s:
        from sqlalchemy import select

        task = s.scalars(select(ProvisioningTask)).one()
        assert task.status == "dead" and task.attempts == 2 and "failed" in (task.last_error or "")


def test_groups_follow_their_members(kit: Kit, scim_server: str) -> None:
    from app.identity.models import Group, GroupMember, Official
    from app.identity.service import emit

    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "dao-tao", "scim", {"base_url": scim_server, "token": TOKEN}, {"all": True}, MAPPING)
    mai = hire(kit, "maitt", "Trần Thị Mai", "Mai", "Trần", "Thị")
    hieu = hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    with kit.broker.db.session() as s:
        group = Group(id="g-cb-so-ttt", name="cb-so-ttt", source="local")
        s.add(group)
        s.flush()
        s.add_all([GroupMember(group_id=group.id, official_id=mai), GroupMember(group_id=group.id, official_id=hieu)])
    wait_for_tasks(engine, 30)
    reply = httpx.get(f"{scim_server}/Groups", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    (scim_group,) = reply["Resources"]
    ids = {u["userName"]: u["id"] for u in users(scim_server)}
    assert scim_group["displayName"] == "cb-so-ttt"
    assert sorted(m["value"] for m in scim_group["members"]) == sorted(ids.values())
    with kit.broker.db.session() as s:  # Mai leaves the group
        s.query(GroupMember).filter_by(group_id="g-cb-so-ttt", official_id=mai).delete()
        leaving = s.get(Official, mai)
        assert leaving is not None
        emit(s, leaving, "update", {"groups": {"removed": ["cb-so-ttt"]}})
    wait_for_tasks(engine, 30)
    (scim_group,) = httpx.get(f"{scim_server}/Groups", headers={"Authorization": f"Bearer {TOKEN}"}).json()["Resources"]
    assert [m["value"] for m in scim_group["members"]] == [ids["hieund"]]
