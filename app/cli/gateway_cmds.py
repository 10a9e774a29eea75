"""`sso-broker gateway`: applications behind a reverse proxy that asks the broker (forward auth)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from app.cli.common import emit, name_pairs, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def cmd_gateway_add(args: argparse.Namespace) -> None:
    from app.applications.gateway_apps import GatewayRegistry, describe
    from app.audit.trail import record
    from app.gateway.apps import DEFAULT_HEADERS, GatewayAppInfo

    app = GatewayAppInfo(id=args.id, name=args.name or args.id, prefix=args.prefix,
                         headers=tuple(name_pairs(args.header or [])) or DEFAULT_HEADERS,
                         require_mfa=args.require_mfa, allowed_units=tuple(args.unit or ()),
                         allowed_groups=tuple(args.group or ()))
    broker = open_broker()
    with broker.db.session() as s:
        row = GatewayRegistry(broker.gateway_apps).add(s, app, args.launch_url, replace=args.replace)
        record(s, "gateway_app.registered", os_actor(), target=row.id, details={"prefix": row.prefix})
        data = describe(row)
    emit(args, data, f"gateway application {data['id']} registered for {data['prefix']}\n"
                     f"proxy: auth URL {broker.issuer}/gateway/verify, sign-in {broker.issuer}/gateway/start, "
                     f"and /.sso-broker/ on the app's host to {broker.issuer}/gateway/")


def cmd_gateway_list(args: argparse.Namespace) -> None:
    from app.applications.gateway_apps import GatewayRegistry, describe

    broker = open_broker()
    with broker.db.session() as s:
        rows = [describe(r) for r in GatewayRegistry.list(s)]
    emit(args, rows, "\n".join(f"{r['id']:<24} {r['prefix']}" for r in rows) or "no gateway applications")


def cmd_gateway_remove(args: argparse.Namespace) -> None:
    from app.applications.gateway_apps import GatewayRegistry
    from app.audit.trail import record

    broker = open_broker()
    with broker.db.session() as s:
        GatewayRegistry(broker.gateway_apps).remove(s, args.id)
        record(s, "gateway_app.removed", os_actor(), target=args.id)
    print(f"gateway application {args.id} removed")


def register(sub: Any, add: Add) -> Any:
    group = sub.add_parser("gateway", help="applications behind the forward-auth gateway").add_subparsers(
        dest="action", required=True)
    p = add(group, "add", cmd_gateway_add, "register an application behind a reverse proxy", json_flag=True)
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--prefix", required=True, help="the application's address, e.g. https://hop.bacninh.gov.vn/")
    p.add_argument("--header", action="append", metavar="NAME=ATTRIBUTE",
                   help="a header to send (default: X-Remote-User, -Name, -Email, -Unit, -Groups)")
    p.add_argument("--require-mfa", action="store_true")
    p.add_argument("--unit", action="append", help="a unit code whose officials (and its subunits') may use it")
    p.add_argument("--group", action="append", help="a group whose members may use it")
    p.add_argument("--launch-url")
    p.add_argument("--replace", action="store_true")
    add(group, "list", cmd_gateway_list, "list gateway applications", json_flag=True)
    p = add(group, "remove", cmd_gateway_remove, "remove a gateway application")
    p.add_argument("id")
    return group
