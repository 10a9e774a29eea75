"""The JWTs we mint: RFC 9068 access tokens, ID tokens, back-channel logout tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from app.oidc.keys import KeyRing

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    access_token_ttl: int
    id_token_ttl: int
    code_ttl: int
    refresh_token_ttl: int
    access_token_alg: str
    id_token_alg: str
    # Refresh tokens without offline_access end with the SSO session; this caps their life.
    session_refresh_ttl: int


def half_hash(value: str, alg: str) -> str:
    """at_hash / c_hash: the left half of the digest matching the signing algorithm (both ours use SHA-256)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class TokenMinter:
    def __init__(self, keys: KeyRing, policy: TokenPolicy) -> None:
        self.keys = keys
        self.policy = policy

    def access_token(self, *, client_id: str, sub: str, scope: str, now: int,
                     extra: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        claims: dict[str, Any] = {
            "iss": self.policy.issuer,
            "sub": sub,
            "aud": client_id,
            "client_id": client_id,
            "iat": now,
            "exp": now + self.policy.access_token_ttl,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
        }
        claims.update(extra)
        token = self.keys.sign(claims, self.policy.access_token_alg, now, typ="at+jwt")
        return token, claims

    def id_token(self, *, client_id: str, alg: str, claims: dict[str, Any], now: int,
                 access_token: str | None) -> str:
        body = dict(claims)
        body.update(iss=self.policy.issuer, aud=client_id, iat=now, exp=now + self.policy.id_token_ttl)
        if access_token:
            body["at_hash"] = half_hash(access_token, alg)
        return self.keys.sign(body, alg, now)

    def logout_token(self, *, client_id: str, sub: str, sid: str, now: int) -> str:
        claims = {
            "iss": self.policy.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "sub": sub,
            "sid": sid,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        return self.keys.sign(claims, self.policy.id_token_alg, now, typ="logout+jwt")
