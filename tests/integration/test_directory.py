"""The central directory against real OpenLDAP servers: two sources at once, login, sync, outage."""

from __future__ import annotations

import time
import unicodedata
from typing import Any

import pytest
from ldap3 import MODIFY_ADD, MODIFY_REPLACE
from sqlalchemy import func, select

from app.directory.ldap import DirectoryUnavailable
from app.directory.sources import SourceError, parse_config
from app.directory.sync import DirectorySync
from app.identity.models import Group, GroupMember, Official, ProvisioningEvent, Unit
from tests.directory_kit import ADMIN_PW, PASSWORD, Slapd
from tests.kit import Flow, Kit, callback_params, form_fields


def add_sources(kit: Kit, directories: dict[str, Any], **over: Any) -> None:
    with kit.broker.db.session() as s:
        for server in directories.values():
            kit.broker.directories.save(s, parse_config({**server.source_config(), **over}), ADMIN_PW)


def sync(kit: Kit, name: str, full: bool = False, dry_run: bool = False):  # type: ignore[no-untyped-def]
    return DirectorySync(kit.broker.db, kit.broker.directories, name).run(full=full, dry_run=dry_run)


def count(kit: Kit, stmt: Any) -> int:
    with kit.broker.db.session() as s:
        return int(s.scalar(stmt) or 0)


def events(kit: Kit, kind: str | None = None) -> list[ProvisioningEvent]:
    with kit.broker.db.session() as s:
        q = select(ProvisioningEvent).order_by(ProvisioningEvent.id)
        if kind:
            q = q.where(ProvisioningEvent.kind == kind)
        return list(s.scalars(q))


def official(kit: Kit, source: str, username: str) -> Official:
    with kit.broker.db.session() as s:
        return s.scalars(select(Official).where(Official.source == source, Official.username == username)).one()


def login(kit: Kit, username: str, password: str = PASSWORD) -> Any:
    page = kit.http.get("/login")
    return kit.http.post("/login", data={**form_fields(page.text), "username": username, "password": password})


# --- configuration ---------------------------------------------------------------------------------
def test_typed_configuration_names_the_bad_field() -> None:
    with pytest.raises(SourceError, match="urls"):
        parse_config({"name": "bg", "urls": ["http://x"], "bind_dn": "cn=a", "people_base": "dc=x"})
    with pytest.raises(SourceError, match="peopl_base"):
        parse_config({"name": "bg", "urls": ["ldap://x"], "bind_dn": "cn=a", "people_base": "dc=x",
                      "peopl_base": "typo"})
    with pytest.raises(SourceError, match="name"):
        parse_config({"name": "Bắc Giang", "urls": ["ldap://x"], "bind_dn": "cn=a", "people_base": "dc=x"})


def test_directory_test_says_what_is_wrong(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg})
    with kit.broker.db.session() as s:
        client = kit.broker.directories.client(s, "bacgiang")
    assert any("bound as" in line for line in client.test())
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"people_base": "ou=nowhere,dc=bacgiang,dc=gov,dc=vn"}, ADMIN_PW, "does not exist"),
             ({}, "wrong-password", "was refused"),
             ({"urls": ["ldap://127.0.0.1:9"], "timeout": 1}, ADMIN_PW, "cannot")]
    for over, password, message in cases:
        with kit.broker.db.session() as s:
            kit.broker.directories.save(s, parse_config({**bg.source_config(), **over}), password)
            client = kit.broker.directories.client(s, "bacgiang")
        with pytest.raises(DirectoryUnavailable, match=message):
            client.test()


