"""The `sso-broker` command: thin, calls services, prints plainly or as JSON (--json)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.applications.clients import ClientError, ClientService, ClientSpec, describe
from app.audit.trail import record
from app.broker import Broker, NotMigrated
from app.cli.common import (
    CliError,
    broker,
    emit,
    issuer_known,
    os_actor,
    provisioning,
    remember_issuer,
    settings,
)
from app.crypto import MasterKeyError
from app.directory.sources import SourceError
from app.identity.models import Official, Unit
from app.identity.service import IdentityError, NewOfficial, add_official, disable_official
from app.migrate import upgrade
from app.provisioning.registry import ConnectorConfigError
from app.settings import Settings

_emit, _settings, _broker, _os_actor = emit, settings, broker, os_actor


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    upgrade(settings.effective_database_url)
    broker = Broker(settings)
    broker.keys.ensure()
    print(f"database migrated: {broker.db.engine.url.render_as_string(hide_password=True)}")


def _issuer_for(settings: Settings, host: str, port: int) -> str:
    if settings.issuer:
        return settings.issuer
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    return f"http://{shown}:{port}"


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn
    import uvicorn.config

    settings = _settings()
    issuer = _issuer_for(settings, args.host, args.port)
    os.environ["SSO_ISSUER"] = issuer
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its counters here, so /metrics on any of them sums all of them.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sso-broker-metrics-")
    os.environ["SSO_LOG_LEVEL"] = args.log_level
    remember_issuer(_broker(issuer))  # fail here, in plain words, rather than inside a worker; the CLI learns it
    print(f"sso-broker serving {issuer} (discovery: {issuer}/.well-known/openid-configuration)", flush=True)
    # Our middleware writes the access log (with request ids); in JSON mode uvicorn's own lines go through
    # the same root handler instead of its coloured formatter.
    uvicorn.run("app.main:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, proxy_headers=False, access_log=False,
                log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG)


def cmd_demo(args: argparse.Namespace) -> None:
    import uvicorn

    from app.demo import DEMO_ADMIN, DEMO_CLIENT_ID, DEMO_PASSWORD, OFFICIALS, install_demo
    from app.main import create_app

    settings = _settings()
    issuer = _issuer_for(settings, args.host, args.port)
    upgrade(settings.effective_database_url)
    broker = Broker(settings, issuer=issuer)
    broker.keys.ensure()
    remember_issuer(broker)
    clients = ClientService(broker.clients)
    with broker.db.session() as s:
        secret = install_demo(s, clients, issuer)
    client_file = Path(settings.data_dir) / "demo-client.json"
    if secret:
        client_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(client_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"client_id": DEMO_CLIENT_ID, "client_secret": secret,
                       "redirect_uri": f"{issuer}/demo-app/callback"}, fh)
    elif client_file.exists():
        saved = json.loads(client_file.read_text())
        saved["redirect_uri"] = f"{issuer}/demo-app/callback"
        client_file.write_text(json.dumps(saved))
    print(f"""
sso-broker demo is running at {issuer}
  open      {issuer}/demo-app   (a demo relying party: click "Đăng nhập · Sign in")
  log in as {OFFICIALS[0].username} / {DEMO_PASSWORD}   (also: {', '.join(o.username for o in OFFICIALS[1:-1])})
  console   {issuer}/admin as {DEMO_ADMIN} / {DEMO_PASSWORD} (province admin; sets up an authenticator app at
            the first sign-in: any TOTP app, e.g. on a phone)
  discovery {issuer}/.well-known/openid-configuration
