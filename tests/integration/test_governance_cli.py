"""Governing an installation from the server's command line (issue #11 §1): admin roles, target systems,
client changes, and the declarative configuration file (plan, apply, export), on both databases."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.identity.service import NewOfficial, add_official, ensure_unit
from tests.kit import Kit


@pytest.fixture
def cli(kit: Kit, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    for name, value in (("SSO_DATABASE_URL", kit.settings.database_url), ("SSO_MASTER_KEY", kit.settings.master_key),
                        ("SSO_DATA_DIR", str(kit.settings.data_dir)), ("SSO_ISSUER", kit.settings.issuer)):
        monkeypatch.setenv(name, value)
    with kit.broker.db.session() as s:  # a province as `sso-broker user add` leaves it (units first)
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        ensure_unit(s, "xa-a", "Xã Hiệp Hòa", "bac-ninh", "commune")
        add_official(s, NewOfficial("hieund", "Nguyễn Đình Hiếu", None, unit_code="xa-a"))

    def run(*argv: str, stdin: str = "", status: int = 0) -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        assert main(list(argv)) == status, capsys.readouterr()
        out = capsys.readouterr()
        if status:
            assert out.err.startswith("error: ") and out.err.count("\n") == 1 and "Traceback" not in out.err
            return out.err
        return out.out
    return run


def audit_actions(kit: Kit) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from app.audit.models import AuditEvent

    with kit.broker.db.session() as s:
        return [(e.action, e.actor) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_first_admin_and_roles(kit: Kit, cli: Any) -> None:
    assert "no admin roles" in cli("admin", "list")
    cli("admin", "grant", "hieund", "--role", "province_admin", "--unit", "bac-ninh")
    cli("admin", "grant", "hieund", "--role", "province_admin", "--unit", "bac-ninh")  # idempotent
    assert [(g["official"], g["role"], g["unit"]) for g in json.loads(cli("admin", "list", "--json"))] == [
        ("hieund", "province_admin", "bac-ninh")]
    assert "no unit with code" in cli("admin", "grant", "hieund", "--role", "helpdesk", "--unit", "nowhere", status=2)
    assert "no single official" in cli("admin", "grant", "nobody", "--role", "helpdesk", "--unit", "xa-a", status=2)
    cli("admin", "revoke", "hieund", "--role", "province_admin", "--unit", "bac-ninh")
    assert "no admin roles" in cli("admin", "list")
    actions = audit_actions(kit)
    assert ("role.granted", actions[0][1]) in actions and actions[0][1].startswith("cli:")
    assert any(a == "role.revoked" for a, _ in actions)


def test_connectors_from_the_command_line(kit: Kit, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "legacy.toml"
    config.write_text('table = "nguoi_dung"\nkey_column = "ten_dang_nhap"\n')
    cli("connectors", "add", "van-ban", "--kind", "sql_table", "--config", str(config), "--secret", "url",
        "--unit", "xa-a", "--map", "full_name={display_name}", stdin="sqlite:///" + str(tmp_path / "t.db") + "\n")
    shown = json.loads(cli("connectors", "show", "van-ban", "--json"))
    assert shown["config"]["url"] == "********" and shown["config"]["table"] == "nguoi_dung"
    assert shown["rules"] == {"unit_codes": ["xa-a"]} and shown["mapping"] == {"full_name": "{display_name}"}
    monkeypatch.setenv("LEGACY_URL", "sqlite:///" + str(tmp_path / "other.db"))
    cli("connectors", "set", "van-ban", "--secret-env", "url=LEGACY_URL", "--all")
    shown = json.loads(cli("connectors", "show", "van-ban", "--json"))
    assert shown["rules"] == {"all": True} and shown["config"]["table"] == "nguoi_dung"  # the rest stayed
    with kit.broker.db.session() as s:
        from app.provisioning.models import ConnectorInstance

        sealed = s.get(ConnectorInstance, "van-ban").config_sealed  # type: ignore[union-attr]
    assert "other.db" not in sealed and "nguoi_dung" not in sealed  # sealed at rest
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({"url": "sqlite://", "table": "app_users; DROP TABLE canary", "key_column": "k"}))
    err = cli("connectors", "add", "x", "--kind", "sql_table", "--config", str(hostile), "--all", status=2)
    assert "not a table or column name" in err
    mysql = tmp_path / "mysql.json"
    mysql.write_text(json.dumps({"url": "mysql+pymysql://root@127.0.0.1:3306/test", "table": "t", "key_column": "k"}))
    cli("connectors", "add", "mariadb", "--kind", "sql_table", "--config", str(mysql), "--all")  # driver shipped
    assert "table t does not exist" in cli("connectors", "test", "mariadb", status=2)  # a real MariaDB answered
    assert "exists" in cli("connectors", "add", "mariadb", "--kind", "scim", "--config", str(mysql), "--all",
                            status=2)
    cli("connectors", "remove", "mariadb")
    assert "no connector" in cli("connectors", "show", "mariadb", status=2)


def test_client_update_and_scim_unit(kit: Kit, cli: Any) -> None:
    cli("client", "add", "nhan-su", "--grant-type", "client_credentials", "--scope", "scim", "--scim-unit", "xa-a")
    assert json.loads(cli("client", "list", "--json"))[0]["client_id"] == "nhan-su"
    with kit.broker.db.session() as s:
        from app.store.models import Client

        assert s.get(Client, "nhan-su").scim_unit_id is not None  # type: ignore[union-attr]
    cli("client", "add", "docs", "--redirect-uri", "https://docs.example.gov.vn/cb")
    cli("client", "update", "docs", "--redirect-uri", "https://docs.example.gov.vn/new", "--scope", "openid profile")
    with kit.broker.db.session() as s:
        row = s.get(Client, "docs")
        assert row is not None and row.redirect_uris == ["https://docs.example.gov.vn/new"]
        assert row.scopes == ["openid", "profile"]
    assert "wildcard" in cli("client", "update", "docs", "--redirect-uri", "https://*.example.gov.vn/cb", status=2)


PROVINCE = """
[installation]
mfa_required_units = ["xa-a"]

