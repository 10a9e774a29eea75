"""`sso-broker client`: OpenID Connect clients (relying parties)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.common import CliError, emit, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def cmd_client_add(args: argparse.Namespace) -> None:
    from app.applications.clients import ClientService, ClientSpec, describe
    from app.audit.trail import record

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
        backchannel_logout_uri=args.backchannel_logout_uri, frontchannel_logout_uri=args.frontchannel_logout_uri,
        id_token_alg=args.id_token_alg,
        require_mfa=args.require_mfa, allowed_units=args.unit or [], allowed_groups=args.group or [],
        launch_url=args.launch_url, connector=args.connector,
    )
    broker = open_broker()
    with broker.db.session() as s:
        if args.scim_unit:
            from app.cli.governance import unit_coded

            spec.scim_unit_id = unit_coded(s, args.scim_unit).id
        row, secret = ClientService(broker.clients).add(s, spec)
        record(s, "client.created", os_actor(), target=row.client_id, details={"name": row.name})
        data = describe(row, secret)
    data["issuer"] = broker.issuer
    emit(args, data, f"client {row.client_id} registered" + (f"\nclient_secret: {secret}  (shown once)"
                                                               if secret else ""))


def cmd_client_list(args: argparse.Namespace) -> None:
    from app.applications.clients import ClientService, describe

    broker = open_broker()
    with broker.db.session() as s:
        rows = [describe(r) for r in ClientService(broker.clients).list(s)]
    lines = [f"{r['client_id']:<24} {r['token_endpoint_auth_method']:<20} "
             f"{'first-party' if r['first_party'] else 'third-party':<12} {' '.join(r['redirect_uris'])}"
             for r in rows]
    emit(args, rows, "\n".join(lines) or "no clients registered")


def cmd_client_rotate(args: argparse.Namespace) -> None:
    from app.applications.clients import ClientService
    from app.audit.trail import record

    broker = open_broker()
    with broker.db.session() as s:
        secret = ClientService(broker.clients).rotate_secret(s, args.client_id)
        record(s, "client.secret_rotated", os_actor(), target=args.client_id)
    emit(args, {"client_id": args.client_id, "client_secret": secret},
          f"new client_secret for {args.client_id}: {secret}  (shown once; the old one no longer works)")


def cmd_client_remove(args: argparse.Namespace) -> None:
    from app.applications.clients import ClientService
    from app.audit.trail import record

    broker = open_broker()
    with broker.db.session() as s:
        ClientService(broker.clients).remove(s, args.client_id)
        record(s, "client.removed", os_actor(), target=args.client_id)
    print(f"client {args.client_id} removed, with its tokens and consents")


def register(sub: Any, add: Add) -> Any:
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
    p.add_argument("--frontchannel-logout-uri", help="for an RP the broker cannot reach: loaded by the browser")
    p.add_argument("--id-token-alg", default="RS256", choices=["RS256", "ES256"])
    p.add_argument("--require-mfa", action="store_true", help="every login to this client needs a second factor")
    p.add_argument("--unit", action="append", help="a unit code whose officials (and its subunits') may use it")
    p.add_argument("--group", action="append", help="a group whose members may use it")
    p.add_argument("--launch-url", help="show the client in the portal's launcher, opening this URL")
    p.add_argument("--connector", help="show it in the launcher only to officials with an account in this target")
    p.add_argument("--scim-unit", help="unit code: a SCIM client (scopes scim) manages this unit's subtree")
    add(client, "list", cmd_client_list, "list clients", json_flag=True)
    p = add(client, "rotate-secret", cmd_client_rotate, "issue a new secret", json_flag=True)
    p.add_argument("client_id")
    p = add(client, "remove", cmd_client_remove, "remove a client with its tokens")
    p.add_argument("client_id")
    return client
