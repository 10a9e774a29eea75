"""`sso-broker config plan|apply|export`: the province's configuration as a file under version control."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.admin.declarative import DeclarativeConfig
    from app.broker import Broker


from app.cli.common import CliError, emit, open_broker, os_actor, provisioning


def _declarative(s: Session, made: Broker) -> DeclarativeConfig:
    from app.admin.declarative import DeclarativeConfig
    from app.admin.declarative_apps import sections

    return DeclarativeConfig(s, os_actor(), made.box, made.directories, made.clients, provisioning(made),
                             sections(made.cas_services, made.gateway_apps), made.upstream_providers)


def _load(path: str) -> dict[str, Any]:
    from app.admin.declarative import ConfigError, DeclarativeConfig
    from app.cli.governance import read_document

    data = read_document(path)
    try:
        DeclarativeConfig.check_shape(data)
    except ConfigError as exc:
        raise CliError(f"{path}: {exc}") from exc
    return data


def cmd_config_plan(args: argparse.Namespace) -> None:
    from app.admin.declarative import ConfigError

    data, made = _load(args.file), open_broker()
    with made.db.session() as s:
        try:
            plan = _declarative(s, made).plan(data, args.prune)
        except ConfigError as exc:
            raise CliError(f"{args.file}: {exc}") from exc
        s.rollback()  # a plan changes nothing
    lines = [c.line() for c in plan.changes]
    emit(args, {"changes": [c.__dict__ for c in plan.changes], "empty": plan.empty},
         "\n".join(lines) + ("\nno changes" if plan.empty else "") if lines else "no changes")


def cmd_config_apply(args: argparse.Namespace) -> None:
    from app.admin.declarative import ConfigError

    data, made = _load(args.file), open_broker()
    with made.db.session() as s:  # one transaction: all of it or none of it
        try:
            plan = _declarative(s, made).apply(data, args.prune)
        except ConfigError as exc:
            s.rollback()
            raise CliError(f"{args.file}: nothing applied: {exc}") from exc
    made.clients.clear()
    lines = [c.line() for c in plan.changes] + [f"client_secret of {c}: {secret}  (shown once)"
                                                for c, secret in plan.secrets_made.items()]
    emit(args, {"changes": [c.__dict__ for c in plan.changes], "client_secrets": plan.secrets_made},
         "\n".join(lines) if not plan.empty else "no changes")


def cmd_config_export(args: argparse.Namespace) -> None:
    from app.admin.declarative import to_toml

    made = open_broker()
    with made.db.session() as s:
        text = to_toml(_declarative(s, made).export())
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"configuration written to {args.output} (secrets as env: references)")
    else:
        print(text, end="")


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="declarative configuration (a TOML file in version control)"
                            ).add_subparsers(dest="action", required=True)
    for name, func, help_ in (("plan", cmd_config_plan, "what applying the file would change; changes nothing"),
                              ("apply", cmd_config_apply, "make the running configuration what the file says")):
        p = add(config, name, func, help_, json_flag=True)
        p.add_argument("-f", "--file", required=True, help="province.toml (or .json)")
        p.add_argument("--prune", action="store_true", help="also remove what the file does not name")
    p = add(config, "export", cmd_config_export, "the running configuration as a file (secrets as references)")
    p.add_argument("-o", "--output", help="file to write; standard output by default")
