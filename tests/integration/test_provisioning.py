"""The provisioning engine with the SQL-table connector, on real PostgreSQL and MariaDB targets."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from app.identity.models import Official
from app.identity.service import NewOfficial, add_official, emit, ensure_unit
from app.provisioning.engine import ProvisioningEngine, RetryPolicy, wait_for_tasks
from app.provisioning.models import AccountLink, ProvisioningTask
from app.provisioning.registry import ConnectorConfigError
from tests.kit import Kit, leave

TARGETS = {
    "postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                   "id SERIAL PRIMARY KEY, ten_dang_nhap VARCHAR(100) UNIQUE NOT NULL, ho_ten VARCHAR(200),"
                   " email VARCHAR(200), don_vi VARCHAR(300), hoat_dong SMALLINT NOT NULL DEFAULT 1"),
    "mariadb": ("mysql+pymysql://root@127.0.0.1:3306/mysql",
                "id INT AUTO_INCREMENT PRIMARY KEY, ten_dang_nhap VARCHAR(100) UNIQUE NOT NULL,"
                " ho_ten VARCHAR(200), email VARCHAR(200), don_vi VARCHAR(300), hoat_dong SMALLINT NOT NULL DEFAULT 1"
                ") CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; -- "),
}
MAPPING = {"full_name": "{display_name}", "email": "{email}", "unit": "{unit_path}"}


@pytest.fixture(params=sorted(TARGETS))
def legacy(request: pytest.FixtureRequest) -> Iterator[str]:
    """A legacy application's database with its user table, on a real server."""
    admin_url, columns = TARGETS[request.param]
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    if request.param == "mariadb":
        url += "?charset=utf8mb4"
    engine = create_engine(url)
    with engine.begin() as conn:
        charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if request.param == "mariadb" else ""
        conn.execute(text(f"CREATE TABLE nguoi_dung ({columns.split(') CHARACTER')[0]}){charset}"))
    engine.dispose()
    yield url
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name}" + (" WITH (FORCE)" if request.param == "postgresql" else "")))
    admin.dispose()


def config(url: str) -> dict[str, Any]:
    return {"url": url, "table": "nguoi_dung", "key_column": "ten_dang_nhap", "id_column": "id",
            "columns": {"full_name": "ho_ten", "email": "email", "unit": "don_vi"}, "enabled_column": "hoat_dong"}


def rows(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM nguoi_dung ORDER BY id"))]
    engine.dispose()
    return out


def engine_for(kit: Kit, url: str, **retry: Any) -> ProvisioningEngine:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(**retry) if retry else None)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", config(url), {"unit_codes": ["bac-ninh"]}, MAPPING)
    return engine


def hire(kit: Kit, username: str, name: str, given: str, family: str, middle: str) -> str:
    with kit.broker.db.session() as s:
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        ensure_unit(s, "so-ttt", "Sở Thông tin và Truyền thông", "bac-ninh", "department")
        return add_official(s, NewOfficial(username, name, None, f"{username}@bacninh.gov.vn", unit_code="so-ttt",
                                           given_name=given, family_name=family, middle_name=middle)).id


def test_joiners_get_accounts_named_by_rule(kit: Kit, legacy: str) -> None:
    engine = engine_for(kit, legacy)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    hire(kit, "hieund.2", "Ngô Đức Hiếu", "Hiếu", "Ngô", "Đức")
    wait_for_tasks(engine, 30)
    table = rows(legacy)
    assert [r["ten_dang_nhap"] for r in table] == ["hieund", "hieund2"]
    assert table[0]["ho_ten"] == "Nguyễn Đình Hiếu" and table[0]["hoat_dong"] == 1
    assert table[0]["don_vi"] == "Tỉnh Bắc Ninh / Sở Thông tin và Truyền thông"
    with kit.broker.db.session() as s:
        links = s.scalars(select(AccountLink).order_by(AccountLink.key)).all()
        assert [(link.key, link.state) for link in links] == [("hieund", "active"), ("hieund2", "active")]
        assert {str(r["id"]) for r in table} == {link.target_id for link in links}


