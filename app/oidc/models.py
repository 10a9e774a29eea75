"""What the protocol layer needs to know about clients, subjects, codes and tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin, scope_to_list

from app.crypto import digest_matches

PUBLIC = "none"
PRIVATE_KEY_JWT = "private_key_jwt"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT, PUBLIC)


@dataclass(frozen=True)
class ClientInfo(ClientMixin):  # type: ignore[misc]
    client_id: str
    name: str
    secret_digest: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    token_endpoint_auth_method: str
    first_party: bool = False
    require_pkce: bool = True
    jwks: dict[str, Any] | None = None
    backchannel_logout_uri: str | None = None
    id_token_signed_response_alg: str = "RS256"
    require_mfa: bool = False
    allowed_units: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC requires redirect_uri on every request: never guess one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        requested = scope_to_list(scope) or []
        if any(s not in self.scopes for s in requested):
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 9700 §4.1.3: exact string comparison, no prefix or wildcard matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return digest_matches(client_secret, self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A secret proves the same thing in the header or the body: accept both, as most providers do.
        if method in SECRET_METHODS and self.token_endpoint_auth_method in SECRET_METHODS:
            return True
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass(frozen=True)
class UnitInfo:
    id: str
    name: str
    code: str
    path: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Subject:
    """An official as the protocol sees them; `id` is the `sub`."""

    id: str
    username: str
    display_name: str
    given_name: str = ""
    family_name: str = ""
    middle_name: str = ""
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    unit: UnitInfo | None = None
    groups: tuple[str, ...] = ()
    updated_at: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class AuthContext:
    """Who logged in and how: carried from the SSO session into codes, grants and tokens."""

    subject_id: str
    sid: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]


@dataclass
class CodeRecord(AuthorizationCodeMixin):  # type: ignore[misc]
    code_digest: str
    client_id: str
    subject_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    sid: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    expires_at: int
    # The grant this code is redeemed for, fixed when the code is claimed.
    grant_id: str = ""

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)

    @property
    def context(self) -> AuthContext:
        return AuthContext(self.subject_id, self.sid, self.auth_time, self.acr, self.amr)


@dataclass(frozen=True)
class GrantRecord:
    id: str
    client_id: str
    subject_id: str
    sid: str | None
    scope: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    offline: bool
    revoked: bool = False

    @property
    def context(self) -> AuthContext:
        return AuthContext(self.subject_id, self.sid or "", self.auth_time, self.acr, self.amr)


@dataclass
class RefreshRecord(TokenMixin):  # type: ignore[misc]
    token_digest: str
    grant: GrantRecord
    client_id: str
    scope: str
    expires_at: int
    rotated: bool

    def check_client(self, client: ClientInfo) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, self.expires_at - int(time.time()))

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.grant.revoked or self.rotated


@dataclass
class AccessTokenRecord(TokenMixin):  # type: ignore[misc]
    """A verified JWT access token, for introspection and revocation."""

    claims: dict[str, Any]
    revoked: bool = False

    def check_client(self, client: ClientInfo) -> bool:
        return self.claims.get("client_id") == client.client_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"]) - int(time.time()))

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class IssuedTokens:
    """What the token endpoint produced, for the storage to persist in the request's transaction."""

    grant: GrantRecord | None = None
    refresh_digest: str | None = None
    refresh_expires_at: int = 0
    refresh_scope: str = ""
    access_claims: dict[str, Any] = field(default_factory=dict)
    replaces_refresh_digest: str | None = None  # a refresh grant: the token this one rotates out
