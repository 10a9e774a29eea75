"""`sso-broker user`: officials of the embedded directory, and the helpdesk's reset link and MFA reset."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from app.cli.common import CliError, emit, issuer_known, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def cmd_user_reset_link(args: argparse.Namespace) -> None:

    from app.cli.governance import official_named

    broker = open_broker()
    if not issuer_known(broker):
        raise CliError("the server's address is not known yet: set SSO_ISSUER, or start the server once "
                       "(sso-broker serve) so that it is stored")
    with broker.db.session() as s:
        official = official_named(s, broker, args.username)
        link = broker.recovery.helpdesk_link(s, official, args.issued_by, os_actor())
    print(f"{link}\n(works once, for {broker.settings.reset_link_ttl // 60} minutes; "
          "give it to the official in person or by phone)")


def cmd_user_mfa_reset(args: argparse.Namespace) -> None:
    from app.audit.trail import record
    from app.cli.governance import official_named

    broker = open_broker()
    with broker.db.session() as s:
        official = official_named(s, broker, args.username)
        broker.factors.reset_all(s, official.id)
        record(s, "mfa.reset_by_helpdesk", os_actor(), unit_id=official.unit_id, target=official.id)
    print(f"every second factor of {args.username} removed; they set up a new one at their next login")


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password:
        return str(args.password)
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise CliError("the two passwords differ")
        return first
    return None


def cmd_user_add(args: argparse.Namespace) -> None:
    from app.audit.trail import record
    from app.identity.service import NewOfficial, add_official

    password = _read_password(args)
    if password is not None and len(password) < 8:
        raise CliError("password: at least 8 characters")
    broker = open_broker()
    with broker.db.session() as s:
        official = add_official(s, NewOfficial(
            username=args.username, display_name=args.name, password=password, email=args.email,
            phone=args.phone, title=args.title, unit_code=args.unit, given_name=args.given_name or "",
            family_name=args.family_name or "", groups=tuple(args.group or ())))
        data = {"sub": official.id, "username": official.username, "name": official.display_name,
                "email": official.email, "unit": args.unit}
        record(s, "official.created", os_actor(), unit_id=official.unit_id, target=official.id,
               details={"username": official.username})
    emit(args, data, f"official {data['username']} added (sub {data['sub']})")


def cmd_user_list(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.identity.models import Official, Unit

    broker = open_broker()
    with broker.db.session() as s:
        rows = s.execute(select(Official, Unit.code).outerjoin(Unit, Unit.id == Official.unit_id)
                         .order_by(Official.username)).all()
        data = [{"sub": o.id, "username": o.username, "name": o.display_name, "email": o.email,
                 "unit": code, "enabled": o.enabled} for o, code in rows]
    lines = [f"{d['username']:<20} {d['name']:<28} {d['unit'] or '-':<16} "
             f"{'enabled' if d['enabled'] else 'DISABLED'}" for d in data]
    emit(args, data, "\n".join(lines) or "no officials")


def cmd_user_disable(args: argparse.Namespace) -> None:
    from app.cli.governance import admin_operator, official_named

    broker = open_broker()
    with broker.db.session() as s:
        # The same change as the admin API's: sessions ended, tokens revoked, a leaver event, audited.
        official = admin_operator(s).set_enabled(official_named(s, broker, args.username).id, False)
        name = official.username
    print(f"official {name} disabled: sessions ended, tokens revoked")


def register(sub: Any, add: Add) -> None:
    user = sub.add_parser("user", help="officials in the embedded local directory").add_subparsers(
        dest="action", required=True)
    p = add(user, "add", cmd_user_add, "add an official", json_flag=True)
    p.add_argument("username")
    p.add_argument("--name", required=True, help="full name, e.g. 'Nguyễn Đình Hiếu'")
    p.add_argument("--given-name")
    p.add_argument("--family-name")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--title")
    p.add_argument("--unit", help="unit code")
    p.add_argument("--group", action="append")
    p.add_argument("--password")
    p.add_argument("--password-stdin", action="store_true")
    add(user, "list", cmd_user_list, "list officials", json_flag=True)
    p = add(user, "disable", cmd_user_disable, "disable an official: ends sessions, revokes tokens")
    p.add_argument("username")
    p = add(user, "reset-link", cmd_user_reset_link, "helpdesk: a one-time password reset link for an official")
    p.add_argument("username", help="login name; name@DIRECTORY for a directory account")
    p.add_argument("--issued-by", default="helpdesk", help="who asked for it (kept with the link)")
    p = add(user, "mfa-reset", cmd_user_mfa_reset, "helpdesk: remove every second factor of an official")
    p.add_argument("username", help="login name; name@DIRECTORY for a directory account")