def test_update_leaver_and_rejoiner(kit: Kit, legacy: str) -> None:
    engine = engine_for(kit, legacy)
    official_id = hire(kit, "maitt", "Trần Thị Mai", "Mai", "Trần", "Thị")
    wait_for_tasks(engine, 30)
    with kit.broker.db.session() as s:
        official = s.get(Official, official_id)
        assert official is not None
        official.display_name = "Trần Thị Mai Anh"
        emit(s, official, "update")
    wait_for_tasks(engine, 30)
    assert rows(legacy)[0]["ho_ten"] == "Trần Thị Mai Anh"
    leave(kit.settings, "maitt")
    wait_for_tasks(engine, 30)
    assert rows(legacy)[0]["hoat_dong"] == 0
    with kit.broker.db.session() as s:
        official = s.get(Official, official_id)
        assert official is not None
        official.enabled = True
        emit(s, official, "joiner")
    wait_for_tasks(engine, 30)
    table = rows(legacy)
    assert len(table) == 1 and table[0]["hoat_dong"] == 1 and table[0]["ten_dang_nhap"] == "maitt"


def test_existing_account_is_linked_not_duplicated(kit: Kit, legacy: str) -> None:
    engine = create_engine(legacy)
    with engine.begin() as conn:  # an account the legacy system already had, e.g. a create whose answer was lost
        conn.execute(text("INSERT INTO nguoi_dung (ten_dang_nhap, ho_ten, hoat_dong) VALUES ('hungl', 'cũ', 0)"))
    engine.dispose()
    provisioning = engine_for(kit, legacy)
    hire(kit, "hunglv", "Lê Văn Hùng", "Hùng", "Lê", "")
    wait_for_tasks(provisioning, 30)
    with provisioning.db.session() as s:  # replaying every task changes nothing
        s.execute(text("UPDATE provisioning_tasks SET status = 'pending'"))
    wait_for_tasks(provisioning, 30)
    table = rows(legacy)
    assert len(table) == 1 and table[0]["ho_ten"] == "Lê Văn Hùng" and table[0]["hoat_dong"] == 1


def test_unassigned_officials_get_nothing(kit: Kit, legacy: str) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", config(legacy), {"groups": ["cb-so-tc"]}, MAPPING)
    hire(kit, "anhpt", "Phạm Tuấn Anh", "Anh", "Phạm", "Tuấn")
    wait_for_tasks(engine, 30)
    assert rows(legacy) == []


def test_outage_is_retried_with_backoff_then_dead_lettered(kit: Kit, legacy: str) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(max_attempts=3, base_delay=0,
                                                                           max_delay=0))
    broken = {**config(legacy), "url": "postgresql+psycopg://postgres@127.0.0.1:9/none", "connect_timeout": 1}
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", broken, {"all": True}, MAPPING)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 60)
    with kit.broker.db.session() as s:
        task = s.scalars(select(ProvisioningTask)).one()
        assert task.status == "dead" and task.attempts == 3 and "database unavailable" in (task.last_error or "")
        engine.save_instance(s, "van-ban", "sql_table", config(legacy), {"all": True}, MAPPING)
        engine.retry_dead(s, task.id)
    wait_for_tasks(engine, 30)
    assert [r["ten_dang_nhap"] for r in rows(legacy)] == ["hieund"]


def test_connector_configuration_errors_name_the_field(kit: Kit) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        with pytest.raises(ConnectorConfigError, match="key_column"):
            engine.save_instance(s, "x", "sql_table", {"url": "sqlite://", "table": "t"}, {}, {})
        with pytest.raises(ConnectorConfigError, match="tabel"):
            engine.save_instance(s, "x", "sql_table", {"url": "sqlite://", "table": "t", "key_column": "k",
                                                        "tabel": "typo"}, {}, {})
        with pytest.raises(ConnectorConfigError, match="unknown connector"):
            engine.save_instance(s, "x", "zimbra-typo", {}, {}, {})