[clients.docs]
name = "Quản lý văn bản"
redirect_uris = ["https://docs.example.gov.vn/cb"]
first_party = true

[connectors.van-ban]
kind = "sql_table"
rules = { unit_codes = ["xa-a"] }
mapping = { full_name = "{display_name}" }
config = { url = "env:VAN_BAN_URL", table = "nguoi_dung", key_column = "ten_dang_nhap" }

[[roles]]
official = "hieund"
role = "unit_admin"
unit = "xa-a"
"""


def test_declarative_configuration(kit: Kit, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAN_BAN_URL", "sqlite:///" + str(tmp_path / "t.db"))
    cli("client", "add", "stray", "--redirect-uri", "https://stray.example.gov.vn/cb")
    province = tmp_path / "province.toml"
    province.write_text(PROVINCE)
    plan = cli("config", "plan", "-f", str(province))
    assert "+ clients.docs" in plan and "+ connectors.van-ban" in plan and "+ roles.hieund:unit_admin@xa-a" in plan
    assert "~ installation.mfa_required_units" in plan and "? clients.stray not in the file" in plan
    assert json.loads(cli("client", "list", "--json"))[0]["client_id"] == "stray"  # the plan changed nothing
    applied = cli("config", "apply", "-f", str(province))
    assert "client_secret of docs:" in applied
    assert "no changes" in cli("config", "plan", "-f", str(province))  # idempotent
    assert "no changes" in cli("config", "apply", "-f", str(province))
    exported = tmp_path / "exported.toml"
    cli("config", "export", "-o", str(exported))
    text = exported.read_text()
    assert "env:SSO_SECRET_CONNECTOR_VAN_BAN_URL" in text and str(tmp_path) not in text  # secrets as references
    monkeypatch.setenv("SSO_SECRET_CONNECTOR_VAN_BAN_URL", "sqlite:///" + str(tmp_path / "t.db"))
    plan_of_export = cli("config", "plan", "-f", str(exported))
    assert "no changes" in plan_of_export, plan_of_export  # the export is the running configuration
    province.write_text(PROVINCE.replace('first_party = true', 'first_party = false'))
    assert "~ clients.docs (first_party)" in cli("config", "plan", "-f", str(province))
    assert "- clients.stray" in cli("config", "apply", "-f", str(province), "--prune")
    assert [c["client_id"] for c in json.loads(cli("client", "list", "--json"))] == ["docs"]
    broken = tmp_path / "broken.toml"
    broken.write_text(PROVINCE.replace('unit = "xa-a"', 'unit = "nowhere"') + "\n[clients.more]\n"
                      'redirect_uris = ["https://more.example.gov.vn/cb"]\n')
    err = cli("config", "apply", "-f", str(broken), status=2)
    assert "nothing applied" in err and "roles[0].unit" in err
    assert "more" not in [c["client_id"] for c in json.loads(cli("client", "list", "--json"))]  # one transaction
    assert "unknown section" in cli("config", "plan", "-f", str(_write(tmp_path, "[typo]\nx = 1\n")), status=2)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "other.toml"
    path.write_text(text)
    return path


def test_user_commands_are_audited_and_a_closed_pipe_is_quiet(kit: Kit, cli: Any) -> None:
    import subprocess
    import sys

    cli("user", "add", "maitt", "--name", "Trần Thị Mai", "--unit", "xa-a", "--password", "Mat-khau-2026")
    cli("user", "mfa-reset", "maitt")
    cli("user", "reset-link", "maitt")
    actions = [a for a, _ in audit_actions(kit)]
    assert {"official.created", "mfa.reset_by_helpdesk", "credentials.reset_link"} <= set(actions)
    shell = subprocess.run(f"{sys.executable} -m app.cli user list | head -1", shell=True, capture_output=True,
                           text=True, timeout=60)
    assert shell.returncode == 0 and "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr


def test_removing_a_directory_makes_its_officials_leavers(kit: Kit, cli: Any, directories: dict[str, Any]) -> None:
    from sqlalchemy import func, select

    from app.identity.models import Official, ProvisioningEvent

    bn = directories["bacninh"]
    source = bn.source_config()
    cli("directory", "add", "bacninh", "--url", source["urls"][0], "--bind-dn", source["bind_dn"],
        "--bind-password-stdin", "--people-base", source["people_base"], stdin="admin-secret\n")
    cli("directory", "sync", "bacninh", "--full")
    assert "add --yes" in cli("directory", "remove", "bacninh", status=2)
    assert f"{len(bn.uids())} officials left" in cli("directory", "remove", "bacninh", "--yes")
    with kit.broker.db.session() as s:
        still = s.scalar(select(func.count()).select_from(Official).where(Official.source == "bacninh",
                                                                          Official.enabled.is_(True)))
        leavers = s.scalar(select(func.count()).select_from(ProvisioningEvent)
                           .where(ProvisioningEvent.kind == "leaver"))
    assert still == 0 and leavers == len(bn.uids())
    assert "no directory source" in cli("directory", "test", "bacninh", status=2)


def test_the_files_mfa_policy_applies_to_logins(kit: Kit, cli: Any, tmp_path: Path) -> None:
    from tests.kit import form_fields

    cli("user", "add", "maitt", "--name", "Trần Thị Mai", "--unit", "xa-a", "--password", "Mat-khau-2026")
    province = _write(tmp_path, '[installation]\nmfa_required_units = ["xa-a"]\n')

    def login() -> Any:
        page = kit.http.get("/login")
        return kit.http.post("/login", data={**form_fields(page.text), "username": "maitt",
                                             "password": "Mat-khau-2026"})

    assert login().headers["location"] == "/account"  # no policy yet: the password is enough
    cli("config", "apply", "-f", str(province))
    assert login().headers["location"].startswith("/login/mfa?c=")  # the commune's officials now need a factor