def test_bind_password_is_sealed(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    from app.identity.models import DirectorySource

    with kit.broker.db.session() as s:
        for row in s.scalars(select(DirectorySource)):
            assert ADMIN_PW not in row.bind_password_sealed and row.bind_password_sealed.startswith("v1.")
            assert "password" not in str(row.config)


# --- sync ------------------------------------------------------------------------------------------
def test_full_sync_of_two_directories_is_idempotent(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    first = sync(kit, "bacgiang", full=True)
    assert first.created == 300 and first.errors == 0 and first.units == 229
    second = sync(kit, "bacninh", full=True)
    assert second.created == 200
    again = sync(kit, "bacgiang", full=True)
    assert (again.created, again.updated, again.moved, again.disabled, again.unchanged) == (0, 0, 0, 0, 300)
    assert count(kit, select(func.count()).select_from(Official)) == 500
    assert len(events(kit, "joiner")) == 500
    shared = sorted(set(directories["bacgiang"].uids()) & set(directories["bacninh"].uids()))[0]
    a, b = official(kit, "bacgiang", shared), official(kit, "bacninh", shared)
    assert a.id != b.id  # the same username in two provinces is two people
    hieu = official(kit, "bacgiang", directories["bacgiang"].uids()[0])
    with kit.broker.db.session() as s:
        unit = s.get(Unit, hieu.unit_id)
        parent = s.get(Unit, unit.parent_id) if unit and unit.parent_id else None
        groups = s.scalars(select(Group.name).join(GroupMember).where(GroupMember.official_id == hieu.id)).all()
    assert unit is not None and parent is not None and unicodedata.is_normalized("NFC", unit.name)
    assert groups and groups[0].startswith("cb-")


def test_incremental_sync_classifies_changes(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg})
    sync(kit, "bacgiang", full=True)
    uids = bg.uids()
    renamed, moved, locked, regrouped = uids[0], uids[1], uids[2], uids[3]
    before = {u: official(kit, "bacgiang", u) for u in (renamed, moved, locked, regrouped)}
    # The offline load stamped every entry with one second; move the cursor past it first.
    time.sleep(1.1)
    conn = bg.admin()
    conn.modify(bg.dn_of(uids[10]), {"title": [(MODIFY_REPLACE, ["Chuyên viên chính"])]})
    sync(kit, "bacgiang")
    conn.modify(bg.dn_of(renamed), {"displayName": [(MODIFY_REPLACE, ["Nguyễn Văn Đổi Tên"])],
                                   "cn": [(MODIFY_REPLACE, ["Nguyễn Văn Đổi Tên"])]})
    target_ou = "ou=so-tai-chinh,ou=units,dc=bacgiang,dc=gov,dc=vn"
    assert conn.modify_dn(bg.dn_of(moved), f"uid={moved}", new_superior=target_ou), conn.result
    conn.modify(bg.dn_of(locked), {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]})
    group = "cn=cb-so-y-te,ou=groups,dc=bacgiang,dc=gov,dc=vn"
    conn.modify(group, {"member": [(MODIFY_ADD, [bg.dn_of(regrouped)])]})
    conn.add(f"uid=newbie,{target_ou}", ["inetOrgPerson"], {"uid": "newbie", "cn": "Lê Thị Mới", "sn": "Lê",
                                                             "givenName": "Mới", "userPassword": PASSWORD})
    conn.unbind()
    mark = events(kit)[-1].id
    summary = sync(kit, "bacgiang")
    assert summary.unchanged < 20, summary  # incremental: only what changed since the last run was read
    assert summary.created == 1 and summary.disabled == 1 and summary.moved >= 1
    after = {u: official(kit, "bacgiang", u) for u in before}
    assert all(after[u].id == before[u].id for u in before)  # sub survives rename, move, lock
    assert after[renamed].display_name == "Nguyễn Văn Đổi Tên"
    assert after[moved].unit_id != before[moved].unit_id
    assert after[locked].enabled is False
    new = [e for e in events(kit) if e.id > mark]
    kinds = {(e.official_id, e.kind) for e in new}
    assert (before[moved].id, "mover") in kinds and (before[locked].id, "leaver") in kinds
    assert (before[renamed].id, "update") in kinds
    group_events = [e for e in new if e.official_id == before[regrouped].id and "groups" in e.payload]
    assert group_events and "cb-so-y-te" in group_events[0].payload["groups"]["added"]
    assert any(e.kind == "joiner" and e.payload.get("username") == "newbie" for e in new)


def test_deleted_entry_is_a_leaver_at_the_next_full_sync(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg})
    sync(kit, "bacgiang", full=True)
    gone = bg.uids()[5]
    conn = bg.admin()
    assert conn.delete(bg.dn_of(gone)), conn.result
    conn.unbind()
    summary = sync(kit, "bacgiang", full=True)
    assert summary.disabled == 1 and official(kit, "bacgiang", gone).enabled is False
    leaver = events(kit, "leaver")[-1]
    assert leaver.official_id == official(kit, "bacgiang", gone).id


