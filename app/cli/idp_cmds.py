"""`sso-broker idp`: upstream identity providers (VNeID, a ministry's WSO2, Entra ID, Google Workspace), and the
identities linked to officials."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.admin.identity_providers import IdentityProviders

from app.cli.common import CliError, emit, name_pairs, open_broker, os_actor

Add = Callable[..., argparse.ArgumentParser]


def _service(broker: Any, s: Any) -> IdentityProviders:
    from app.admin.identity_providers import IdentityProviders
    from app.admin.operations import Admin
    from app.admin.scope import AdminScope

    return IdentityProviders(Admin(s, AdminScope.operator(s), os_actor()), broker.upstream_providers)


def _config_from(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise CliError(f"--config {path}: {exc}") from None
    flags = {"profile": args.profile, "issuer": args.issuer, "client_id": args.client_id,
             "display_name": args.display_name, "display_name_en": args.display_name_en, "logo_url": args.logo,
             "client_auth": args.client_auth, "id_token_alg": args.alg, "acr_values": args.acr_values,
             "authorization_endpoint": args.authorization_endpoint, "token_endpoint": args.token_endpoint,
             "jwks_uri": args.jwks_uri, "end_session_endpoint": args.end_session_endpoint}
    data |= {k: v for k, v in flags.items() if v is not None}
    data.setdefault("display_name", args.name)
    if args.no_discovery:
        data["discovery"] = False
    if args.scope:
        data["scopes"] = args.scope
    if args.claim:
        data["claims"] = {**data.get("claims", {}), **dict(name_pairs(args.claim))}
    if args.level:
        data["levels"] = {**data.get("levels", {}), **dict(_pairs(args.level, "--level"))}
    if args.no_link_by_national_id:
        data["link_by_national_id"] = False
    if args.no_password_link:
        data["allow_password_link"] = False
    return {**data, "name": args.name}


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CliError(f"{flag} {item}: write UPSTREAM=OURS, e.g. LoA2=mfa")
        pairs.append((key, value))
    return pairs


def _secret(args: argparse.Namespace) -> str | None:
    if args.client_secret_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.client_secret_env:
        value = os.environ.get(args.client_secret_env)
        if not value:
            raise CliError(f"--client-secret-env {args.client_secret_env}: the variable is not set")
        return value
    return None


def cmd_idp_add(args: argparse.Namespace) -> None:
    broker = open_broker()
    data = _config_from(args)
    secret = _secret(args)
    with broker.db.session() as s:
        saved = _service(broker, s).save({**data, "client_secret": secret, "enabled": not args.disabled})
    lines = [f"identity provider {saved['name']} saved ({saved['issuer']})",
             f"register at the provider: redirect URI {saved['redirect_uri']}",
             f"post-logout redirect URI {saved['post_logout_redirect_uri']}",
             f"back-channel logout URI {saved['backchannel_logout_uri']}"]
    if saved.get("public_jwk"):
        lines.append(f"our public key (private_key_jwt): {json.dumps(saved['public_jwk'])}")
    emit(args, saved, "\n".join(lines))


def cmd_idp_list(args: argparse.Namespace) -> None:
    broker = open_broker()
    with broker.db.session() as s:
        rows = _service(broker, s).all()
    emit(args, rows, "\n".join(f"{r['name']:<16} {'enabled ' if r['enabled'] else 'disabled'} {r['issuer']}"
                               for r in rows) or "no identity providers")


def cmd_idp_test(args: argparse.Namespace) -> None:
    broker = open_broker()
    with broker.db.session() as s:
        checks = _service(broker, s).test(args.name)
    print("\n".join(f"ok  {line}" for line in checks))


def cmd_idp_remove(args: argparse.Namespace) -> None:
    if not args.yes:
        raise CliError(f"removing {args.name} also removes every identity linked through it: add --yes")
    broker = open_broker()
    with broker.db.session() as s:
        _service(broker, s).remove(args.name)
    print(f"identity provider {args.name} removed, with its linked identities")


def _official_id(broker: Any, s: Any, login: str) -> str:
    from app.identity.service import find_by_login_name

    official = find_by_login_name(s, login, broker.directories.names(s))
    if official is None:
        raise CliError(f"no official {login!r}")
    return str(official.id)


def cmd_idp_links(args: argparse.Namespace) -> None:
    broker = open_broker()
    with broker.db.session() as s:
        rows = _service(broker, s).links_of(_official_id(broker, s, args.official))
    emit(args, rows, "\n".join(f"{r['provider']:<16} {r['subject']:<40} {r['method']}" for r in rows)
         or "no linked identities")


def cmd_idp_unlink(args: argparse.Namespace) -> None:
    broker = open_broker()
    with broker.db.session() as s:
        _service(broker, s).unlink(_official_id(broker, s, args.official), args.provider, args.subject)
    print(f"{args.provider} identity {args.subject} unlinked from {args.official}")


def register(sub: Any, add: Add) -> Any:
    group = sub.add_parser("idp", help="upstream identity providers (VNeID, OpenID Connect)").add_subparsers(
        dest="action", required=True)
    p = add(group, "add", cmd_idp_add, "add or replace an upstream OpenID provider", json_flag=True)
    p.add_argument("name", help="short name, used in URLs and in idp_hint, e.g. vneid")
    p.add_argument("--config", help="a TOML or JSON file with the fields below (flags override it)")
    p.add_argument("--profile", choices=["oidc", "vneid"])
    p.add_argument("--issuer")
    p.add_argument("--client-id")
    p.add_argument("--client-secret-stdin", action="store_true")
    p.add_argument("--client-secret-env", metavar="VAR")
    p.add_argument("--client-auth", choices=["client_secret_basic", "client_secret_post", "private_key_jwt"])
    p.add_argument("--display-name", help="the login button, in Vietnamese")
    p.add_argument("--display-name-en")
    p.add_argument("--logo", help="a /static/ path or a data:image/ URI")
    p.add_argument("--scope", action="append")
    p.add_argument("--alg", help="the one algorithm its ID tokens are signed with (default RS256)")
    p.add_argument("--acr-values", help="asked of the provider, e.g. LoA2")
    p.add_argument("--claim", action="append", metavar="OURS=CLAIM",
                   help="where a value comes from: subject, national_id, name, birthdate, email")
    p.add_argument("--level", action="append", metavar="UPSTREAM=OURS",
                   help="what an upstream acr (or amr:VALUE) is worth: pwd, mfa or phr, e.g. LoA2=mfa")
    p.add_argument("--no-discovery", action="store_true")
    for endpoint in ("authorization-endpoint", "token-endpoint", "jwks-uri", "end-session-endpoint"):
        p.add_argument(f"--{endpoint}")
    p.add_argument("--no-link-by-national-id", action="store_true")
    p.add_argument("--no-password-link", action="store_true")
    p.add_argument("--disabled", action="store_true")
    add(group, "list", cmd_idp_list, "list upstream identity providers", json_flag=True)
    p = add(group, "test", cmd_idp_test, "check discovery, endpoints and keys of a provider")
    p.add_argument("name")
    p = add(group, "remove", cmd_idp_remove, "remove a provider and the identities linked through it")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    p = add(group, "links", cmd_idp_links, "the upstream identities linked to an official", json_flag=True)
    p.add_argument("official", help="login name, e.g. hieund or hieund@bacninh")
    p = add(group, "unlink", cmd_idp_unlink, "remove an identity linked to an official")
    p.add_argument("official")
    p.add_argument("provider")
    p.add_argument("subject")
    return group
