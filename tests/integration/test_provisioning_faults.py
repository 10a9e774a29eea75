"""Provisioning under real faults (issue #12 §2): a real SCIM server (scim2-server) behind a proxy that answers
503 and 429 with Retry-After, and drops answers after the target applied the change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.provisioning.engine import ProvisioningEngine, RetryPolicy, wait_for_tasks
from app.provisioning.models import AccountLink, ProvisioningTask
from tests.conftest import SCIM_TOKEN as TOKEN
from tests.fault_proxy import FaultProxy, start
from tests.integration.test_provisioning import hire
from tests.integration.test_scim_connector import MAPPING, users
from tests.kit import Kit, leave, run_cli

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = {"base_delay": 0, "max_delay": 0}


@pytest.fixture
def proxy(scim_server: str) -> Iterator[tuple[FaultProxy, str]]:
    fault = FaultProxy(scim_server)
    url, server = start(fault)
    yield fault, url
    server.shutdown()


def engine_via(kit: Kit, url: str, **retry: Any) -> ProvisioningEngine:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(**{**FAST, **retry}))
    with kit.broker.db.session() as s:
        engine.save_instance(s, "dao-tao", "scim", {"base_url": url, "token": TOKEN, "timeout": 5}, {"all": True},
                             MAPPING)
    return engine


def tasks(kit: Kit) -> list[ProvisioningTask]:
    with kit.broker.db.session() as s:
        rows = list(s.scalars(select(ProvisioningTask).order_by(ProvisioningTask.id)))
        s.expunge_all()
        return rows


def test_a_leaver_whose_create_answer_was_lost_is_disabled(kit: Kit, proxy: tuple[FaultProxy, str],
                                                            scim_server: str) -> None:
    fault, url = proxy
    engine = engine_via(kit, url)
    fault.next("POST", "/Users", 1, "drop")  # the account is created, the broker never hears so
    official_id = hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    engine.run_once()
    (created,) = users(scim_server)
    assert created["active"] is True and created["externalId"] == official_id
    with kit.broker.db.session() as s:
        link = s.get(AccountLink, (official_id, "dao-tao"))
        assert link is not None and link.state == "pending" and link.target_id is None
    leave(kit.settings, "hieund")  # leaves before the create is retried
    wait_for_tasks(engine, 30)
    (account,) = users(scim_server)
    assert account["active"] is False  # found by key and externalId, and disabled
    with kit.broker.db.session() as s:
        link = s.get(AccountLink, (official_id, "dao-tao"))
        assert link is not None and link.state == "disabled" and link.target_id == created["id"]


def test_throttling_is_honoured_and_nothing_is_dead_lettered(kit: Kit, proxy: tuple[FaultProxy, str],
                                                            scim_server: str) -> None:
    fault, url = proxy
    engine = engine_via(kit, url, max_attempts=None)
    fault.next("GET", "/Users", 3, "429:2")  # throttled three times, 2 s each
    for username, name in (("hieund", "Nguyễn Đình Hiếu"), ("maitt", "Trần Thị Mai"), ("anhpt", "Phạm Tuấn Anh")):
        hire(kit, username, name, name.split()[-1], name.split()[0], name.split()[1])
    wait_for_tasks(engine, 40)
    assert sorted(u["userName"] for u in users(scim_server)) == ["anhpt", "hieund", "maitt"]
    assert all(t.status == "done" for t in tasks(kit))
    throttled = [s for s in fault.seen if s.action.startswith("429")]
    assert len(throttled) == 3
    for answer in throttled:  # after each 429 the target was left alone for the time it asked
        following = [s for s in fault.seen if s.at > answer.at]
        assert following and following[0].at - answer.at >= 1.9


def test_a_target_down_is_paused_not_burnt_then_recovers(kit: Kit, proxy: tuple[FaultProxy, str],
                                                        scim_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    fault, url = proxy
    engine = engine_via(kit, url, breaker_failures=3, breaker_pause=60, max_delay=900)
    fault.default = "503"
    for i in range(6):
        hire(kit, f"cb{i}", f"Cán Bộ {i}", f"{i}", "Cán", "Bộ")
    for _ in range(5):
        engine.run_once()
    assert len(fault.seen) == 3  # three failures opened the breaker; the other tasks were not tried
    assert all(t.status == "pending" for t in tasks(kit))  # a time budget, not a count: nothing dead
    metrics = kit.http.get("/metrics").text
    assert 'sso_provisioning_target_paused{connector="dao-tao"} 1.0' in metrics
    assert 'sso_provisioning_target_failures{connector="dao-tao"} 3.0' in metrics
    run_cli(kit.settings, ["provisioning", "status", "--json"])
    (status,) = __import__("json").loads(capsys.readouterr().out)
    assert status["connector"] == "dao-tao" and status["paused"] is True and status["pending"] == 6
    assert status["failures"] == 3 and "503" in status["last_error"] and status["retry_budget_seconds"] == 86400
    fault.default = "pass"  # the target is back; the operator ends the pause instead of waiting a minute
    run_cli(kit.settings, ["provisioning", "resume", "dao-tao"])
    wait_for_tasks(engine, 30)
    assert len(users(scim_server)) == 6 and all(t.status == "done" for t in tasks(kit))
    assert 'sso_provisioning_target_paused{connector="dao-tao"} 0.0' in kit.http.get("/metrics").text


def test_the_retry_budget_ends_in_a_dead_letter(kit: Kit, proxy: tuple[FaultProxy, str]) -> None:
    fault, url = proxy
    engine = engine_via(kit, url, budget_seconds=0)
    fault.default = "503"
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 20)
    (task,) = tasks(kit)
    assert task.status == "dead" and "gave up" in (task.outcome or "") and "503" in (task.last_error or "")


def test_a_leaver_goes_first_behind_a_backlog_of_joiners(kit: Kit, proxy: tuple[FaultProxy, str],
                                                        scim_server: str) -> None:
    _, url = proxy
    engine = engine_via(kit, url)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    for i in range(300):
        hire(kit, f"cb{i}", f"Cán Bộ {i}", f"{i}", "Cán", "Bộ")
    leave(kit.settings, "hieund")
    engine.run_once(max_tasks=3)
    by_name = {u["userName"]: u for u in users(scim_server)}
    assert by_name["hieund"]["active"] is False  # the leaver was among the first three tasks
    assert len(by_name) <= 3


def test_a_namesake_is_a_conflict_never_a_takeover(kit: Kit, proxy: tuple[FaultProxy, str],
                                                   scim_server: str) -> None:
    _, url = proxy
    engine = engine_via(kit, url)
    namesake = httpx.post(f"{scim_server}/Users", headers=AUTH, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hieund",
        "displayName": "Người khác", "externalId": "someone-else"}).json()
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    (task,) = tasks(kit)
    assert task.status == "dead" and task.outcome == "conflict" and "someone-else" in (task.last_error or "")
    (account,) = users(scim_server)
    assert account["id"] == namesake["id"] and account["displayName"] == "Người khác"  # untouched
    leave(kit.settings, "hieund")  # and a leaver never disables the namesake either
    wait_for_tasks(engine, 30)
    assert users(scim_server)[0].get("active", True) is True


def test_our_account_found_by_external_id_is_linked_under_its_own_name(kit: Kit, proxy: tuple[FaultProxy, str],
                                                                       scim_server: str) -> None:
    _, url = proxy
    engine = engine_via(kit, url)
    official_id = hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    ours = httpx.post(f"{scim_server}/Users", headers=AUTH, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hieu.nd",
        "externalId": official_id}).json()
    wait_for_tasks(engine, 30)
    (account,) = users(scim_server)
    assert account["id"] == ours["id"] and account["userName"] == "hieu.nd"
    assert account["displayName"] == "Nguyễn Đình Hiếu"  # our data now
    with kit.broker.db.session() as s:
        link = s.get(AccountLink, (official_id, "dao-tao"))
        assert link is not None and link.key == "hieu.nd" and link.target_id == ours["id"]


def test_an_account_deleted_at_the_target_is_made_again(kit: Kit, proxy: tuple[FaultProxy, str],
                                                        scim_server: str) -> None:
    from app.identity.models import Official
    from app.identity.service import emit

    _, url = proxy
    engine = engine_via(kit, url)
    official_id = hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    (first,) = users(scim_server)
    assert httpx.delete(f"{scim_server}/Users/{first['id']}", headers=AUTH).status_code == 204  # by hand
    with kit.broker.db.session() as s:
        official = s.get(Official, official_id)
        assert official is not None
        official.title = "Phó phòng"
        emit(s, official, "update")
    wait_for_tasks(engine, 30)
    (again,) = users(scim_server)  # the update met a 404: the account was made again, not dead-lettered
    assert again["userName"] == "hieund" and again["title"] == "Phó phòng" and again["id"] != first["id"]
    assert all(t.status == "done" for t in tasks(kit))


def test_a_configuration_is_checked_offline_when_saved(kit: Kit) -> None:
    from app.provisioning.registry import ConnectorConfigError

    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s, pytest.raises(ConnectorConfigError, match="not an http"):
        engine.save_instance(s, "dao-tao", "scim", {"base_url": "ftp://daotao.example"}, {"all": True}, MAPPING)