def test_deleted_entry_is_a_leaver_at_the_next_incremental_pass(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg})
    sync(kit, "bacgiang", full=True)
    gone, stays = bg.uids()[7], bg.uids()[8]
    conn = bg.admin()
    assert conn.delete(bg.dn_of(gone)), conn.result
    conn.unbind()
    summary = sync(kit, "bacgiang")  # incremental: a change search alone never returns a deleted entry
    assert summary.disabled == 1 and official(kit, "bacgiang", gone).enabled is False
    assert official(kit, "bacgiang", stays).enabled is True
    assert events(kit, "leaver")[-1].official_id == official(kit, "bacgiang", gone).id
    assert sync(kit, "bacgiang").disabled == 0  # once


def test_a_presence_check_missing_half_the_directory_is_not_a_mass_departure(kit: Kit,
                                                                            directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg})
    sync(kit, "bacgiang", full=True)
    conn = bg.admin()
    for uid in bg.uids()[:120]:
        assert conn.delete(bg.dn_of(uid)), conn.result
    conn.unbind()
    summary = sync(kit, "bacgiang")
    assert summary.disabled == 0 and "full sync" in summary.error_samples[0]
    assert count(kit, select(func.count()).select_from(Official)
                 .where(Official.source == "bacgiang", Official.enabled.is_(False))) == 0


def test_a_source_whose_ca_file_is_gone_degrades_only_itself(kit: Kit, directories: dict[str, Slapd],
                                                              tmp_path: Any) -> None:
    import shutil

    from app.worker import Worker

    bg, bn = directories["bacgiang"], directories["bacninh"]
    with pytest.raises(SourceError, match="ca_file: .* does not exist"):  # refused when saved
        add_sources(kit, {"broken": bg}, ca_file=str(tmp_path / "nowhere.pem"))
    ca = tmp_path / "ca.pem"
    shutil.copy(bg.ca_file, ca)
    with kit.broker.db.session() as s:
        kit.broker.directories.save(s, parse_config({**bg.source_config(), "name": "broken",
                                                     "urls": [f"ldaps://localhost:{bg.ldaps_port}"],
                                                     "ca_file": str(ca)}), ADMIN_PW)
    add_sources(kit, {"bacninh": bn})
    ca.unlink()  # later, on the server: the CA bundle is removed
    only_bn = sorted(set(bn.uids()) - set(bg.uids()))[0]
    assert login(kit, f"{only_bn}@bacninh").status_code == 303  # other sources' logins go on
    ready = kit.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["directories"]["broken"] == "unreachable"
    complaints: list[str] = []
    Worker.of(kit.broker, say=lambda line: None, complain=complaints.append).sync_directories()
    assert any("broken" in c and "TLS" in c for c in complaints)
    synced = count(kit, select(func.count()).select_from(Official).where(Official.source == "bacninh"))
    assert synced == len(bn.uids())  # the healthy source was synced


