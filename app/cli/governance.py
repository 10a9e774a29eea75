"""Commands that govern an installation from the server: admin roles, target systems, directory removal and
client changes. They go through the same services as the admin API, as the operator (every unit), and are
audited with the operator's OS account as the actor."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.admin.operations import Admin
    from app.broker import Broker
    from app.identity.models import Official, Unit
    from app.provisioning.models import ConnectorInstance

from app.cli.common import CliError, emit, open_broker, os_actor, provisioning

Add = Callable[..., argparse.ArgumentParser]


# --- shared --------------------------------------------------------------------------------------------
def admin_operator(s: Session) -> Admin:
    from app.admin.operations import Admin
    from app.admin.scope import AdminScope

    return Admin(s, AdminScope.operator(s), os_actor())


def _systems(made: Broker, s: Session) -> Any:
    from app.admin.scope import AdminScope
    from app.admin.systems import Systems

    return Systems(s, AdminScope.operator(s), os_actor(), made.clients, provisioning(made))


def official_named(s: Session, made: Broker, name: str) -> Official:
    from app.identity.service import find_by_login_name

    official = find_by_login_name(s, name, made.directories.names(s))
    if official is None:
        raise CliError(f"no single official is called {name!r}; for a directory account write name@DIRECTORY")
    return official


def unit_coded(s: Session, code: str) -> Unit:
    from sqlalchemy import select

    from app.identity.models import Unit

    unit = s.scalars(select(Unit).where(Unit.code == code)).one_or_none()
    if unit is None:
        raise CliError(f"no unit with code {code!r} (sso-broker admin units lists them)")
    return unit


def read_document(path: str) -> dict[str, Any]:
    """A TOML or JSON file (by its suffix; '-' reads JSON from stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise CliError(f"{path}: not valid {'TOML' if path.endswith('.toml') else 'JSON'}: {exc}") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path}: expected a table of settings")
    return data


def _refusals(work: Callable[[], Any]) -> Any:
    from app.admin.errors import AdminError
    from app.admin.scope import Forbidden

    try:
        return work()
    except AdminError as exc:
        raise CliError(exc.message) from exc
    except Forbidden as exc:
        raise CliError(f"not allowed: {exc}") from exc


# --- admin roles ---------------------------------------------------------------------------------------
def cmd_admin_grant(args: argparse.Namespace) -> None:
    made = open_broker()
    with made.db.session() as s:
        official, unit = official_named(s, made, args.official), unit_coded(s, args.unit)
        grant = _refusals(lambda: admin_operator(s).grant(official.id, args.role, unit.id))
        data = {"id": grant.id, "official": args.official, "role": grant.role, "unit": args.unit}
    emit(args, data, f"{args.official} is now {args.role} of {args.unit} (and everything under it)")