def test_workers_never_process_a_task_twice(kit: Kit, legacy: str) -> None:
    # Two workers on PostgreSQL (FOR UPDATE SKIP LOCKED); SQLite deployments run one worker by design.
    worker_count = 1 if "sqlite" in kit.settings.database_url else 2
    engine = engine_for(kit, legacy)
    for i in range(30):
        hire(kit, f"cb{i:02d}", f"Nguyễn Văn Cán Bộ {i}", f"Bộ{i}", "Nguyễn", "Văn")
    with kit.broker.db.session() as s:
        engine.plan(s)
    workers = [threading.Thread(target=wait_for_tasks, args=(engine, 60)) for _ in range(worker_count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with kit.broker.db.session() as s:
        attempts = s.scalars(select(ProvisioningTask.attempts)).all()
        assert len(attempts) == 30 and set(attempts) == {1}
        assert s.scalar(select(func.count()).select_from(AccountLink)) == 30
    assert len(rows(legacy)) == 30


def test_namesakes_hired_at_once_get_one_name_each_from_two_workers(kit: Kit, legacy: str) -> None:
    # Both workers' batches choose the same free names; the second to hold one fails on the unique key before any
    # target is called, and its task waits for a batch of its own.
    worker_count = 1 if "sqlite" in kit.settings.database_url else 2
    engine = engine_for(kit, legacy)
    for i in range(60):
        hire(kit, f"bovn{i:02d}", "Nguyễn Văn Bộ", "Bộ", "Nguyễn", "Văn")
    with kit.broker.db.session() as s:
        engine.plan(s)
    workers = [threading.Thread(target=lambda: engine.run_once(batch=20)) for _ in range(worker_count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wait_for_tasks(engine, 60)
    names = sorted(r["ten_dang_nhap"] for r in rows(legacy))
    assert names == sorted(["bonv"] + [f"bonv{n}" for n in range(2, 61)])
    with kit.broker.db.session() as s:
        assert set(s.scalars(select(ProvisioningTask.attempts))) == {1}
        assert sorted(s.scalars(select(AccountLink.key))) == names


def test_a_batch_of_creates_is_all_or_none(legacy: str) -> None:
    from app.provisioning.registry import build
    from connectors.base import Account, AlreadyExists

    connector = build("sql_table", config(legacy))
    made = connector.create_many([Account(key="hieund", attributes={"full_name": "Nguyễn Đình Hiếu"})])
    assert connector.get_many(["hieund", "maitt"]) == {"hieund": connector.get("hieund")}
    with pytest.raises(AlreadyExists):
        connector.create_many([Account(key="maitt"), Account(key="hieund")])
    assert [(r["ten_dang_nhap"], str(r["id"])) for r in rows(legacy)] == [("hieund", made["hieund"])]


def test_a_batch_of_updates_is_one_statement_and_names_a_missing_row(legacy: str) -> None:
    from app.provisioning.registry import build
    from connectors.base import Account, PermanentError

    connector = build("sql_table", config(legacy))
    made = connector.create_many([Account(key=key, attributes={"full_name": key}) for key in ("hieund", "maitt")])
    mai = Account(key="maitt", attributes={"full_name": "Trần Thị Mai"}, enabled=False)
    connector.update_many({made["hieund"]: Account(key="hieund", attributes={"full_name": "Nguyễn Đình Hiếu"}),
                           made["maitt"]: mai})
    assert [(r["ten_dang_nhap"], r["ho_ten"], r["hoat_dong"]) for r in rows(legacy)] == [
        ("hieund", "Nguyễn Đình Hiếu", 1), ("maitt", "Trần Thị Mai", 0)]
    with pytest.raises(PermanentError, match="1 of 2 rows not in nguoi_dung"):
        connector.update_many({made["hieund"]: Account(key="hieund"), "999999": Account(key="ghost")})


def test_a_reorganisations_movers_are_changed_a_batch_at_a_time(kit: Kit, legacy: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from app.admin.reorg import Reorganiser
    from app.audit.trail import SYSTEM
    from connectors.sql_table import SqlTableConnector

    engine = engine_for(kit, legacy)
    for username, name in (("hieund", "Nguyễn Đình Hiếu"), ("maitt", "Trần Thị Mai"), ("lanpt", "Phạm Thị Lan")):
        family, middle, given = name.split()
        hire(kit, username, name, given, family, middle)
    wait_for_tasks(engine, 30)
    one_at_a_time: list[str] = []
    update = SqlTableConnector.update

    def counted(self: SqlTableConnector, target_id: str, account: Any) -> None:
        one_at_a_time.append(account.key)
        update(self, target_id, account)

    monkeypatch.setattr(SqlTableConnector, "update", counted)
    with kit.broker.db.session() as s:
        plan = Reorganiser(s, SYSTEM, engine).plan("Đổi tên sở", dt.date.today().isoformat(), [
            {"op": "rename", "unit": "so-ttt", "name": "Sở Khoa học và Công nghệ"}])
        Reorganiser(s, SYSTEM, engine).apply(plan.id)
    wait_for_tasks(engine, 30)
    assert {r["don_vi"] for r in rows(legacy)} == {"Tỉnh Bắc Ninh / Sở Khoa học và Công nghệ"}
    assert one_at_a_time == []  # all three in the batch's one request
    with kit.broker.db.session() as s:
        assert set(s.scalars(select(ProvisioningTask.outcome).where(ProvisioningTask.status == "done"))) == {
            "created", "updated"}


def test_connector_commands(kit: Kit, legacy: str, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from app.cli import main

    for name, value in (("SSO_DATABASE_URL", kit.settings.database_url), ("SSO_MASTER_KEY", kit.settings.master_key),
                        ("SSO_DATA_DIR", str(kit.settings.data_dir)), ("SSO_ISSUER", kit.settings.issuer)):
        monkeypatch.setenv(name, value)
    engine_for(kit, legacy)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    assert main(["connectors", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "sql_table" in listed["kinds"] and listed["instances"][0]["name"] == "van-ban"
    assert main(["connectors", "test", "van-ban"]) == 0
    assert main(["worker", "--once"]) == 0
    assert [r["ten_dang_nhap"] for r in rows(legacy)] == ["hieund"]
    assert main(["connectors", "test", "nowhere"]) == 2


def test_reconcile_reports_then_fixes(kit: Kit, legacy: str) -> None:
    from app.provisioning.reconcile import reconcile

    engine = engine_for(kit, legacy)
    for username, name, given, family, middle in (("hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình"),
                                                  ("maitt", "Trần Thị Mai", "Mai", "Trần", "Thị"),
                                                  ("hunglv", "Lê Văn Hùng", "Hùng", "Lê", "Văn")):
        hire(kit, username, name, given, family, middle)
    wait_for_tasks(engine, 30)
    leave(kit.settings, "hunglv")
    wait_for_tasks(engine, 30)
    target = create_engine(legacy)
    with target.begin() as conn:  # the legacy system drifts on its own
        conn.execute(text("DELETE FROM nguoi_dung WHERE ten_dang_nhap = 'hieund'"))
        conn.execute(text("UPDATE nguoi_dung SET ho_ten = 'sửa tay' WHERE ten_dang_nhap = 'maitt'"))
        conn.execute(text("UPDATE nguoi_dung SET hoat_dong = 1 WHERE ten_dang_nhap = 'hunglv'"))
        conn.execute(text("INSERT INTO nguoi_dung (ten_dang_nhap, ho_ten) VALUES ('khach', 'Tài khoản lạ')"))
    target.dispose()
    with kit.broker.db.session() as s:
        report = reconcile(engine, s, "van-ban", fix=False)
    assert (report.missing, report.drifted, report.should_be_disabled, report.orphaned) == (
        ["hieund"], ["maitt"], ["hunglv"], ["khach"])
    assert report.tasks_queued == 0 and len(rows(legacy)) == 3  # a dry run changes nothing
    with kit.broker.db.session() as s:
        assert reconcile(engine, s, "van-ban", fix=True).tasks_queued == 3
    wait_for_tasks(engine, 30)
    table = {r["ten_dang_nhap"]: r for r in rows(legacy)}
    assert table["hieund"]["ho_ten"] == "Nguyễn Đình Hiếu" and table["hieund"]["hoat_dong"] == 1
    assert table["maitt"]["ho_ten"] == "Trần Thị Mai" and table["hunglv"]["hoat_dong"] == 0
    assert "khach" in table  # orphans are reported, never deleted by the engine
    with kit.broker.db.session() as s:
        clean = reconcile(engine, s, "van-ban", fix=False)
    assert (clean.missing, clean.drifted, clean.should_be_disabled) == ([], [], [])


def test_dead_letters_are_listed_and_retried_from_the_cli(kit: Kit, legacy: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from app.cli import main

    for name, value in (("SSO_DATABASE_URL", kit.settings.database_url), ("SSO_MASTER_KEY", kit.settings.master_key),
                        ("SSO_DATA_DIR", str(kit.settings.data_dir)), ("SSO_ISSUER", kit.settings.issuer)):
        monkeypatch.setenv(name, value)
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(max_attempts=1))
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", {**config(legacy), "table": "khong_co"}, {"all": True},
                             MAPPING)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    assert main(["provisioning", "dead-letters", "--json"]) == 0
    dead = json.loads(capsys.readouterr().out)
    assert len(dead) == 1 and "khong_co does not exist" in dead[0]["error"]
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", config(legacy), {"all": True}, MAPPING)
    assert main(["provisioning", "retry", str(dead[0]["id"])]) == 0
    wait_for_tasks(engine, 30)
    assert [r["ten_dang_nhap"] for r in rows(legacy)] == ["hieund"]
    assert main(["provisioning", "retry", str(dead[0]["id"])]) == 2


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(kit: Kit, legacy: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    engine_for(kit, legacy)
    for i in range(40):
        hire(kit, f"cb{i:02d}", f"Nguyễn Văn Cán Bộ {i}", f"Bộ{i}", "Nguyễn", "Văn")
    env = {**os.environ, "SSO_DATABASE_URL": kit.settings.database_url, "SSO_MASTER_KEY": kit.settings.master_key,
           "SSO_DATA_DIR": str(kit.settings.data_dir), "SSO_ISSUER": kit.settings.issuer}
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--interval", "3600"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(rows(legacy)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # mid-batch, no chance to clean up
    worker.wait(timeout=10)
    wait_for_tasks(ProvisioningEngine(kit.broker.db, kit.broker.box), 60)
    names = [r["ten_dang_nhap"] for r in rows(legacy)]
    assert len(names) == 40 and len(set(names)) == 40
    with kit.broker.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AccountLink)) == 40
        assert s.scalars(select(ProvisioningTask).where(ProvisioningTask.status != "done")).all() == []


def test_dry_run_plan_shows_changes_and_makes_none(kit: Kit, legacy: str) -> None:
    engine = engine_for(kit, legacy)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    with kit.broker.db.session() as s:
        engine.plan(s)
    with kit.broker.db.session() as s:
        plan = engine.preview(s)
    assert len(plan) == 1 and "van-ban: hieund" in plan[0] and "create hieund" in plan[0]
    assert "Nguyễn Đình Hiếu" in plan[0]
    assert rows(legacy) == []
    with kit.broker.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AccountLink)) == 0  # the store's changes rolled back
    wait_for_tasks(engine, 30)
    assert [r["ten_dang_nhap"] for r in rows(legacy)] == ["hieund"]


def test_leaver_accounts_are_deleted_after_retention_and_keys_stay_reserved(kit: Kit, legacy: str) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", config(legacy), {"all": True}, MAPPING, retention_days=0)
    official_id = hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    leave(kit.settings, "hieund")
    wait_for_tasks(engine, 30)
    engine.run_once()  # the next pass finds the disabled account past its retention
    assert rows(legacy) == []
    with kit.broker.db.session() as s:
        link = s.get(AccountLink, (official_id, "van-ban"))
        assert link is not None and link.state == "deleted" and link.key == "hieund"
    hire(kit, "hieund.moi", "Ngô Đức Hiếu", "Hiếu", "Ngô", "Đức")  # a namesake joins later
    wait_for_tasks(engine, 30)
    assert [r["ten_dang_nhap"] for r in rows(legacy)] == ["hieund2"]  # hieund stays reserved


def test_every_attempt_is_recorded(kit: Kit, legacy: str) -> None:
    from app.provisioning.models import ProvisioningAttempt

    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(max_attempts=3, base_delay=0,
                                                                           max_delay=0))
    with kit.broker.db.session() as s:
        engine.save_instance(s, "van-ban", "sql_table", {**config(legacy), "table": "khong_co"}, {"all": True},
                             MAPPING)
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    with kit.broker.db.session() as s:
        attempts = s.scalars(select(ProvisioningAttempt).order_by(ProvisioningAttempt.id)).all()
        assert [a.outcome for a in attempts] == ["permanent error"]
        assert "does not exist" in (attempts[0].error or "")


def test_assignment_by_hand_and_the_connectors_default_mapping(kit: Kit, legacy: str) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:  # no mapping configured: the sql_table connector's defaults apply
        engine.save_instance(s, "van-ban", "sql_table", config(legacy), {"officials": ["maitt"]}, {})
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    hire(kit, "maitt", "Trần Thị Mai", "Mai", "Trần", "Thị")
    wait_for_tasks(engine, 30)
    table = rows(legacy)
    assert [r["ten_dang_nhap"] for r in table] == ["maitt"]  # only the official named by hand
    assert table[0]["ho_ten"] == "Trần Thị Mai" and table[0]["email"] == "maitt@bacninh.gov.vn"
    assert table[0]["don_vi"] == "Tỉnh Bắc Ninh / Sở Thông tin và Truyền thông"
