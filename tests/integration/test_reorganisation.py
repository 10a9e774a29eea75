"""The 2025 reform in miniature: Bắc Giang merged into Bắc Ninh, the district level removed, the merged
province renamed and its officials moved to one mail domain, old addresses kept as aliases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from app.admin import reorg
from app.admin.models import RoleGrant
from app.identity.models import EmailAlias, Official, ProvisioningEvent, Unit
from app.identity.service import NewOfficial, add_official, ensure_unit
from app.provisioning.engine import ProvisioningEngine
from tests.kit import Kit

MAPPING = {"login": "{username}", "full_name": "{display_name}", "mail": "{email}", "unit": "{unit_path}"}


def province(kit: Kit) -> dict[str, str]:
    ids = {}
    with kit.broker.db.session() as s:
        for code, name, parent, kind in (
                ("bac-giang", "Tỉnh Bắc Giang", None, "province"), ("bac-ninh", "Tỉnh Bắc Ninh", None, "province"),
                ("huyen-hiep-hoa", "Huyện Hiệp Hòa", "bac-giang", "district"),
                ("huyen-tien-du", "Huyện Tiên Du", "bac-ninh", "district"),
                ("xa-hoa-son", "Xã Hòa Sơn", "huyen-hiep-hoa", "commune"),
                ("xa-dai-thanh", "Xã Đại Thành", "huyen-hiep-hoa", "commune"),
                ("xa-lien-bao", "Xã Liên Bão", "huyen-tien-du", "commune")):
            ids[code] = ensure_unit(s, code, name, parent, kind).id
        people = [("hieund", "Nguyễn Đình Hiếu", "xa-hoa-son", "bacgiang"), ("lanpt", "Phạm Thị Lan", "xa-dai-thanh",
                  "bacgiang"), ("hieund.bn", "Nguyễn Đình Hiếu", "xa-lien-bao", "bacninh"),
                  ("minhlv", "Lê Văn Minh", "huyen-hiep-hoa", "bacgiang")]
        for username, name, unit, domain in people:
            family, middle, given = name.split()
            local = "hieund" if username.startswith("hieund") else username
            add_official(s, NewOfficial(username, name, None, f"{local}@{domain}.gov.vn", unit_code=unit,
                                        given_name=given, family_name=family, middle_name=middle))
        ProvisioningEngine(kit.broker.db, kit.broker.box).save_instance(
            s, "thu-cong-vu", "sql_table", {"url": "sqlite://", "table": "accounts", "key_column": "login"},
            {"all": True}, MAPPING)
        s.add(RoleGrant(id="g1", official_id=s.scalars(select(Official.id).where(Official.username == "lanpt")).one(),
                        role="province_admin", unit_id=ids["bac-ninh"], granted_by="test"))
    return ids


OPERATIONS: list[dict[str, Any]] = [
    {"op": "merge", "from": "bac-giang", "into": "bac-ninh"},
    {"op": "remove_level", "kind": "district"},
    {"op": "rename", "unit": "bac-ninh", "name": "Tỉnh Bắc Ninh (sau sáp nhập)"},
    {"op": "mail_domain", "unit": "bac-ninh", "domain": "bacninh.gov.vn", "alias_days": 90},
]


def test_dry_run_then_apply_in_batches(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = province(kit)
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    from app.audit.trail import Actor

    actor = Actor("test", "system")
    with kit.broker.db.session() as s:
        plan = reorg.Reorganiser(s, actor, engine).plan("Sáp nhập 2025", dt.date.today().isoformat(), OPERATIONS)
        plan_id, report = plan.id, plan.report
    assert report.splitlines()[0].startswith("4 officials affected (")
    # Every official's unit path changes; the three from Bắc Giang also get a new address.
    assert report.splitlines()[1] == "thu-cong-vu: 4 accounts change (unit 4, username 0, address 3)"
    with kit.broker.db.session() as s:  # the dry run changed nothing
        assert s.get(Unit, ids["huyen-hiep-hoa"]).parent_id == ids["bac-giang"]
        assert s.get(Unit, ids["bac-giang"]).merged_into_id is None
        assert s.scalars(select(Official.email).where(Official.username == "lanpt")).one() == "lanpt@bacgiang.gov.vn"

    monkeypatch.setattr(reorg, "BATCH", 3)
    with kit.broker.db.session() as s:
        first = reorg.Reorganiser(s, actor, engine).apply(plan_id, batches=1)
    assert (first.status, first.moved, first.remaining) == ("applying", 3, 1)
    with kit.broker.db.session() as s:  # resumed by a second run
        assert reorg.Reorganiser(s, actor, engine).apply(plan_id).status == "done"

    with kit.broker.db.session() as s:
        units = {u.code: u for u in s.scalars(select(Unit))}
        assert units["bac-giang"].merged_into_id == ids["bac-ninh"]
        assert units["huyen-hiep-hoa"].dissolved_at and units["huyen-tien-du"].merged_into_id == ids["bac-ninh"]
        for commune in ("xa-hoa-son", "xa-dai-thanh", "xa-lien-bao"):
            assert units[commune].parent_id == ids["bac-ninh"], commune
        assert units["bac-ninh"].name == "Tỉnh Bắc Ninh (sau sáp nhập)"
        officials = {o.username: o for o in s.scalars(select(Official))}
        assert officials["minhlv"].unit_id == ids["bac-ninh"]  # worked in the district office: now the province
        assert officials["hieund.bn"].email == "hieund@bacninh.gov.vn"  # already there: unchanged
        assert officials["hieund"].email == "hieund2@bacninh.gov.vn"  # the usual rule, numbered on collision
        assert officials["lanpt"].email == "lanpt@bacninh.gov.vn"
        alias = s.get(EmailAlias, "hieund@bacgiang.gov.vn")
        assert alias is not None and alias.official_id == officials["hieund"].id
        assert 89 * 86400 < alias.expires_at - plan_created(s, plan_id) <= 90 * 86400 + 5
        movers = s.scalars(select(ProvisioningEvent.official_id).where(ProvisioningEvent.kind == "mover")).all()
        assert sorted(movers) == sorted(o.id for o in officials.values())


def plan_created(s, plan_id: str) -> int:  # type: ignore[no-untyped-def]
    from app.admin.models import Reorganisation

    return s.get(Reorganisation, plan_id).created_at


def test_api_refuses_before_the_effective_date_and_names_bad_operations(kit: Kit) -> None:
    from tests.admin_kit import build_province

    p = build_province(kit)
    http = p.client_for("prov")
    bad = http.post("/admin/api/reorganisations", json={"name": "x", "effective_date": "2030-01-01",
                                                        "operations": [{"op": "merge", "from": "xa-a"}]})
    assert bad.status_code == 400 and bad.json()["field"] == "operations[0].into"
    later = http.post("/admin/api/reorganisations", json={
        "name": "Gộp xã", "effective_date": "2099-07-01", "operations": [{"op": "merge", "from": "xa-b",
                                                                          "into": "xa-a"}]})
    assert later.status_code == 201 and "officials affected" in later.json()["report"]
    cycle = http.post("/admin/api/reorganisations", json={"name": "x", "effective_date": "2030-01-01", "operations": [
        {"op": "move", "unit": "bac-ninh", "parent": "xa-a"}]})
    assert cycle.status_code == 400 and cycle.json()["message"] == "bac-ninh cannot move under its own subtree"
    early = http.post(f"/admin/api/reorganisations/{later.json()['id']}/apply")
    assert early.status_code == 409 and "2099-07-01" in early.json()["message"]
    assert p.client_for("admin_a").post("/admin/api/reorganisations", json={
        "name": "x", "effective_date": "2030-01-01", "operations": [{"op": "rename", "unit": "xa-a",
                                                                     "name": "y"}]}).status_code == 403


def test_a_merge_counts_the_officials_who_move_not_those_of_the_receiving_unit(kit: Kit) -> None:
    from tests.admin_kit import build_province

    p = build_province(kit)  # commune A holds admin_a, help_a, audit_a, plain_a and target_A; B holds target_B
    with kit.broker.db.session() as s:
        for name in ("lanpt", "minhlv"):
            add_official(s, NewOfficial(name, name, None, unit_code="xa-b"))
    plan = p.client_for("prov").post("/admin/api/reorganisations", json={
        "name": "Gộp xã", "effective_date": "2099-07-01", "operations": [{"op": "merge", "from": "xa-b",
                                                                          "into": "xa-a"}]})
    assert plan.status_code == 201, plan.text
    first = plan.json()["report"].splitlines()[0]
    assert first == "3 officials affected (their unit, address or username changes; 8 officials in the units concerned)"


def test_a_large_plan_is_dry_run_by_the_worker_a_step_at_a_time_and_resumes(kit: Kit,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from app.worker import Worker
    from tests.admin_kit import build_province

    p = build_province(kit)
    with kit.broker.db.session() as s:
        for n in range(5):
            add_official(s, NewOfficial(f"moi{n}", f"Người Mới {n}", None, unit_code="xa-b"))
    http = p.client_for("prov")
    body = {"name": "Gộp xã", "effective_date": "2099-07-01",
            "operations": [{"op": "merge", "from": "xa-b", "into": "xa-a"}]}
    small = http.post("/admin/api/reorganisations", json=body).json()
    assert small["status"] == "planned" and small["dry_run"] == {"looked_at": 11, "concerned": 11}

    monkeypatch.setattr(reorg, "INLINE_PREVIEW", 0)  # as a plan of 40,000 officials would be
    monkeypatch.setattr(reorg, "PREVIEW_CHUNK", 3)
    queued = http.post("/admin/api/reorganisations", json=body)
    assert queued.status_code == 201, queued.text
    plan = queued.json()
    assert (plan["status"], plan["report"], plan["dry_run"]) == ("previewing", None, {"looked_at": 0, "concerned": 11})
    refused = http.post(f"/admin/api/reorganisations/{plan['id']}/apply")
    assert refused.status_code == 409 and "0 of 11 officials looked at" in refused.json()["message"]

    said: list[str] = []
    assert Worker.of(kit.broker, say=said.append).reorganise() == 1
    seen = http.get(f"/admin/api/reorganisations/{plan['id']}").json()
    assert (seen["status"], seen["dry_run"]["looked_at"]) == ("previewing", 3)
    assert said == [f"reorganisation {plan['id']}: dry run 3 of 11 officials"]
    steps = 0
    while seen["status"] == "previewing" and steps < 10:  # another worker goes on where the first one stopped
        Worker.of(kit.broker, say=said.append).reorganise()
        seen, steps = http.get(f"/admin/api/reorganisations/{plan['id']}").json(), steps + 1
    assert steps == 4 and said[-1].endswith("dry run 11 of 11 officials, report ready")
    assert seen["status"] == "planned" and seen["report"] == small["report"]
    assert seen["report"].startswith("6 officials affected")  # target_B and the five new ones


def test_a_plan_the_units_no_longer_fit_is_stopped_not_retried(kit: Kit) -> None:
    from app.worker import Worker
    from tests.admin_kit import build_province

    p = build_province(kit)
    http = p.client_for("prov")
    today = dt.date.today().isoformat()
    plans = [http.post("/admin/api/reorganisations", json={
        "name": f"{unit} under {parent}", "effective_date": today,
        "operations": [{"op": "move", "unit": unit, "parent": parent}]}).json()["id"]
        for unit, parent in (("xa-a", "xa-b"), ("xa-b", "xa-a"))]  # each fine alone, not both
    complaints: list[str] = []
    worker = Worker.of(kit.broker, say=lambda _: None, complain=complaints.append)
    assert worker.reorganise() == 2
    outcomes = {plan_id: http.get(f"/admin/api/reorganisations/{plan_id}").json() for plan_id in plans}
    assert sorted(o["status"] for o in outcomes.values()) == ["done", "failed"]
    failed = next(o for o in outcomes.values() if o["status"] == "failed")
    assert failed["report"].endswith("cannot move under its own subtree")
    assert complaints == [f"reorganisation {failed['id']}: cannot be applied: "
                          f"{failed['report'].rsplit('not applied: ', 1)[1]}"]
    assert worker.reorganise() == 0 and len(complaints) == 1  # not tried again


def test_namesakes_moved_to_one_domain_get_the_free_numbers_in_turn(kit: Kit) -> None:
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    from app.audit.trail import Actor

    with kit.broker.db.session() as s:
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        ensure_unit(s, "bac-giang", "Tỉnh Bắc Giang", None, "province")
        for n, local in enumerate(("hieund", "hieund2", "hieund4")):  # hieund3 left free
            add_official(s, NewOfficial(f"bn{n}", "Nguyễn Đình Hiếu", None, f"{local}@bacninh.gov.vn",
                                        unit_code="bac-ninh", given_name="Hiếu", family_name="Nguyễn",
                                        middle_name="Đình"))
        movers = [add_official(s, NewOfficial(f"bg{n}", "Nguyễn Đình Hiếu", None, f"hieund{n}@bacgiang.gov.vn",
                                              unit_code="bac-giang", given_name="Hiếu", family_name="Nguyễn",
                                              middle_name="Đình")).id for n in range(1, 31)]
        plan = reorg.Reorganiser(s, Actor("test", "system"), engine).plan("Sáp nhập", dt.date.today().isoformat(), [
            {"op": "merge", "from": "bac-giang", "into": "bac-ninh"},
            {"op": "mail_domain", "unit": "bac-ninh", "domain": "bacninh.gov.vn"}])
        reorg.Reorganiser(s, Actor("test", "system"), engine).apply(plan.id)
    with kit.broker.db.session() as s:
        given = s.scalars(select(Official.email).where(Official.id.in_(movers))).all()
        aliases = s.scalars(select(EmailAlias.address).where(EmailAlias.official_id.in_(movers))).all()
    numbers = sorted(int(address.split("@")[0].removeprefix("hieund")) for address in given)
    assert numbers == [3, *range(5, 34)]  # each free number once, none skipped, none given twice
    assert sorted(aliases) == sorted(f"hieund{n}@bacgiang.gov.vn" for n in range(1, 31))


def test_a_dry_run_the_units_no_longer_fit_is_stopped_too(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.worker import Worker
    from tests.admin_kit import build_province

    p = build_province(kit)
    http = p.client_for("prov")
    monkeypatch.setattr(reorg, "INLINE_PREVIEW", 0)
    monkeypatch.setattr(reorg, "PREVIEW_CHUNK", 2)
    queued = http.post("/admin/api/reorganisations", json={
        "name": "xa-a under xa-b", "effective_date": "2099-07-01",
        "operations": [{"op": "move", "unit": "xa-a", "parent": "xa-b"}]}).json()
    monkeypatch.setattr(reorg, "INLINE_PREVIEW", 2000)
    moved = http.post("/admin/api/reorganisations", json={
        "name": "xa-b under xa-a", "effective_date": dt.date.today().isoformat(),
        "operations": [{"op": "move", "unit": "xa-b", "parent": "xa-a"}]}).json()
    complaints: list[str] = []
    worker = Worker.of(kit.broker, say=lambda _: None, complain=complaints.append)
    worker.reorganise()  # a step of the first's dry run; the second is applied
    assert http.get(f"/admin/api/reorganisations/{moved['id']}").json()["status"] == "done"
    worker.reorganise()  # the first's next step meets a cycle
    stopped = http.get(f"/admin/api/reorganisations/{queued['id']}").json()
    assert stopped["status"] == "failed" and stopped["report"] == "not applied: xa-a cannot move under its own subtree"
    assert worker.reorganise() == 0 and len(complaints) == 1