def cmd_admin_list(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.admin.models import RoleGrant
    from app.identity.models import Official, Unit

    made = open_broker()
    with made.db.session() as s:
        rows = s.execute(select(RoleGrant, Official.username, Official.source, Unit.code)
                         .join(Official, Official.id == RoleGrant.official_id)
                         .join(Unit, Unit.id == RoleGrant.unit_id).order_by(Unit.code, Official.username)).all()
        data = [{"id": g.id, "official": name if source == "local" else f"{name}@{source}", "role": g.role,
                 "unit": code, "granted_by": g.granted_by} for g, name, source, code in rows]
    emit(args, data, "\n".join(f"{d['official']:<24} {d['role']:<16} {d['unit']}" for d in data)
         or "no admin roles granted yet: sso-broker admin grant OFFICIAL --role province_admin --unit CODE")


def cmd_admin_revoke(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.admin.models import RoleGrant

    made = open_broker()
    with made.db.session() as s:
        official, unit = official_named(s, made, args.official), unit_coded(s, args.unit)
        grant = s.scalars(select(RoleGrant).where(RoleGrant.official_id == official.id, RoleGrant.role == args.role,
                                                  RoleGrant.unit_id == unit.id)).first()
        if grant is None:
            raise CliError(f"{args.official} does not hold {args.role} of {args.unit}")
        _refusals(lambda: admin_operator(s).revoke(grant.id))
    print(f"{args.official} is no longer {args.role} of {args.unit}")


def cmd_admin_units(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.identity.models import Unit

    made = open_broker()
    with made.db.session() as s:
        data = [{"code": u.code, "name": u.name, "kind": u.kind, "parent_id": u.parent_id}
                for u in s.scalars(select(Unit).where(Unit.dissolved_at.is_(None)).order_by(Unit.code))]
    emit(args, data, "\n".join(f"{d['code']:<32} {d['name']}" for d in data) or "no units yet")


# --- target systems ------------------------------------------------------------------------------------
def _rules(args: argparse.Namespace, current: dict[str, Any] | None) -> dict[str, Any]:
    given = {"unit_codes": args.unit, "groups": args.group, "titles": args.title, "officials": args.official}
    if args.all:
        return {"all": True}
    chosen = {k: v for k, v in given.items() if v}
    if chosen:
        return chosen
    if current is not None:
        return current
    raise CliError("say who gets an account: --all, or --unit CODE, --group NAME, --title TITLE, --official NAME")


def _secrets(args: argparse.Namespace) -> dict[str, str]:
    """Secret fields from stdin (--secret FIELD, one line each, in order) or the environment (FIELD=VAR)."""
    values: dict[str, str] = {}
    for name in args.secret or []:
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise CliError(f"--secret {name}: no value on standard input")
        values[name] = line
    for pair in args.secret_env or []:
        name, eq, var = pair.partition("=")
        if not eq or var not in os.environ:
            raise CliError(f"--secret-env {pair}: write FIELD=VARIABLE, with VARIABLE set in the environment")
        values[name] = os.environ[var]
    return values


def _mapping(args: argparse.Namespace, current: dict[str, str] | None) -> dict[str, str]:
    if not args.map:
        return current or {}
    pairs = [m.partition("=") for m in args.map]
    if any(not eq for _, eq, _ in pairs):
        raise CliError("--map: write ATTRIBUTE=TEMPLATE, e.g. full_name={display_name}")
    return {attr: template for attr, _, template in pairs}


def _save_connector(args: argparse.Namespace, adding: bool) -> None:
    from app.provisioning.models import ConnectorInstance
    from app.provisioning.registry import kinds

    made = open_broker()
    with made.db.session() as s:
        existing = s.get(ConnectorInstance, args.name)
        if adding and existing is not None:
            raise CliError(f"a connector named {args.name!r} exists: change it with `connectors set`")
        if not adding and existing is None:
            raise CliError(f"no connector named {args.name!r}: add it with `connectors add`")
        current = json.loads(made.box.open(existing.config_sealed)) if existing else {}
        config = {**current, **(read_document(args.config) if args.config else {}), **_secrets(args)}
        kind = args.kind or (existing.kind if existing else None)
        if kind not in kinds():  # checked here, not by the parser: listing the kinds loads every connector
            raise CliError("--kind: which connector, one of " + ", ".join(sorted(kinds())))
        retention = args.retention_days if args.retention_days is not None else (
            existing.retention_days if existing else None)
        _refusals(lambda: _systems(made, s).save_connector(
            args.name, kind, config, _rules(args, existing.rules if existing else None),
            _mapping(args, existing.mapping if existing else None), retention))
        row = s.get(ConnectorInstance, args.name)
        assert row is not None
        if args.disable or args.enable:
            row.enabled = bool(args.enable)
        data = _describe(row, config)
    emit(args, data, f"connector {args.name} ({kind}) saved; `sso-broker connectors test {args.name}` checks it")


def _describe(row: ConnectorInstance, config: dict[str, Any]) -> dict[str, Any]:
    from app.provisioning.registry import masked_config

    return {"name": row.name, "kind": row.kind, "enabled": row.enabled, "rules": row.rules, "mapping": row.mapping,
            "retention_days": row.retention_days, "config": masked_config(row.kind, config)}


def cmd_connectors_add(args: argparse.Namespace) -> None:
    _save_connector(args, adding=True)


def cmd_connectors_set(args: argparse.Namespace) -> None:
    _save_connector(args, adding=False)


def connector_named(s: Session, name: str) -> ConnectorInstance:
    from app.provisioning.models import ConnectorInstance

    row = s.get(ConnectorInstance, name)
    if row is None:
        raise CliError(f"no connector named {name!r}")
    return row


def cmd_connectors_show(args: argparse.Namespace) -> None:
    made = open_broker()
    with made.db.session() as s:
        row = connector_named(s, args.name)
        data = _describe(row, json.loads(made.box.open(row.config_sealed)))
    emit(args, data, json.dumps(data, ensure_ascii=False, indent=2))


def cmd_connectors_remove(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.audit.trail import record
    from app.provisioning.models import AccountLink

    made = open_broker()
    with made.db.session() as s:
        row = connector_named(s, args.name)
        accounts = len(s.scalars(select(AccountLink.official_id).where(AccountLink.connector == args.name)).all())
        if accounts and not args.yes:
            raise CliError(f"{args.name} holds {accounts} accounts; the broker forgets them (they stay in the "
                           "target as they are): add --yes")
        s.delete(row)
        record(s, "connector.removed", os_actor(), target=args.name, details={"accounts_forgotten": accounts})
    print(f"connector {args.name} removed ({accounts} account links forgotten; nothing changed in the target)")


# --- directories and clients ---------------------------------------------------------------------------
def cmd_directory_remove(args: argparse.Namespace) -> None:
    from app.audit.trail import record

    made = open_broker()
    with made.db.session() as s:
        leaving = made.directories.officials_of(s, args.name)
        if leaving and not args.yes:
            raise CliError(f"{leaving} officials log in through {args.name}: removing it makes them leavers "
                           "(sessions end, accounts disabled everywhere); add --yes")
        try:
            left = made.directories.remove(s, args.name)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        record(s, "directory.removed", os_actor(), target=args.name, details={"officials_left": left})
    print(f"directory source {args.name} removed; {left} officials left with it")


def cmd_client_update(args: argparse.Namespace) -> None:
    made = open_broker()
    with made.db.session() as s:
        patch: dict[str, Any] = {}
        for field in ("name", "launch_url", "connector", "backchannel_logout_uri"):
            if getattr(args, field) is not None:
                patch[field] = getattr(args, field) or None
        if args.redirect_uri:
            patch["redirect_uris"] = args.redirect_uri
        if args.post_logout_redirect_uri:
            patch["post_logout_redirect_uris"] = args.post_logout_redirect_uri
        if args.scope is not None:
            patch["scopes"] = args.scope.split()
        if args.require_mfa is not None:
            patch["require_mfa"] = args.require_mfa
        if args.scim_unit is not None:
            patch["scim_unit_id"] = unit_coded(s, args.scim_unit).id if args.scim_unit else None
        if not patch:
            raise CliError("nothing to change: give --redirect-uri, --scope, --scim-unit, --name, …")
        systems = _systems(made, s)
        row = _refusals(lambda: systems.update_client(args.client_id, f'"{systems.client(args.client_id).version}"',
                                                      patch))
        data = {"client_id": row.client_id, "changed": sorted(patch)}
    emit(args, data, f"client {args.client_id} updated: {', '.join(sorted(patch))}")


def register(sub: Any, add: Add, groups: dict[str, Any]) -> None:
    admin = sub.add_parser("admin", help="who administers what (roles over units)").add_subparsers(
        dest="action", required=True)
    for name, func, help_ in (("grant", cmd_admin_grant, "give an official an admin role over a unit's subtree"),
                              ("revoke", cmd_admin_revoke, "take an admin role back")):
        p = add(admin, name, func, help_, json_flag=True)
        p.add_argument("official", help="login name; name@DIRECTORY for a directory account")
        p.add_argument("--role", required=True, choices=["province_admin", "unit_admin", "helpdesk", "auditor"])
        p.add_argument("--unit", required=True, help="unit code")
    add(admin, "list", cmd_admin_list, "every role granted", json_flag=True)
    add(admin, "units", cmd_admin_units, "unit codes and names", json_flag=True)

    connectors = groups["connectors"]
    for name, func, help_ in (("add", cmd_connectors_add, "configure a new target system"),
                              ("set", cmd_connectors_set, "change a target system (what is not given stays)")):
        p = add(connectors, name, func, help_, json_flag=True)
        p.add_argument("name")
        p.add_argument("--kind", required=name == "add", help="scim, ldap, sql, rest, zimbra, dovecot, or a plugin's")
        p.add_argument("--config", help="the connector's settings, a TOML or JSON file (no secrets in it)")
        p.add_argument("--secret", action="append", metavar="FIELD", help="a secret field, read from stdin")
        p.add_argument("--secret-env", action="append", metavar="FIELD=VAR", help="a secret field from $VAR")
        p.add_argument("--all", action="store_true", help="every official gets an account")
        p.add_argument("--unit", action="append", metavar="CODE", help="officials of this unit's subtree")
        p.add_argument("--group", action="append", metavar="NAME")
        p.add_argument("--title", action="append")
        p.add_argument("--official", action="append", metavar="USERNAME", help="assigned by hand")
        p.add_argument("--map", action="append", metavar="ATTR=TEMPLATE", help="e.g. full_name={display_name}")
        p.add_argument("--retention-days", type=int, help="delete leavers' disabled accounts after this many days")
        p.add_argument("--enable", action="store_true")
        p.add_argument("--disable", action="store_true", help="stop provisioning to it (nothing is deleted)")
    p = add(connectors, "show", cmd_connectors_show, "a target system's settings (secrets masked)", json_flag=True)
    p.add_argument("name")
    p = add(connectors, "remove", cmd_connectors_remove, "forget a target system (the target is not touched)")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    p = add(groups["directory"], "remove", cmd_directory_remove,
            "remove a directory source; its officials become leavers")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    p = add(groups["client"], "update", cmd_client_update, "change a client (what is not given stays)",
            json_flag=True)
    p.add_argument("client_id")
    p.add_argument("--name")
    p.add_argument("--redirect-uri", action="append", help="the complete new list (repeatable)")
    p.add_argument("--post-logout-redirect-uri", action="append")
    p.add_argument("--scope", help="allowed scopes, space-separated")
    p.add_argument("--scim-unit", help="unit code whose subtree a SCIM client manages ('' for none)")
    p.add_argument("--launch-url")
    p.add_argument("--connector")
    p.add_argument("--backchannel-logout-uri")
    p.add_argument("--require-mfa", action=argparse.BooleanOptionalAction, default=None)
