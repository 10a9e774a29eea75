"""`sso-broker keys`, `audit` and `secrets`: signing keys, the audit trail, the master key."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from app.cli.common import emit, load_settings, open_broker

Add = Callable[..., argparse.ArgumentParser]


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    broker = open_broker()
    algs = ("RS256", "ES256") if args.alg == "all" else (args.alg,)
    results = [broker.keys.rotate(alg, immediately=args.now, publish_ahead=broker.settings.key_publish_ahead)
               for alg in algs]
    data = [r.__dict__ for r in results]
    emit(args, data, "\n".join(
        f"{r.alg}: new key {r.kid} published now, signs from {r.active_from}"
        + (f"; {r.previous_kid} stays published until {r.previous_retire_after}" if r.previous_kid else "")
        for r in results))


def cmd_keys_list(args: argparse.Namespace) -> None:
    rows = open_broker().keys.listing()
    emit(args, rows, "\n".join(f"{r['kid']} {r['alg']} active_from={r['active_from']} "
                                f"retire_after={r['retire_after']}" for r in rows))


def cmd_audit_verify(args: argparse.Namespace) -> None:
    from app.audit.trail import verify

    broker = open_broker()
    result = verify(broker.db, progress=lambda n: None if args.json else print(f"  {n} events checked", flush=True))
    emit(args, result.__dict__, f"audit trail intact: {result.checked} events" if result.ok
          else f"AUDIT TRAIL BROKEN after {result.checked} good events: {result.problem}")
    if not result.ok:
        raise SystemExit(3)


def cmd_audit_export(args: argparse.Namespace) -> None:
    from app.audit.trail import AuditQuery, as_dict, export_csv, search

    broker = open_broker()
    with broker.db.session() as s:
        events = search(s, AuditQuery(action=args.action, since=args.since, limit=args.limit))
        if args.format == "csv":
            sys.stdout.write("".join(export_csv(events)))
        else:
            print(json.dumps([as_dict(e) for e in events], ensure_ascii=False, indent=1))


def cmd_secrets_rotate_master(args: argparse.Namespace) -> None:
    from app.admin.master_key import reseal, rotate_key_file

    settings = load_settings()
    broker = open_broker()
    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    if settings.master_key:
        # The key comes from the environment: the processes already run with the new key and the old one
        # in SSO_MASTER_KEY_PREVIOUS; what is left is to re-seal, then to drop the old key.
        report = reseal(broker.db, broker.box, say)
        hint = "now remove SSO_MASTER_KEY_PREVIOUS from every process"
    else:
        key_file = settings.master_key_file or settings.data_dir / "master.key"
        report = rotate_key_file(broker.db, key_file, say)
        hint = f"new key in {key_file}; the old one is kept in {key_file}.previous: restart every process"
    emit(args, report.__dict__, f"every sealed value is under master key {report.key_id}; {hint}")


def cmd_secrets_status(args: argparse.Namespace) -> None:
    from app.admin.master_key import census

    broker = open_broker()
    tables = census(broker.db)
    data = {"current_key": broker.box.key_id, "tables": tables}
    lines = [f"current master key: {broker.box.key_id}"] + [
        f"{table}: " + (", ".join(f"{n} under {k}" for k, n in counts.items()) or "empty")
        for table, counts in tables.items()]
    emit(args, data, "\n".join(lines))


def cmd_secrets_new_key(args: argparse.Namespace) -> None:
    from app.crypto import generate_master_key

    print(generate_master_key())


def register(sub: Any, add: Add) -> None:
    keys = sub.add_parser("keys", help="token signing keys").add_subparsers(dest="action", required=True)
    p = add(keys, "rotate", cmd_keys_rotate, "publish a new signing key", json_flag=True)
    p.add_argument("--alg", default="all", choices=["RS256", "ES256", "all"])
    p.add_argument("--now", action="store_true", help="sign with it at once (emergency rotation)")
    add(keys, "list", cmd_keys_list, "list signing keys", json_flag=True)

    audit = sub.add_parser("audit", help="the hash-chained audit trail").add_subparsers(dest="action",
                                                                                       required=True)
    add(audit, "verify", cmd_audit_verify, "recompute the chain; exit 3 if an event was altered or removed",
        json_flag=True)
    p = add(audit, "export", cmd_audit_export, "events, newest first, as CSV or JSON")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--action", help="only actions starting with this, e.g. login.")
    p.add_argument("--since", type=int, help="epoch seconds")
    p.add_argument("--limit", type=int, default=100000)

    secrets_ = sub.add_parser("secrets", help="the master key that seals secrets at rest").add_subparsers(
        dest="action", required=True)
    add(secrets_, "rotate-master", cmd_secrets_rotate_master,
        "re-seal every secret under a new master key (key file) or the current one (SSO_MASTER_KEY)",
        json_flag=True)
    add(secrets_, "status", cmd_secrets_status, "which master key sealed how many values", json_flag=True)
    add(secrets_, "new-key", cmd_secrets_new_key, "print a new random master key")
