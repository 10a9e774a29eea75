"""`sso-broker directory`: central directories (LDAP / AD) and their sync."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from app.cli.common import CliError, emit, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def cmd_directory_add(args: argparse.Namespace) -> None:
    from app.audit.trail import record
    from app.directory.config import PRESETS
    from app.directory.sources import parse_config

    password = sys.stdin.readline().rstrip("\n") if args.bind_password_stdin else args.bind_password
    data = {"name": args.name, "kind": args.kind, "urls": args.url or [], "bind_dn": args.bind_dn,
            "start_tls": args.start_tls, "ca_file": args.ca_file, "people_base": args.people_base,
            "groups_base": args.groups_base, "units_base": args.units_base, "unit_from": args.unit_from,
            "unit_attribute": args.unit_attribute, "timeout": args.timeout}
    if args.national_id_attribute:  # where the directory keeps the CCCD (links VNeID identities; kept as a digest)
        data["attributes"] = {**PRESETS[args.kind].model_dump(), "national_id": args.national_id_attribute}
    config = parse_config({k: v for k, v in data.items() if v is not None})
    broker = open_broker()
    with broker.db.session() as s:
        broker.directories.save(s, config, password)
        record(s, "directory.saved", os_actor(), target=config.name, details={"urls": config.urls})
    emit(args, config.model_dump(mode="json", exclude_none=True), f"directory source {config.name} saved")


def cmd_directory_list(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.identity.models import DirectorySource

    broker = open_broker()
    with broker.db.session() as s:
        rows: list[dict[str, Any]] = [{"name": r.name, "urls": r.config.get("urls"), "cursor": r.cursor,
                 "last_sync_at": r.last_sync_at,
                 "last_full_sync_at": r.last_full_sync_at, "last_error": r.last_error}
                for r in s.scalars(select(DirectorySource).order_by(DirectorySource.name))]
    emit(args, rows, "\n".join(f"{r['name']:<16} {' '.join(r['urls'] or [])}  last sync {r['last_sync_at'] or 'never'}"
                                 for r in rows) or "no directory sources")


def cmd_directory_test(args: argparse.Namespace) -> None:
    from app.directory.ldap import DirectoryUnavailable

    broker = open_broker()
    with broker.db.session() as s:
        client = broker.directories.client(s, args.name)
    try:
        for line in client.test():
            print(f"ok: {line}")
    except DirectoryUnavailable as exc:
        raise CliError(f"directory {args.name}: {exc}") from exc


def cmd_directory_sync(args: argparse.Namespace) -> None:
    from app.directory.ldap import DirectoryUnavailable
    from app.directory.sync import DirectorySync

    broker = open_broker()
    started = time.monotonic()

    def progress(phase: str, count: int) -> None:
        if not args.json:
            print(f"\r{phase}: {count} processed ({time.monotonic() - started:.1f} s)", end="", file=sys.stderr,
                  flush=True)

    try:
        summary = DirectorySync(broker.db, broker.directories, args.name, progress).run(args.full, args.dry_run)
    except DirectoryUnavailable as exc:
        raise CliError(f"directory {args.name}: {exc}") from exc
    if not args.json:
        print(file=sys.stderr)
    data = summary.as_dict() | {"seconds": round(time.monotonic() - started, 2), "dry_run": args.dry_run}
    emit(args, data, ("dry run, nothing written: " if args.dry_run else "")
          + ", ".join(f"{key} {data[key]}" for key in ("created", "updated", "moved", "disabled", "unchanged",
                                                       "errors"))
          + f" ({data['seconds']} s)" + "".join(f"\n  error: {sample}" for sample in summary.error_samples))


def cmd_directory_link(args: argparse.Namespace) -> None:
    from app.directory.links import link

    broker = open_broker()
    with broker.db.session() as s:
        primary, secondary = link(s, args.primary, args.secondary)
        data = {"official": primary.id, "linked": args.secondary, "retired": secondary.id}
    emit(args, data, f"{args.secondary} now logs in as {args.primary} (sub {data['official']})")


def register(sub: Any, add: Add) -> Any:
    directory = sub.add_parser("directory", help="central directories (LDAP / AD)").add_subparsers(
        dest="action", required=True)
    p = add(directory, "add", cmd_directory_add, "add or change a directory source", json_flag=True)
    p.add_argument("name", help="short name, used in logins as user@NAME")
    p.add_argument("--kind", default="openldap", choices=["openldap", "ad"])
    p.add_argument("--url", action="append", help="ldap://host:port or ldaps://… (repeat for failover)")
    p.add_argument("--bind-dn")
    p.add_argument("--bind-password")
    p.add_argument("--bind-password-stdin", action="store_true")
    p.add_argument("--start-tls", action="store_true")
    p.add_argument("--ca-file")
    p.add_argument("--timeout", type=float)
    p.add_argument("--people-base")
    p.add_argument("--groups-base")
    p.add_argument("--units-base")
    p.add_argument("--unit-from", choices=["dn", "attribute", "none"])
    p.add_argument("--unit-attribute")
    p.add_argument("--national-id-attribute", metavar="ATTR",
                   help="the attribute holding the personal identification number (CCCD), to link VNeID logins")
    add(directory, "list", cmd_directory_list, "list directory sources", json_flag=True)
    p = add(directory, "test", cmd_directory_test, "check a source's configuration against the server")
    p.add_argument("name")
    p = add(directory, "sync", cmd_directory_sync, "synchronise a source into the identity store", json_flag=True)
    p.add_argument("name")
    p.add_argument("--full", action="store_true", help="read everything (also finds deleted entries)")
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    p = add(directory, "link", cmd_directory_link, "declare two directory entries the same official",
            json_flag=True)
    p.add_argument("primary", help="SOURCE:USERNAME of the official to keep, e.g. bacninh:hieund")
    p.add_argument("secondary", help="SOURCE:USERNAME of the entry that becomes another way in")
    return directory
