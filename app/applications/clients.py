"""Registering and changing relying parties."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import token_digest
from app.oidc.claims import SCOPES_SUPPORTED
from app.oidc.models import AUTH_METHODS, PUBLIC
from app.store.models import Client
from app.store.oidc_store import ClientCache

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{2,100}$")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class ClientError(ValueError):
    """A client registration that cannot be accepted, naming the field."""


@dataclass
class ClientSpec:
    client_id: str
    name: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile", "email", "phone", "groups",
                                                       "offline_access"])
    auth_method: str = "client_secret_basic"
    first_party: bool = False
    require_pkce: bool = True
    jwks: dict[str, Any] | None = None
    backchannel_logout_uri: str | None = None
    frontchannel_logout_uri: str | None = None
    id_token_alg: str = "RS256"
    require_mfa: bool = False
    allowed_units: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)
    launch_url: str | None = None
    connector: str | None = None
    scim_unit_id: str | None = None  # a SCIM client (personnel system) sees and writes this unit's subtree


def _check_uri(name: str, uri: str) -> None:
    parts = urlsplit(uri)
    if parts.fragment or not parts.scheme or not (parts.netloc or parts.scheme not in ("http", "https")):
        raise ClientError(f"{name}: {uri!r} must be an absolute URI without a fragment")
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1") and not host.endswith(".localhost"):
        raise ClientError(f"{name}: {uri!r} must use https (http only for loopback addresses)")
    if "*" in uri:
        raise ClientError(f"{name}: wildcards are not allowed; every URI is matched exactly")


def validate(spec: ClientSpec) -> None:
    if not CLIENT_ID_RE.match(spec.client_id):
        raise ClientError("client_id: 2-100 letters, digits, '.', '-' or '_'")
    if spec.auth_method not in AUTH_METHODS:
        raise ClientError(f"auth_method: one of {', '.join(AUTH_METHODS)}")
    bad = [g for g in spec.grant_types if g not in GRANT_TYPES]
    if bad or not spec.grant_types:
        raise ClientError(f"grant_types: choose from {', '.join(GRANT_TYPES)}")
    bad = [s for s in spec.scopes if s not in SCOPES_SUPPORTED]
    if bad:
        raise ClientError(f"scopes: unknown {', '.join(bad)}; supported: {', '.join(SCOPES_SUPPORTED)}")
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        raise ClientError("redirect_uris: at least one is needed for the authorization_code grant")
    if spec.auth_method == PUBLIC and "client_credentials" in spec.grant_types:
        raise ClientError("grant_types: a public client cannot use client_credentials")
    if spec.auth_method == "private_key_jwt" and not (spec.jwks and spec.jwks.get("keys")):
        raise ClientError("jwks: private_key_jwt needs the client's public keys")
    if spec.id_token_alg not in ("RS256", "ES256"):
        raise ClientError("id_token_alg: RS256 or ES256")
    for uri in spec.redirect_uris:
        _check_uri("redirect_uris", uri)
    for uri in spec.post_logout_redirect_uris:
        _check_uri("post_logout_redirect_uris", uri)
    if spec.backchannel_logout_uri:
        _check_uri("backchannel_logout_uri", spec.backchannel_logout_uri)
    if spec.frontchannel_logout_uri:
        _check_uri("frontchannel_logout_uri", spec.frontchannel_logout_uri)
    if spec.launch_url and not spec.launch_url.startswith(("https://", "http://")):
        raise ClientError(f"launch_url: {spec.launch_url!r} must be an http(s) URL")


def _needs_secret(auth_method: str) -> bool:
    return auth_method in ("client_secret_basic", "client_secret_post")


class ClientService:
    def __init__(self, cache: ClientCache) -> None:
        self.cache = cache

    def add(self, session: Session, spec: ClientSpec) -> tuple[Client, str | None]:
        """Register a client; returns it and its secret, shown this once and stored only as a digest."""
        validate(spec)
        if session.get(Client, spec.client_id) is not None:
            raise ClientError(f"client_id: {spec.client_id!r} is already registered")
        secret = secrets.token_urlsafe(32) if _needs_secret(spec.auth_method) else None
        row = Client(
            client_id=spec.client_id, name=spec.name or spec.client_id,
            secret_digest=token_digest(secret) if secret else None, redirect_uris=spec.redirect_uris,
            post_logout_redirect_uris=spec.post_logout_redirect_uris, grant_types=spec.grant_types,
            scopes=spec.scopes, token_endpoint_auth_method=spec.auth_method, first_party=spec.first_party,
            require_pkce=spec.require_pkce or spec.auth_method == PUBLIC, jwks=spec.jwks,
            backchannel_logout_uri=spec.backchannel_logout_uri, frontchannel_logout_uri=spec.frontchannel_logout_uri,
            id_token_signed_response_alg=spec.id_token_alg,
            require_mfa=spec.require_mfa, allowed_units=spec.allowed_units, allowed_groups=spec.allowed_groups,
            launch_url=spec.launch_url, connector=spec.connector,
            scim_unit_id=spec.scim_unit_id,
        )
        session.add(row)
        session.flush()
        self.cache.clear()
        return row, secret

    def rotate_secret(self, session: Session, client_id: str) -> str:
        row = self._get(session, client_id)
        if not _needs_secret(row.token_endpoint_auth_method):
            raise ClientError(f"client {client_id!r} authenticates with {row.token_endpoint_auth_method}, "
                              "not a secret")
        secret = secrets.token_urlsafe(32)
        row.secret_digest = token_digest(secret)
        self.cache.clear()
        return secret

    def remove(self, session: Session, client_id: str) -> None:
        session.delete(self._get(session, client_id))
        self.cache.clear()

    def list(self, session: Session) -> list[Client]:
        return list(session.scalars(select(Client).order_by(Client.client_id)).all())

    @staticmethod
    def _get(session: Session, client_id: str) -> Client:
        row = session.get(Client, client_id)
        if row is None:
            raise ClientError(f"no client with client_id {client_id!r}")
        return row


def describe(row: Client, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "client_id": row.client_id, "name": row.name, "redirect_uris": row.redirect_uris,
        "post_logout_redirect_uris": row.post_logout_redirect_uris, "grant_types": row.grant_types,
        "scopes": row.scopes, "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "first_party": row.first_party, "require_pkce": row.require_pkce,
        "backchannel_logout_uri": row.backchannel_logout_uri, "frontchannel_logout_uri": row.frontchannel_logout_uri,
        "id_token_signed_response_alg": row.id_token_signed_response_alg, "require_mfa": row.require_mfa,
        "allowed_units": list(row.allowed_units or []), "allowed_groups": list(row.allowed_groups or []),
        "launch_url": row.launch_url, "connector": row.connector,
    }
    if secret:
        out["client_secret"] = secret
    return out
