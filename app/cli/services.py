"""`sso-broker services`: CAS services (register, list, remove, import Apereo CAS JSON definitions)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.common import CliError, emit, name_pairs, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def cmd_services_add(args: argparse.Namespace) -> None:
    from app.applications.cas_services import CasServiceRegistry, describe
    from app.audit.trail import record
    from app.cas.services import PATTERN, PREFIX, ServiceInfo, attribute_named

    if bool(args.prefix) == bool(args.pattern):
        raise CliError("give the service's URLs either as --prefix URL or as --pattern REGEX")
    service = ServiceInfo(
        id=args.id, name=args.name or args.id, match=PREFIX if args.prefix else PATTERN,
        pattern=args.prefix or args.pattern,
        release=tuple((n, attribute_named(o)) for n, o in name_pairs(args.attribute or [])),
        allow_proxy=args.allow_proxy,
        proxy_pattern=args.proxy_pattern, logout_url=args.logout_url, single_logout=not args.no_single_logout,
        require_mfa=args.require_mfa, allowed_units=tuple(args.unit or ()), allowed_groups=tuple(args.group or ()),
        evaluation_order=args.order)
    broker = open_broker()
    with broker.db.session() as s:
        row = CasServiceRegistry(broker.cas_services).add(s, service, args.launch_url, replace=args.replace)
        record(s, "cas_service.registered", os_actor(), target=row.id, details={"pattern": row.pattern})
        data = describe(row)
    emit(args, data, f"CAS service {data['id']} registered for {data['pattern']}\n"
                     f"CAS server URL for its client: {broker.issuer}/cas")


def cmd_services_list(args: argparse.Namespace) -> None:
    from app.applications.cas_services import CasServiceRegistry, describe

    broker = open_broker()
    with broker.db.session() as s:
        rows = [describe(r) for r in CasServiceRegistry.list(s)]
    lines = [f"{r['id']:<24} {r['match']:<7} {r['pattern']}  [{', '.join(r['attributes']) or 'no attributes'}]"
             for r in rows]
    emit(args, rows, "\n".join(lines) or "no CAS services registered")


def cmd_services_remove(args: argparse.Namespace) -> None:
    from app.applications.cas_services import CasServiceRegistry
    from app.audit.trail import record

    broker = open_broker()
    with broker.db.session() as s:
        CasServiceRegistry(broker.cas_services).remove(s, args.id)
        record(s, "cas_service.removed", os_actor(), target=args.id)
    print(f"CAS service {args.id} removed")


def _definitions(paths: list[str]) -> list[dict[str, Any]]:
    """Apereo keeps one JSON file per service; a directory of them, or a file holding a list, also work."""
    found: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CliError(f"{file}: not a JSON service definition: {exc}") from exc
            found.extend(data if isinstance(data, list) else [data])
    return found


def cmd_services_import(args: argparse.Namespace) -> None:
    from app.applications.cas_services import CasServiceRegistry, describe
    from app.audit.trail import record

    definitions = _definitions(args.path)
    broker = open_broker()
    with broker.db.session() as s:
        rows = CasServiceRegistry(broker.cas_services).import_apereo(s, definitions)
        for row in rows:
            record(s, "cas_service.imported", os_actor(), target=row.id, details={"pattern": row.pattern})
        data = [describe(r) for r in rows]
    emit(args, data, "\n".join(f"imported {r['id']}: {r['pattern']}" for r in data) + "\n"
                     f"point the clients' CAS server URL at {broker.issuer}/cas")


def register(sub: Any, add: Add) -> Any:
    group = sub.add_parser("services", help="CAS services").add_subparsers(dest="action", required=True)
    p = add(group, "add", cmd_services_add, "register a CAS service", json_flag=True)
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--prefix", help="every service URL starting with this (scheme, host and path)")
    p.add_argument("--pattern", help="an anchored regular expression, e.g. '^https://app\\.gov\\.vn/.*'")
    p.add_argument("--attribute", action="append", metavar="NAME[=OURS]",
                   help="an attribute to release; OURS is one of: username, displayName, mail, unitName, …")
    p.add_argument("--allow-proxy", action="store_true")
    p.add_argument("--proxy-pattern", help="an anchored pattern the service's pgtUrl must match")
    p.add_argument("--logout-url", help="where single logout is POSTed (default: the service URL)")
    p.add_argument("--no-single-logout", action="store_true")
    p.add_argument("--require-mfa", action="store_true")
    p.add_argument("--unit", action="append", help="a unit code whose officials (and its subunits') may use it")
    p.add_argument("--group", action="append", help="a group whose members may use it")
    p.add_argument("--launch-url", help="the portal's launcher link")
    p.add_argument("--order", type=int, default=100, help="evaluation order (lower first)")
    p.add_argument("--replace", action="store_true", help="update a service with this id")
    add(group, "list", cmd_services_list, "list CAS services", json_flag=True)
    p = add(group, "remove", cmd_services_remove, "remove a CAS service")
    p.add_argument("id")
    p = add(group, "import", cmd_services_import, "import Apereo CAS JSON service definitions", json_flag=True)
    p.add_argument("path", nargs="+", help="a definition file, or a directory of them")
    return group
