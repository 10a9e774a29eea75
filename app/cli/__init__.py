"""The `sso-broker` command: one module per command group (thin: they call services), this one the parser and
the one place errors become a line on stderr.

Command modules import the services a command needs inside it: building the parser (and `--help`) loads no
database layer, and each command loads only its own part (#16: start-up).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from app.cli.common import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sso-broker",
                                     description="Single sign-on identity broker (OIDC, CAS, SAML, forward auth).")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(parent: Any, name: str, func: Callable[[argparse.Namespace], None], help_: str,
            json_flag: bool = False) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print the result as JSON")
        return p

    # One module per command group; each adds its commands (governance extends three of the groups).
    from app.cli import (
        clients,
        config_cmds,
        directories,
        gateway_cmds,
        governance,
        idp_cmds,
        keys_audit,
        runtime,
        saml_cmds,
        services,
        targets,
        users,
    )

    runtime.register(sub, add)
    client = clients.register(sub, add)
    services.register(sub, add)
    gateway_cmds.register(sub, add)
    saml_cmds.register(sub, add)
    idp_cmds.register(sub, add)
    users.register(sub, add)
    directory = directories.register(sub, add)
    connectors = targets.register(sub, add)
    governance.register(sub, add, {"connectors": connectors, "directory": directory, "client": client})
    config_cmds.register(sub, add)
    keys_audit.register(sub, add)
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
    except BrokenPipeError:
        # The reader went away (`sso-broker user list | head`): not an error; stdout is closed quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = refusal(exc)
        if message is None:
            raise
        return _fail(message)
    return 0


def refusal(exc: Exception) -> str | None:
    """The line for an error the person at the terminal can act on; None for a bug (it is raised)."""
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from app.admin.errors import AdminError
    from app.applications.clients import ClientError
    from app.broker import NotMigrated
    from app.cas.services import ServiceError
    from app.crypto import MasterKeyError
    from app.directory.sources import SourceError
    from app.gateway.apps import GatewayError
    from app.identity.service import IdentityError
    from app.provisioning.registry import ConnectorConfigError
    from app.saml.xml import SamlError

    if isinstance(exc, CliError | IdentityError | ClientError | NotMigrated | MasterKeyError | SourceError
                  | ConnectorConfigError | ServiceError | GatewayError | SamlError):
        return str(exc)
    if isinstance(exc, AdminError):  # the admin services' refusals, in the words the admin API uses
        return exc.message
    if isinstance(exc, OperationalError):
        return f"cannot use the database: {exc.orig}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {exc.__class__.__name__}: {exc}"
    return None