def test_dry_run_changes_nothing(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    summary = sync(kit, "bacgiang", full=True, dry_run=True)
    assert summary.created == 300
    assert count(kit, select(func.count()).select_from(Official)) == 0
    assert count(kit, select(func.count()).select_from(ProvisioningEvent)) == 0


def test_interrupted_full_sync_resumes_without_duplicates(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, {"bacgiang": directories["bacgiang"]}, page_size=50)
    calls = []

    def crash(phase: str, seen: int) -> None:
        calls.append(seen)
        if seen >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        DirectorySync(kit.broker.db, kit.broker.directories, "bacgiang", crash).run(full=True)
    partial = count(kit, select(func.count()).select_from(Official))
    assert partial == 100
    resumed = sync(kit, "bacgiang", full=True)
    assert resumed.created == 200 and resumed.unchanged == 100 and resumed.disabled == 0
    assert count(kit, select(func.count()).select_from(Official)) == 300
    assert len(events(kit, "joiner")) == 300


# --- login -----------------------------------------------------------------------------------------
def test_login_with_the_directory_password(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    only_bg = sorted(set(directories["bacgiang"].uids()) - set(directories["bacninh"].uids()))[0]
    client = kit.client(first_party=True)
    flow = Flow(client)
    tokens = kit.exchange(flow, kit.login_for_code(flow, username=only_bg, password=PASSWORD)["code"]).json()
    sub = jose_sub(kit, tokens)
    # the official the first login created is the one the sync keeps
    sync(kit, "bacgiang", full=True)
    assert official(kit, "bacgiang", only_bg).id == sub
    assert count(kit, select(func.count()).select_from(Official).where(Official.username == only_bg)) == 1


def jose_sub(kit: Kit, tokens: dict[str, Any]) -> str:
    from tests.kit import jose_verify

    return str(jose_verify(kit, tokens["id_token"], None)["sub"])


def test_colliding_username_needs_the_source(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    shared = sorted(set(directories["bacgiang"].uids()) & set(directories["bacninh"].uids()))[0]
    ambiguous = login(kit, shared)
    assert ambiguous.status_code == 401 and "@bacgiang" in ambiguous.text
    assert login(kit, f"{shared}@bacninh").status_code == 303
    assert official(kit, "bacninh", shared).enabled


def test_injection_and_odd_usernames_never_match(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    for name in ("*", "hieu*", "*)(uid=*", "x)(|(uid=*", "*)(objectClass=*", "\\2a", "a" * 300, "(uid=*)",
                 "*@bacgiang", "uid=*,ou=units,dc=bacgiang,dc=gov,dc=vn"):
        response = login(kit, name)
        assert response.status_code in (401, 429), (name, response.status_code)
        assert "__Host-sso_session" not in response.headers.get("set-cookie", "")
    assert login(kit, "hieu\x00").status_code == 400


def test_wrong_password_locked_account_and_nfd_username(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    bg = directories["bacgiang"]
    only_bg = sorted(set(bg.uids()) - set(directories["bacninh"].uids()))
    assert login(kit, only_bg[0], "wrong").status_code == 401
    assert login(kit, only_bg[0], "").status_code == 401  # never an unauthenticated bind
    conn = bg.admin()
    conn.modify(bg.dn_of(only_bg[1]), {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]})
    conn.add("uid=hiếu.nđ,ou=so-tttt,ou=units,dc=bacgiang,dc=gov,dc=vn", ["inetOrgPerson"],
             {"uid": "hiếu.nđ", "cn": "Nguyễn Đình Hiếu", "sn": "Nguyễn", "userPassword": PASSWORD})
    conn.unbind()
    disabled = login(kit, only_bg[1])  # an administrator's lock: the account is disabled
    assert disabled.status_code == 403 and "Tài khoản đã bị vô hiệu hóa." in disabled.text
    assert "nhập sai mật khẩu" not in disabled.text
    conn = bg.admin()  # a lockout after failed passwords (ppolicy stamps the time): locked, not disabled
    conn.modify(bg.dn_of(only_bg[2]), {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["20261201000000Z"])]})
    conn.unbind()
    locked = login(kit, only_bg[2])
    assert locked.status_code == 403 and "khóa do nhập sai mật khẩu" in locked.text
    assert login(kit, unicodedata.normalize("NFD", "HIẾU.NĐ@bacgiang")).status_code == 303


def test_outage_gives_a_clear_error_keeps_sessions_and_recovers(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    bg = directories["bacgiang"]
    only_bg = sorted(set(bg.uids()) - set(directories["bacninh"].uids()))
    client = kit.client(first_party=True)
    kit.login_for_code(Flow(client), username=only_bg[0], password=PASSWORD)
    bg.stop()
    try:
        down = login(kit, f"{only_bg[1]}@bacgiang")
        assert down.status_code == 503 and ("thư mục" in down.text or "directory" in down.text)
        still = kit.authorize(Flow(client), prompt="none")  # the SSO session does not need the directory
        assert "code" in callback_params(still.headers["location"], client.redirect_uri)
    finally:
        bg.start()  # the start script rebuilds the database from the same LDIF
    assert login(kit, f"{only_bg[1]}@bacgiang").status_code == 303


def test_password_change_is_written_back_under_the_directory_policy(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    bg = directories["bacgiang"]
    uid = bg.uids()[7]
    conn = bg.admin()  # the province's policy: at least 10 characters
    conn.modify("cn=default,ou=policies,dc=bacgiang,dc=gov,dc=vn",
                {"pwdMinLength": [(MODIFY_REPLACE, ["10"])], "pwdCheckQuality": [(MODIFY_REPLACE, ["2"])]})
    conn.unbind()
    with kit.broker.db.session() as s:
        client = kit.broker.directories.client(s, "bacgiang")
    assert client.change_password(bg.dn_of(uid), "wrong", "Mật-khẩu-mới@2026") == "the current password is wrong"
    refusal = client.change_password(bg.dn_of(uid), PASSWORD, "short")
    assert refusal and ("short" in refusal.lower() or "length" in refusal.lower() or "quality" in refusal.lower())
    assert client.change_password(bg.dn_of(uid), PASSWORD, "Mật-khẩu-mới@2026") is None
    assert login(kit, f"{uid}@bacgiang", PASSWORD).status_code == 401
    assert login(kit, f"{uid}@bacgiang", "Mật-khẩu-mới@2026").status_code == 303
    conn = bg.admin()
    stored = conn.search(bg.dn_of(uid), "(objectClass=*)", attributes=["userPassword"]) and conn.entries
    conn.unbind()
    assert stored and str(stored[0].userPassword).startswith("b'{SSHA}")  # hashed by the directory itself



def test_directory_commands(directories: dict[str, Slapd], database_url: str, master_key: str, tmp_path: Any,
                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import json

    from app.cli import main

    for name, value in (("SSO_DATABASE_URL", database_url), ("SSO_MASTER_KEY", master_key),
                        ("SSO_DATA_DIR", str(tmp_path)), ("SSO_ISSUER", "https://sso.test")):
        monkeypatch.setenv(name, value)
    bg = directories["bacgiang"]
    cfg = bg.source_config()
    monkeypatch.setattr("sys.stdin", io.StringIO(ADMIN_PW + "\n"))
    assert main(["directory", "add", "bacgiang", "--url", bg.url, "--bind-dn", str(cfg["bind_dn"]),
                 "--bind-password-stdin", "--people-base", str(cfg["people_base"]),
                 "--groups-base", str(cfg["groups_base"]), "--units-base", str(cfg["units_base"])]) == 0
    assert main(["directory", "test", "bacgiang"]) == 0
    assert "ok: connected" in capsys.readouterr().out
    assert main(["directory", "sync", "bacgiang", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["created"] == 300 and dry["dry_run"] is True
    assert main(["directory", "sync", "bacgiang", "--full"]) == 0
    out = capsys.readouterr()
    assert "created 300" in out.out and "officials: 300 processed" in out.err
    assert main(["directory", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "bacgiang" and listed[0]["last_full_sync_at"]
    assert main(["worker", "--once"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert main(["directory", "sync", "nowhere"]) == 2
    assert "no directory source named 'nowhere'" in capsys.readouterr().err
    assert main(["directory", "add", "bad", "--url", "http://x", "--bind-dn", "x", "--bind-password", "p",
                 "--people-base", "dc=x"]) == 2
    assert "urls" in capsys.readouterr().err


def test_recreated_entry_never_takes_over_the_old_officials_username(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, {"bacgiang": directories["bacgiang"]})
    bg = directories["bacgiang"]
    sync(kit, "bacgiang", full=True)
    uid = sorted(set(bg.uids()) - set(directories["bacninh"].uids()))[3]
    old = official(kit, "bacgiang", uid)
    time.sleep(1.1)
    conn = bg.admin()
    dn = bg.dn_of(uid)
    assert conn.delete(dn)
    assert conn.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": "Người Khác Hẳn", "sn": "Người",
                                            "userPassword": PASSWORD})
    conn.unbind()
    refused = login(kit, f"{uid}@bacgiang")
    assert refused.status_code == 403 and ("quản trị" in refused.text or "administrator" in refused.text)
    summary = sync(kit, "bacgiang")
    assert summary.errors == 1 and "belongs to another" in summary.error_samples[0]
    kept = official(kit, "bacgiang", uid)
    assert kept.id == old.id and kept.display_name != "Người Khác Hẳn"


def test_ldaps_and_starttls_verify_the_server_certificate(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    good: list[dict[str, Any]] = [{"urls": [f"ldaps://127.0.0.1:{bg.ldaps_port}"], "ca_file": bg.ca_file},
            {"urls": [bg.url], "start_tls": True, "ca_file": bg.ca_file}]
    for over in good:
        add_sources(kit, {"bacgiang": bg}, **over)
        with kit.broker.db.session() as s:
            client = kit.broker.directories.client(s, "bacgiang")
        assert any("bound as" in line for line in client.test()), over
        uid = bg.uids()[0]
        assert client.check_password(bg.dn_of(uid), PASSWORD) is True
    # a self-signed certificate that no configured CA vouches for is refused, never silently accepted
    for over in ({"urls": [f"ldaps://127.0.0.1:{bg.ldaps_port}"]}, {"urls": [bg.url], "start_tls": True}):
        add_sources(kit, {"bacgiang": bg}, **over)
        with kit.broker.db.session() as s:
            client = kit.broker.directories.client(s, "bacgiang")
        with pytest.raises(DirectoryUnavailable):
            client.test()


def test_admin_links_two_entries_of_the_same_official(kit: Kit, directories: dict[str, Slapd]) -> None:
    from app.directory.links import link
    from app.identity.service import IdentityError

    add_sources(kit, directories)
    sync(kit, "bacgiang", full=True)
    sync(kit, "bacninh", full=True)
    shared = sorted(set(directories["bacgiang"].uids()) & set(directories["bacninh"].uids()))[0]
    keep, retire = official(kit, "bacninh", shared), official(kit, "bacgiang", shared)
    with kit.broker.db.session() as s:
        link(s, f"bacninh:{shared}", f"bacgiang:{shared}")
    with kit.broker.db.session() as s, pytest.raises(IdentityError, match="already linked"):
        link(s, f"bacninh:{shared}", f"bacgiang:{shared}")
    with kit.broker.db.session() as s, pytest.raises(IdentityError, match="SOURCE:USERNAME"):
        link(s, shared, f"bacgiang:{shared}")
    client = kit.client(first_party=True)
    flow = Flow(client)
    tokens = kit.exchange(flow, kit.login_for_code(flow, username=f"{shared}@bacgiang", password=PASSWORD)["code"])
    assert jose_sub(kit, tokens.json()) == keep.id  # one official, one sub, either way in
    again = sync(kit, "bacgiang", full=True)
    assert again.created == 0 and again.errors == 0
    assert official(kit, "bacgiang", shared).enabled is False and official(kit, "bacgiang", shared).id == retire.id
    assert any(e.kind == "leaver" and e.payload.get("merged_into") == keep.id for e in events(kit))


def change_password(kit: Kit, current: str, new: str, csrf: str | None = None) -> Any:
    token = csrf if csrf is not None else form_fields(kit.http.get("/account").text)["csrf_token"]
    return kit.http.post("/account/api/password", headers={"X-CSRF-Token": token},
                         json={"current_password": current, "new_password": new})


def test_password_change_api_for_directory_and_local_accounts(kit: Kit, directories: dict[str, Slapd]) -> None:
    add_sources(kit, directories)
    bg = directories["bacgiang"]
    uid = bg.uids()[9]
    conn = bg.admin()
    conn.modify("cn=default,ou=policies,dc=bacgiang,dc=gov,dc=vn", {"pwdMinLength": [(MODIFY_REPLACE, ["12"])],
                                                                  "pwdCheckQuality": [(MODIFY_REPLACE, ["2"])]})
    conn.unbind()
    assert login(kit, f"{uid}@bacgiang").status_code == 303
    assert change_password(kit, PASSWORD, "Mới@2026-dài-đủ", csrf="forged").status_code == 403
    wrong = change_password(kit, "not-it", "Mới@2026-dài-đủ")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_password"
    weak = change_password(kit, PASSWORD, "short1")
    assert weak.status_code == 400 and weak.json()["error"] == "policy"
    assert "directory refused" in weak.json()["message"]
    assert change_password(kit, PASSWORD, "Mới@2026-dài-đủ").json() == {"ok": True}
    kit.http.cookies.clear()
    assert login(kit, f"{uid}@bacgiang", "Mới@2026-dài-đủ").status_code == 303
    # a local account: argon2id in our own database
    kit.official("localuser", password="Local-pass-2025")
    kit.http.cookies.clear()
    assert login(kit, "localuser", "Local-pass-2025").status_code == 303
    assert change_password(kit, "Local-pass-2025", "short").json()["error"] == "policy"
    assert change_password(kit, "Local-pass-2025", "Local-pass-2026!").json() == {"ok": True}
    kit.http.cookies.clear()
    assert login(kit, "localuser", "Local-pass-2026!").status_code == 303
    anonymous = kit.http.post("/account/api/password", json={"current_password": "a", "new_password": "b"})
    assert anonymous.status_code == 403


def test_failover_to_the_next_server(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg}, urls=["ldap://127.0.0.1:9", bg.url], timeout=2)
    only_bg = sorted(set(bg.uids()) - set(directories["bacninh"].uids()))[0]
    assert login(kit, f"{only_bg}@bacgiang").status_code == 303
    summary = sync(kit, "bacgiang", full=True)
    assert summary.errors == 0 and summary.created == 299  # the first login already brought one official
    assert count(kit, select(func.count()).select_from(Official)) == 300


def test_directory_test_names_a_missing_attribute(kit: Kit, directories: dict[str, Slapd]) -> None:
    bg = directories["bacgiang"]
    mapping = {"id": "entryUUID", "username": "sAMAccountName", "display_name": "cn", "changed": "modifyTimestamp",
               "person_filter": "(objectClass=inetOrgPerson)", "group_filter": "(objectClass=groupOfNames)"}
    add_sources(kit, {"bacgiang": bg}, attributes=mapping)
    with kit.broker.db.session() as s:
        client = kit.broker.directories.client(s, "bacgiang")
    with pytest.raises(DirectoryUnavailable, match="attribute sAMAccountName is absent"):
        client.test()


def test_helpdesk_reset_writes_the_password_to_the_directory(kit: Kit, directories: dict[str, Slapd]) -> None:
    from tests.kit import form_fields

    add_sources(kit, directories)
    only_bn = sorted(set(directories["bacninh"].uids()) - set(directories["bacgiang"].uids()))[0]
    sync(kit, "bacninh", full=True)
    target = official(kit, "bacninh", only_bn)
    with kit.broker.db.session() as s:
        link = kit.broker.recovery.issue(s, target.id, "reset", "helpdesk")
    directories["bacninh"].dirty = True  # the entry's password changes: reload the directory after this test
    page = kit.http.get(f"/reset/{link}")
    new = "Mới-2026-an-toàn"
    done = kit.http.post(f"/reset/{link}", data={**form_fields(page.text), "new_password": new,
                                                  "new_password2": new})
    assert done.status_code == 200, done.text[:400]
    # The directory itself now takes the new password, and no longer the old one.
    kit.http.cookies.clear()
    assert login(kit, f"{only_bn}@bacninh", PASSWORD).status_code == 401
    assert login(kit, f"{only_bn}@bacninh", new).status_code == 303


def test_a_settled_second_is_not_read_again(kit: Kit, directories: dict[str, Slapd],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline load stamped every entry with one second: once that second is over (by the directory's
    clock too), incremental passes stop reading its entries, while a change made later is still seen."""
    import app.directory.sync as directory_sync

    bg = directories["bacgiang"]
    add_sources(kit, {"bacgiang": bg})
    # The load's second counts as not over (as right after a bulk load), however long ago this worker loaded it.
    monkeypatch.setattr(directory_sync, "CLOCK_MARGIN", 10**9)
    sync(kit, "bacgiang", full=True)
    first = sync(kit, "bacgiang")
    assert first.unchanged > 100, first  # the cursor's second was not over when the full sync began
    monkeypatch.setattr(directory_sync, "CLOCK_MARGIN", 0)  # our clock and slapd's are the same here
    time.sleep(1.1)
    sync(kit, "bacgiang")
    quiet = sync(kit, "bacgiang")
    assert quiet.unchanged == 0 and quiet.updated == 0, quiet
    conn = bg.admin()
    conn.modify(bg.dn_of(bg.uids()[3]), {"title": [(MODIFY_REPLACE, ["Chuyên viên chính"])]})
    conn.unbind()
    changed = sync(kit, "bacgiang")
    assert changed.moved + changed.updated == 1 and changed.unchanged == 0, changed