""", flush=True)
    app = create_app(settings, issuer=issuer)
    from app.demo_rp import router

    app.include_router(router)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


def _official_by_login_name(session: Any, broker: Any, name: str) -> Any:
    from app.account.recovery import find_by_login_name

    official = find_by_login_name(session, name, broker.directories.names(session))
    if official is None:
        raise CliError(f"no single official is called {name!r}; for a directory account write name@DIRECTORY")
    return official


def cmd_user_reset_link(args: argparse.Namespace) -> None:
    from app.account.recovery import AccountRecovery

    broker = _broker()
    if not issuer_known(broker):
        raise CliError("the server's address is not known yet: set SSO_ISSUER, or start the server once "
                       "(sso-broker serve) so that it is stored")
    with broker.db.session() as s:
        official = _official_by_login_name(s, broker, args.username)
        link = AccountRecovery(broker).helpdesk_link(s, official, args.issued_by, _os_actor())
    print(f"{link}\n(works once, for {broker.settings.reset_link_ttl // 60} minutes; "
          "give it to the official in person or by phone)")


def cmd_user_mfa_reset(args: argparse.Namespace) -> None:
    broker = _broker()
    with broker.db.session() as s:
        official = _official_by_login_name(s, broker, args.username)
        broker.factors.reset_all(s, official.id)
        record(s, "mfa.reset_by_helpdesk", _os_actor(), unit_id=official.unit_id, target=official.id)
    print(f"every second factor of {args.username} removed; they set up a new one at their next login")


def cmd_client_add(args: argparse.Namespace) -> None:
    jwks = None
    if args.jwks_file:
        try:
            jwks = json.loads(Path(args.jwks_file).read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"--jwks-file: cannot read a JSON key set from {args.jwks_file}: {exc}") from exc
    spec = ClientSpec(
        client_id=args.client_id, name=args.name or args.client_id, redirect_uris=args.redirect_uri or [],
        post_logout_redirect_uris=args.post_logout_redirect_uri or [],
        grant_types=args.grant_type or ["authorization_code", "refresh_token"],
        scopes=(args.scope.split() if args.scope else ClientSpec(client_id="x").scopes),
        auth_method=args.auth_method, first_party=args.first_party, require_pkce=not args.no_pkce, jwks=jwks,
        backchannel_logout_uri=args.backchannel_logout_uri, id_token_alg=args.id_token_alg,
        require_mfa=args.require_mfa, launch_url=args.launch_url, connector=args.connector,
    )
    broker = _broker()
    with broker.db.session() as s:
        if args.scim_unit:
            from app.cli.governance import unit_coded

            spec.scim_unit_id = unit_coded(s, args.scim_unit).id
        row, secret = ClientService(broker.clients).add(s, spec)
        record(s, "client.created", _os_actor(), target=row.client_id, details={"name": row.name})
        data = describe(row, secret)
    data["issuer"] = broker.issuer
    _emit(args, data, f"client {row.client_id} registered" + (f"\nclient_secret: {secret}  (shown once)"
                                                               if secret else ""))


def cmd_client_list(args: argparse.Namespace) -> None:
    broker = _broker()
    with broker.db.session() as s:
        rows = [describe(r) for r in ClientService(broker.clients).list(s)]
    lines = [f"{r['client_id']:<24} {r['token_endpoint_auth_method']:<20} "
             f"{'first-party' if r['first_party'] else 'third-party':<12} {' '.join(r['redirect_uris'])}"
             for r in rows]
    _emit(args, rows, "\n".join(lines) or "no clients registered")


def cmd_client_rotate(args: argparse.Namespace) -> None:
    broker = _broker()
    with broker.db.session() as s:
        secret = ClientService(broker.clients).rotate_secret(s, args.client_id)
        record(s, "client.secret_rotated", _os_actor(), target=args.client_id)
    _emit(args, {"client_id": args.client_id, "client_secret": secret},
          f"new client_secret for {args.client_id}: {secret}  (shown once; the old one no longer works)")


def cmd_client_remove(args: argparse.Namespace) -> None:
    broker = _broker()
    with broker.db.session() as s:
        ClientService(broker.clients).remove(s, args.client_id)
        record(s, "client.removed", _os_actor(), target=args.client_id)
    print(f"client {args.client_id} removed, with its tokens and consents")


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
    password = _read_password(args)
    if password is not None and len(password) < 8:
        raise CliError("password: at least 8 characters")
    broker = _broker()
    with broker.db.session() as s:
        official = add_official(s, NewOfficial(
            username=args.username, display_name=args.name, password=password, email=args.email,
            phone=args.phone, title=args.title, unit_code=args.unit, given_name=args.given_name or "",
            family_name=args.family_name or "", groups=tuple(args.group or ())))
        data = {"sub": official.id, "username": official.username, "name": official.display_name,
                "email": official.email, "unit": args.unit}
        record(s, "official.created", _os_actor(), unit_id=official.unit_id, target=official.id,
               details={"username": official.username})
    _emit(args, data, f"official {data['username']} added (sub {data['sub']})")


def cmd_user_list(args: argparse.Namespace) -> None:
    broker = _broker()
    with broker.db.session() as s:
        rows = s.execute(select(Official, Unit.code).outerjoin(Unit, Unit.id == Official.unit_id)
                         .order_by(Official.username)).all()
        data = [{"sub": o.id, "username": o.username, "name": o.display_name, "email": o.email,
                 "unit": code, "enabled": o.enabled} for o, code in rows]
    lines = [f"{d['username']:<20} {d['name']:<28} {d['unit'] or '-':<16} "
             f"{'enabled' if d['enabled'] else 'DISABLED'}" for d in data]
    _emit(args, data, "\n".join(lines) or "no officials")


def cmd_user_disable(args: argparse.Namespace) -> None:
    broker = _broker()
    with broker.db.session() as s:
        official = disable_official(s, args.username)
        name = official.username
        record(s, "official.disabled", _os_actor(), unit_id=official.unit_id, target=official.id)
    print(f"official {name} disabled: sessions ended, tokens revoked")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    broker = _broker()
    algs = ("RS256", "ES256") if args.alg == "all" else (args.alg,)
    results = [broker.keys.rotate(alg, immediately=args.now, publish_ahead=broker.settings.key_publish_ahead)
               for alg in algs]
    data = [r.__dict__ for r in results]
    _emit(args, data, "\n".join(
        f"{r.alg}: new key {r.kid} published now, signs from {r.active_from}"
        + (f"; {r.previous_kid} stays published until {r.previous_retire_after}" if r.previous_kid else "")
        for r in results))


def cmd_keys_list(args: argparse.Namespace) -> None:
    rows = _broker().keys.listing()
    _emit(args, rows, "\n".join(f"{r['kid']} {r['alg']} active_from={r['active_from']} "
                                f"retire_after={r['retire_after']}" for r in rows))


def cmd_audit_verify(args: argparse.Namespace) -> None:
    from app.audit.trail import verify

    broker = _broker()
    result = verify(broker.db, progress=lambda n: None if args.json else print(f"  {n} events checked", flush=True))
    _emit(args, result.__dict__, f"audit trail intact: {result.checked} events" if result.ok
          else f"AUDIT TRAIL BROKEN after {result.checked} good events: {result.problem}")
    if not result.ok:
        raise SystemExit(3)


def cmd_audit_export(args: argparse.Namespace) -> None:
    from app.audit.trail import AuditQuery, as_dict, export_csv, search

    broker = _broker()
    with broker.db.session() as s:
        events = search(s, AuditQuery(action=args.action, since=args.since, limit=args.limit))
        if args.format == "csv":
            sys.stdout.write("".join(export_csv(events)))
        else:
            print(json.dumps([as_dict(e) for e in events], ensure_ascii=False, indent=1))


def cmd_secrets_rotate_master(args: argparse.Namespace) -> None:
    from app.store.master_key import reseal, rotate_key_file

    settings = _settings()
    broker = _broker()
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
    _emit(args, report.__dict__, f"every sealed value is under master key {report.key_id}; {hint}")


def cmd_secrets_status(args: argparse.Namespace) -> None:
    from app.store.master_key import census

    broker = _broker()
    tables = census(broker.db)
    data = {"current_key": broker.box.key_id, "tables": tables}
    lines = [f"current master key: {broker.box.key_id}"] + [
        f"{table}: " + (", ".join(f"{n} under {k}" for k, n in counts.items()) or "empty")
        for table, counts in tables.items()]
    _emit(args, data, "\n".join(lines))


def cmd_secrets_new_key(args: argparse.Namespace) -> None:
    from app.crypto import generate_master_key

    print(generate_master_key())


def cmd_directory_add(args: argparse.Namespace) -> None:
    from app.directory.sources import parse_config

    password = sys.stdin.readline().rstrip("\n") if args.bind_password_stdin else args.bind_password
    data = {"name": args.name, "kind": args.kind, "urls": args.url or [], "bind_dn": args.bind_dn,
            "start_tls": args.start_tls, "ca_file": args.ca_file, "people_base": args.people_base,
            "groups_base": args.groups_base, "units_base": args.units_base, "unit_from": args.unit_from,
            "unit_attribute": args.unit_attribute, "timeout": args.timeout}
    config = parse_config({k: v for k, v in data.items() if v is not None})
    broker = _broker()
    with broker.db.session() as s:
        broker.directories.save(s, config, password)
        record(s, "directory.saved", _os_actor(), target=config.name, details={"urls": config.urls})
    _emit(args, config.model_dump(mode="json", exclude_none=True), f"directory source {config.name} saved")


def cmd_directory_list(args: argparse.Namespace) -> None:
    from app.identity.models import DirectorySource

    broker = _broker()
    with broker.db.session() as s:
        rows: list[dict[str, Any]] = [{"name": r.name, "urls": r.config.get("urls"), "cursor": r.cursor,
                 "last_sync_at": r.last_sync_at,
                 "last_full_sync_at": r.last_full_sync_at, "last_error": r.last_error}
                for r in s.scalars(select(DirectorySource).order_by(DirectorySource.name))]
    _emit(args, rows, "\n".join(f"{r['name']:<16} {' '.join(r['urls'] or [])}  last sync {r['last_sync_at'] or 'never'}"
                                 for r in rows) or "no directory sources")


def cmd_directory_test(args: argparse.Namespace) -> None:
    from app.directory.ldap import DirectoryUnavailable

    broker = _broker()
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

    broker = _broker()
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
    _emit(args, data, ("dry run, nothing written: " if args.dry_run else "")
          + ", ".join(f"{key} {data[key]}" for key in ("created", "updated", "moved", "disabled", "unchanged",
                                                       "errors"))
          + f" ({data['seconds']} s)" + "".join(f"\n  error: {sample}" for sample in summary.error_samples))


def cmd_directory_link(args: argparse.Namespace) -> None:
    from app.directory.links import link

    broker = _broker()
    with broker.db.session() as s:
        primary, secondary = link(s, args.primary, args.secondary)
        data = {"official": primary.id, "linked": args.secondary, "retired": secondary.id}
    _emit(args, data, f"{args.secondary} now logs in as {args.primary} (sub {data['official']})")


def cmd_connectors_list(args: argparse.Namespace) -> None:
    from app.provisioning.models import ConnectorInstance
    from app.provisioning.registry import kinds

    broker = _broker()
    with broker.db.session() as s:
        rows = [{"name": r.name, "kind": r.kind, "rules": r.rules, "enabled": r.enabled}
                for r in s.scalars(select(ConnectorInstance).order_by(ConnectorInstance.name))]
    available = kinds()
    kind_names = sorted(available)
    data = {"kinds": kind_names, "instances": rows,
            "capabilities": {name: sorted(cls.operations) for name, cls in available.items()}}
    _emit(args, data, "installed kinds: " + "; ".join(f"{n} ({', '.join(sorted(available[n].operations))})"
                                                      for n in kind_names) + "\n"
          + ("\n".join(f"{r['name']:<20} {r['kind']:<12} {json.dumps(r['rules'], ensure_ascii=False)}" for r in rows)
             or "no connector instances"))


def cmd_connectors_test(args: argparse.Namespace) -> None:
    from app.cli.governance import connector_named
    from connectors.base import ConnectorError

    broker = _broker()
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

    broker = _broker()
    try:
        with broker.db.session() as s:
            report = reconcile(provisioning(broker), s, args.name, fix=not args.dry_run)
    except (ValueError, ConnectorError) as exc:
        raise CliError(f"connector {args.name}: {exc}") from exc
    data = report.as_dict() | {"dry_run": args.dry_run}
    _emit(args, data, f"{args.name}: {report.checked} officials checked; missing {len(report.missing)}, "
          f"drifted {len(report.drifted)}, to disable {len(report.should_be_disabled)}, "
          f"orphaned {len(report.orphaned)} (reported only)"
          + ("; dry run, nothing queued" if args.dry_run else f"; {report.tasks_queued} fixes queued for the worker"))


def cmd_provisioning_dead(args: argparse.Namespace) -> None:
    from app.provisioning.models import ProvisioningTask

    broker = _broker()
    with broker.db.session() as s:
        rows = [{"id": t.id, "connector": t.connector, "official_id": t.official_id, "attempts": t.attempts,
                 "error": t.last_error, "updated_at": t.updated_at}
                for t in s.scalars(select(ProvisioningTask).where(ProvisioningTask.status == "dead")
                                   .order_by(ProvisioningTask.id))]
    _emit(args, rows, "\n".join(f"#{r['id']} {r['connector']} {r['official_id']} after {r['attempts']} tries: "
                                 f"{r['error']}" for r in rows) or "no dead-lettered tasks")


def cmd_provisioning_status(args: argparse.Namespace) -> None:
    from app.provisioning.status import target_status

    broker = _broker()
    with broker.db.session() as s:
        rows = [row.as_dict() for row in target_status(s, broker.settings)]
    _emit(args, rows, "\n".join(
        f"{r['connector']:<20} {'PAUSED until ' + str(r['paused_until']) if r['paused'] else 'running':<28} "
        f"pending {r['pending']}, dead {r['dead']}, failures in a row {r['failures']}, oldest pending "
        f"{r['oldest_pending_age']} s of a {r['retry_budget_seconds']} s retry budget"
        + (f"\n  last error: {r['last_error']}" if r["last_error"] else "") for r in rows) or "no targets")


def cmd_provisioning_resume(args: argparse.Namespace) -> None:

    broker = _broker()
    with broker.db.session() as s:
        if not provisioning(broker).resume_target(s, args.name):
            raise CliError(f"target {args.name!r} is not paused")
        record(s, "provisioning.target_resumed", _os_actor(), target=args.name)
    print(f"target {args.name} resumed: its tasks are tried at once")


def cmd_provisioning_plan(args: argparse.Namespace) -> None:

    broker = _broker()
    engine = provisioning(broker)
    with broker.db.session() as s:
        engine.plan(s)  # pending events become tasks (kept: they are what the worker will do)
    with broker.db.session() as s:
        lines = engine.preview(s)
    _emit(args, lines, "\n".join(lines) or "nothing pending")


def cmd_provisioning_retry(args: argparse.Namespace) -> None:
    from app.provisioning.models import ProvisioningTask

    broker = _broker()
    with broker.db.session() as s:
        task = s.get(ProvisioningTask, args.task_id)
        if task is None or task.status != "dead":
            raise CliError(f"no dead-lettered task #{args.task_id}")
        provisioning(broker).retry_dead(s, args.task_id)
    print(f"task #{args.task_id} queued again")


def cmd_worker(args: argparse.Namespace) -> None:
    """Directory sync on an interval and the provisioning queue, until stopped (or one pass with --once)."""
    from app.worker import Worker

    worker = Worker(_broker())
    if args.once:
        worker.once()
    else:
        worker.run(args.interval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sso-broker", description="Single sign-on identity broker (OIDC).")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(parent: Any, name: str, func: Callable[[argparse.Namespace], None], help_: str,
            json_flag: bool = False) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print the result as JSON")
        return p

    for name, func, help_ in (("serve", cmd_serve, "run the broker"),
                              ("demo", cmd_demo, "install demo officials and a demo app, then run the broker")):
        p = add(sub, name, func, help_)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        if name == "serve":
            p.add_argument("--workers", type=int, default=1)
    add(sub, "migrate", cmd_migrate, "bring the database schema up to date")

    client = sub.add_parser("client", help="OIDC clients (relying parties)").add_subparsers(dest="action",
                                                                                            required=True)
    p = add(client, "add", cmd_client_add, "register a client; its secret is printed once", json_flag=True)
    p.add_argument("client_id")
    p.add_argument("--name")
    p.add_argument("--redirect-uri", action="append", help="exact callback URI (repeatable)")
    p.add_argument("--post-logout-redirect-uri", action="append")
    p.add_argument("--grant-type", action="append",
                   choices=["authorization_code", "refresh_token", "client_credentials"])
    p.add_argument("--scope", help="allowed scopes, space-separated")
    p.add_argument("--auth-method", default="client_secret_basic",
                   choices=["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    p.add_argument("--jwks-file", help="the client's public keys (for private_key_jwt)")
    p.add_argument("--first-party", action="store_true", help="skip the consent screen")
    p.add_argument("--no-pkce", action="store_true", help="do not require PKCE (confidential clients only)")
    p.add_argument("--backchannel-logout-uri")
    p.add_argument("--id-token-alg", default="RS256", choices=["RS256", "ES256"])
    p.add_argument("--require-mfa", action="store_true", help="every login to this client needs a second factor")
    p.add_argument("--launch-url", help="show the client in the portal's launcher, opening this URL")
    p.add_argument("--connector", help="show it in the launcher only to officials with an account in this target")
    p.add_argument("--scim-unit", help="unit code: a SCIM client (scopes scim) manages this unit's subtree")
    add(client, "list", cmd_client_list, "list clients", json_flag=True)
    p = add(client, "rotate-secret", cmd_client_rotate, "issue a new secret", json_flag=True)
    p.add_argument("client_id")
    p = add(client, "remove", cmd_client_remove, "remove a client with its tokens")
    p.add_argument("client_id")

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
    p = add(sub, "worker", cmd_worker, "background work: directory sync on an interval, provisioning queue")
    p.add_argument("--interval", type=float, default=30.0,
                   help="seconds between incremental directory passes (each also finds deleted entries)")
    p.add_argument("--once", action="store_true")

    from app.cli import governance

    governance.register(sub, add, {"connectors": connectors, "directory": directory, "client": client})
    from app.cli import config_cmds

    config_cmds.register(sub, add)

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
    return parser


def _fail(message: str) -> int:
    """Every error is one line: a driver's message keeps its own line breaks, which would break that."""
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()
    except (CliError, IdentityError, ClientError, NotMigrated, MasterKeyError, SourceError,
            ConnectorConfigError) as exc:
        return _fail(str(exc))
    except OperationalError as exc:
        return _fail(f"cannot use the database: {exc.orig}")
    except SQLAlchemyError as exc:
        return _fail(f"database error: {exc.__class__.__name__}: {exc}")
    except BrokenPipeError:
        # The reader went away (`sso-broker user list | head`): not an error; stdout is closed quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
