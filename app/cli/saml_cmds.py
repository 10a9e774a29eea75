"""`sso-broker saml`: SAML 2.0 service providers, registered from their metadata."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.common import CliError, emit, name_pairs, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def _metadata(source: str) -> tuple[bytes, str | None]:
    from app.applications.saml_sps import fetch_metadata

    if source.startswith(("https://", "http://")):
        return fetch_metadata(source), source
    try:
        return Path(source).read_bytes(), None
    except OSError as exc:
        raise CliError(f"--metadata: cannot read {source}: {exc.strerror}") from exc


def cmd_saml_add(args: argparse.Namespace) -> None:
    from app.applications.saml_sps import SamlRegistry, SpSpec, describe
    from app.audit.trail import record

    data, url = _metadata(args.metadata)
    spec = SpSpec(id=args.id, metadata=data, metadata_url=url, name=args.name or args.id,
                  release=name_pairs(args.attribute or []),
                  nameid=args.nameid, sign_response=not args.no_sign_response,
                  encrypt_assertions=args.encrypt_assertions, require_mfa=args.require_mfa,
                  allowed_units=args.unit or [], allowed_groups=args.group or [], launch_url=args.launch_url)
    broker = open_broker()
    with broker.db.session() as s:
        row = SamlRegistry.add(s, spec, replace=args.replace)
        record(s, "saml_sp.registered", os_actor(), target=row.id, details={"entity_id": row.entity_id})
        data_out = describe(row)
    emit(args, data_out, f"SAML service provider {row.id} registered ({data_out['entity_id']})\n"
                         f"IdP metadata for it: {broker.issuer}/saml/metadata")


def cmd_saml_list(args: argparse.Namespace) -> None:
    from app.applications.saml_sps import SamlRegistry, describe

    broker = open_broker()
    with broker.db.session() as s:
        rows = [describe(r) for r in SamlRegistry.list(s)]
    emit(args, rows, "\n".join(f"{r['id']:<24} {r['entity_id']}" for r in rows) or "no SAML service providers")


def cmd_saml_remove(args: argparse.Namespace) -> None:
    from app.applications.saml_sps import SamlRegistry
    from app.audit.trail import record

    broker = open_broker()
    with broker.db.session() as s:
        SamlRegistry.remove(s, args.id)
        record(s, "saml_sp.removed", os_actor(), target=args.id)
    print(f"SAML service provider {args.id} removed")


def register(sub: Any, add: Add) -> Any:
    group = sub.add_parser("saml", help="SAML 2.0 service providers").add_subparsers(dest="action", required=True)
    p = add(group, "add", cmd_saml_add, "register a service provider from its metadata", json_flag=True)
    p.add_argument("id")
    p.add_argument("--metadata", required=True, help="the SP's metadata: a file, or an https URL")
    p.add_argument("--name")
    p.add_argument("--attribute", action="append", metavar="NAME[=OURS]",
                   help="an attribute to release (NAME may be a URI, e.g. urn:oid:0.9.2342.19200300.100.1.3=mail)")
    p.add_argument("--nameid", choices=["persistent", "transient", "email"])
    p.add_argument("--no-sign-response", action="store_true", help="sign only the assertion")
    p.add_argument("--encrypt-assertions", action="store_true", help="for the encryption key in the SP's metadata")
    p.add_argument("--require-mfa", action="store_true")
    p.add_argument("--unit", action="append")
    p.add_argument("--group", action="append")
    p.add_argument("--launch-url")
    p.add_argument("--replace", action="store_true")
    add(group, "list", cmd_saml_list, "list SAML service providers", json_flag=True)
    p = add(group, "remove", cmd_saml_remove, "remove a SAML service provider")
    p.add_argument("id")
    return group
