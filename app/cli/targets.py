"""`sso-broker connectors` and `provisioning`: target systems and the queue."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from app.cli.common import CliError, emit, open_broker, os_actor, provisioning

Add = Callable[..., argparse.ArgumentParser]


def cmd_connectors_list(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.provisioning.models import ConnectorInstance
    from app.provisioning.registry import kinds

    broker = open_broker()
    with broker.db.session() as s:
        rows = [{"name": r.name, "kind": r.kind, "rules": r.rules, "enabled": r.enabled}
                for r in s.scalars(select(ConnectorInstance).order_by(ConnectorInstance.name))]
    available = kinds()
    kind_names = sorted(available)
    data = {"kinds": kind_names, "instances": rows,
            "capabilities": {name: sorted(cls.operations) for name, cls in available.items()}}
    emit(args, data, "installed kinds: " + "; ".join(f"{n} ({', '.join(sorted(available[n].operations))})"
                                                      for n in kind_names) + "\n"
          + ("\n".join(f"{r['name']:<20} {r['kind']:<12} {json.dumps(r['rules'], ensure_ascii=False)}" for r in rows)
             or "no connector instances"))


def cmd_connectors_test(args: argparse.Namespace) -> None:
    from app.cli.governance import connector_named
    from connectors.base import ConnectorError

    broker = open_broker()
    with broker.db.session() as s:
        instance = connector_named(s, args.name)
        connector = provisioning(broker).connector(instance)
    try:
        connector.test()
    except ConnectorError as exc:
        raise CliError(f"connector {args.name}: {exc}") from exc
    print(f"ok: {args.name} ({instance.kind}) answers")


def cmd_connectors_reconcile(args: argparse.Namespace) -> None:
    from app.provisioning.reconcile import reconcile
    from connectors.base import ConnectorError

    broker = open_broker()
    try:
        with broker.db.session() as s:
            report = reconcile(provisioning(broker), s, args.name, fix=not args.dry_run)
    except (ValueError, ConnectorError) as exc:
        raise CliError(f"connector {args.name}: {exc}") from exc
    data = report.as_dict() | {"dry_run": args.dry_run}
    emit(args, data, f"{args.name}: {report.checked} officials checked; missing {len(report.missing)}, "
          f"drifted {len(report.drifted)}, to disable {len(report.should_be_disabled)}, "
          f"orphaned {len(report.orphaned)} (reported only)"
          + ("; dry run, nothing queued" if args.dry_run else f"; {report.tasks_queued} fixes queued for the worker"))


def cmd_provisioning_dead(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.provisioning.models import ProvisioningTask

    broker = open_broker()
    with broker.db.session() as s:
        rows = [{"id": t.id, "connector": t.connector, "official_id": t.official_id, "attempts": t.attempts,
                 "error": t.last_error, "updated_at": t.updated_at}
                for t in s.scalars(select(ProvisioningTask).where(ProvisioningTask.status == "dead")
                                   .order_by(ProvisioningTask.id))]
    emit(args, rows, "\n".join(f"#{r['id']} {r['connector']} {r['official_id']} after {r['attempts']} tries: "
                                 f"{r['error']}" for r in rows) or "no dead-lettered tasks")


def cmd_provisioning_status(args: argparse.Namespace) -> None:
    from app.provisioning.status import target_status

    broker = open_broker()
    with broker.db.session() as s:
        rows = [row.as_dict() for row in target_status(s, broker.settings)]
    emit(args, rows, "\n".join(
        f"{r['connector']:<20} {'PAUSED until ' + str(r['paused_until']) if r['paused'] else 'running':<28} "
        f"pending {r['pending']}, dead {r['dead']}, failures in a row {r['failures']}, oldest pending "
        f"{r['oldest_pending_age']} s of a {r['retry_budget_seconds']} s retry budget"
        + (f"\n  last error: {r['last_error']}" if r["last_error"] else "") for r in rows) or "no targets")


def cmd_provisioning_resume(args: argparse.Namespace) -> None:

    from app.audit.trail import record

    broker = open_broker()
    with broker.db.session() as s:
        if not provisioning(broker).resume_target(s, args.name):
            raise CliError(f"target {args.name!r} is not paused")
        record(s, "provisioning.target_resumed", os_actor(), target=args.name)
    print(f"target {args.name} resumed: its tasks are tried at once")


def cmd_provisioning_plan(args: argparse.Namespace) -> None:

    broker = open_broker()
    engine = provisioning(broker)
    with broker.db.session() as s:
        engine.plan(s)  # pending events become tasks (kept: they are what the worker will do)
    with broker.db.session() as s:
        lines = engine.preview(s)
    emit(args, lines, "\n".join(lines) or "nothing pending")


def cmd_provisioning_retry(args: argparse.Namespace) -> None:
    from app.provisioning.models import ProvisioningTask

    broker = open_broker()
    with broker.db.session() as s:
        task = s.get(ProvisioningTask, args.task_id)
        if task is None or task.status != "dead":
            raise CliError(f"no dead-lettered task #{args.task_id}")
        provisioning(broker).retry_dead(s, args.task_id)
    print(f"task #{args.task_id} queued again")


def register(sub: Any, add: Add) -> Any:
    connectors = sub.add_parser("connectors", help="target systems (provisioning)").add_subparsers(
        dest="action", required=True)
    add(connectors, "list", cmd_connectors_list, "installed connector kinds and configured instances", json_flag=True)
    p = add(connectors, "test", cmd_connectors_test, "check that a target answers")
    p.add_argument("name")
    p = add(connectors, "reconcile", cmd_connectors_reconcile,
            "compare a target with the identity store; queue fixes (orphans are only reported)", json_flag=True)
    p.add_argument("name")
    p.add_argument("--dry-run", action="store_true", help="report only, queue nothing")
    provisioning = sub.add_parser("provisioning", help="the provisioning queue").add_subparsers(
        dest="action", required=True)
    add(provisioning, "dead-letters", cmd_provisioning_dead, "tasks that gave up, with why", json_flag=True)
    add(provisioning, "status", cmd_provisioning_status,
        "each target: running or paused (circuit breaker), queue, failures, retry budget", json_flag=True)
    p = add(provisioning, "resume", cmd_provisioning_resume, "end a target's pause now (it is back)")
    p.add_argument("name")
    add(provisioning, "plan", cmd_provisioning_plan, "dry run: what the pending work would change, target by target",
        json_flag=True)
    p = add(provisioning, "retry", cmd_provisioning_retry, "queue a dead-lettered task again")
    p.add_argument("task_id", type=int)
    return connectors
