"""What every command group shares: the error type, output, settings, the broker and who is acting."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `sso-broker --help` must not pay for the database layer
    from app.audit.trail import Actor
    from app.broker import Broker
    from app.provisioning.engine import ProvisioningEngine
    from app.settings import Settings


class CliError(Exception):
    """A message for the person at the terminal; exit status 2."""


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if getattr(args, "json", False) else text)


def load_settings() -> Settings:
    from pydantic import ValidationError

    from app.settings import Settings
    from app.validation import field_errors

    try:
        return Settings()
    except ValidationError as exc:
        problems = field_errors(exc, lambda loc: "SSO_" + "_".join(str(part) for part in loc).upper())
        raise CliError(f"invalid settings: {problems}") from exc


def open_broker(issuer: str | None = None, check: bool = True) -> Broker:
    """The broker as the server runs it: without SSO_ISSUER, at the issuer the server last started with."""
    from app import installation
    from app.broker import Broker

    config = load_settings()
    made = Broker(config, issuer=issuer)
    if check:
        made.check_migrated()
        if not (issuer or config.issuer):
            with made.db.session() as s:
                stored = installation.read(s, installation.ISSUER)
            if stored and stored != made.issuer:
                made.db.dispose()
                made = Broker(config, issuer=stored)
    return made


def provisioning(made: Broker) -> ProvisioningEngine:
    """The engine as the worker runs it (the same retry policy), for every command that provisions."""
    from app.provisioning.engine import ProvisioningEngine, RetryPolicy

    return ProvisioningEngine(made.db, made.box, RetryPolicy.from_settings(made.settings))


def issuer_known(made: Broker) -> bool:
    """Whether the issuer is the server's own (set, or stored when it started), not a guess."""
    from app import installation

    if made.settings.issuer:
        return True
    with made.db.session() as s:
        return bool(installation.read(s, installation.ISSUER) == made.issuer)


def remember_issuer(made: Broker) -> None:
    from app import installation

    with made.db.session() as s:
        installation.write(s, installation.ISSUER, made.issuer)


def name_pairs(items: list[str]) -> list[tuple[str, str]]:
    """Repeated `NAME[=OURS]` options (an attribute or header an application receives, and which of our
    attributes it carries; OURS defaults to NAME)."""
    return [(name, ours or name) for name, _, ours in (item.partition("=") for item in items)]


def os_actor() -> Actor:
    """Who ran the command: the operator's account on the server (commands run there, as that user)."""
    from app.audit.trail import Actor

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid())
    return Actor(f"cli:{name}", "operator")
