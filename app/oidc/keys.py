"""Signing keys: generation, the JWKS, and verification with the algorithm pinned to each key.

Pinning matters: a verifier that lets the token header pick the algorithm accepts an HMAC signature
keyed with the public RSA key (CVE-2024-37568), or `alg: none`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, KeySet, RSAKey

SIGNING_ALGS = ("RS256", "ES256")


class TokenInvalid(Exception):
    """A JWT we were handed is not one we signed, or is malformed."""


@dataclass(frozen=True)
class KeyEntry:
    kid: str
    alg: str
    private: RSAKey | ECKey | None
    public_jwk: dict[str, Any]
    active_from: int
    retire_after: int | None

    def published_at(self, now: int) -> bool:
        return self.retire_after is None or now <= self.retire_after


def generate_key(alg: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new key pair: (kid, private JWK, public JWK)."""
    if alg == "RS256":
        key: RSAKey | ECKey = RSAKey.generate_key(2048, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {', '.join(SIGNING_ALGS)}")
    public = key.as_dict(private=False)
    kid = hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:16]
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    private = key.as_dict(private=True)
    private.update({"kid": kid, "alg": alg})
    return kid, private, public


def import_private(jwk: dict[str, Any]) -> RSAKey | ECKey:
    if jwk.get("kty") == "RSA":
        return RSAKey.import_key(jwk)
    if jwk.get("kty") == "EC":
        return ECKey.import_key(jwk)
    raise ValueError("signing keys are RSA or EC")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@dataclass(frozen=True)
class CompactSigner:
    """One key's JWS compact serialization for one `typ`: the header's segment encoded once, the signature made
    by joserfc's algorithm. The token endpoint signs thousands of JWTs a second with the same few headers, and
    joserfc's `jwt.encode` checked and encoded the header and the key anew each time: a fifth of a
    client_credentials grant's instructions (bench/token_cost.py)."""

    header_segment: bytes
    algorithm: JWSAlgModel
    key: RSAKey | ECKey

    @classmethod
    def for_key(cls, entry: KeyEntry, typ: str) -> CompactSigner:
        assert entry.private is not None
        algorithm = jws.default_registry.get_alg(entry.alg)
        algorithm.check_key(entry.private)  # what joserfc checks at each signature, once per key
        header = {"typ": typ, "alg": entry.alg, "kid": entry.kid}
        return cls(_b64(json.dumps(header, separators=(",", ":")).encode()), algorithm, entry.private)

    def sign(self, claims: dict[str, Any]) -> str:
        payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
        signing_input = self.header_segment + b"." + _b64(payload)
        return (signing_input + b"." + _b64(self.algorithm.sign(signing_input, self.key))).decode()


class KeyRing:
    """The keys in force at one moment: which one signs for an algorithm, which ones verify."""

    def __init__(self, entries: list[KeyEntry]) -> None:
        self.entries = entries
        self._by_kid = {e.kid: e for e in entries}
        self._signers: dict[tuple[str, str], CompactSigner] = {}

    def signer(self, alg: str, now: int) -> KeyEntry:
        candidates = [e for e in self.entries if e.alg == alg and e.active_from <= now and e.private]
        if not candidates:
            raise LookupError(f"no active {alg} signing key; run `sso-broker keys rotate --alg {alg} --now`")
        return max(candidates, key=lambda e: e.active_from)

    def jwks(self, now: int) -> dict[str, Any]:
        return {"keys": [e.public_jwk for e in self.entries if e.published_at(now)]}

    def sign(self, claims: dict[str, Any], alg: str, now: int, typ: str = "JWT") -> str:
        entry = self.signer(alg, now)
        signer = self._signers.get((entry.kid, typ))
        if signer is None:
            signer = self._signers[(entry.kid, typ)] = CompactSigner.for_key(entry, typ)
        return signer.sign(claims)

    def verify(self, token: str, now: int, expected_typ: str | None = None) -> dict[str, Any]:
        """Verify a JWT we signed; the key is found by kid and its own algorithm is the only one allowed."""
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise TokenInvalid("malformed token") from exc
        entry = self._by_kid.get(str(header.get("kid", "")))
        if entry is None or not entry.published_at(now):
            raise TokenInvalid("unknown signing key")
        if header.get("alg") != entry.alg:
            raise TokenInvalid(f"algorithm {header.get('alg')!r} is not the key's {entry.alg}")
        if expected_typ and str(header.get("typ", "")).lower() != expected_typ.lower():
            raise TokenInvalid(f"token type is not {expected_typ}")
        public = KeySet.import_key_set({"keys": [entry.public_jwk]})
        try:
            return dict(jwt.decode(token, public, algorithms=[entry.alg]).claims)
        except (JoseError, ValueError) as exc:
            raise TokenInvalid("bad signature") from exc
