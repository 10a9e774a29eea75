"""The relying-party side of OpenID Connect toward one upstream provider: discovery, the authorization request
(state, nonce, PKCE S256), the code exchange, and the checks on ID and logout tokens (RFC 9700 §4.4, OIDC Core
§3.1.3.7, Back-Channel Logout §2.6). No web framework, no database: the caller keeps state and nonce."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, import_key

from app.cache import TtlCache
from app.upstream.config import ProviderConfig

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_ID_TOKEN_AGE = 600  # an ID token issued longer ago than this (plus the skew) is not a fresh login
MAX_RESPONSE_BYTES = 256 * 1024


class UpstreamError(Exception):
    """A login at the provider that cannot be accepted. `reason` is a short code for the audit trail and the
    page; the message says what was wrong, for the operator's log."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    iss_parameter_supported: bool
    userinfo_endpoint: str | None = None


@dataclass(frozen=True)
class UpstreamIdentity:
    subject: str
    national_id: str | None
    name: str
    birthdate: str | None
    email: str | None
    acr: str | None
    amr: tuple[str, ...]
    sid: str | None
    id_token: str
    claims: dict[str, Any] = field(repr=False, default_factory=dict)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OidcRelyingParty:
    def __init__(self, config: ProviderConfig, client_secret: str | None, private_jwk: dict[str, Any] | None,
                 redirect_uri: str, http: httpx.Client, metadata_cache: TtlCache[ProviderMetadata],
                 jwks_cache: TtlCache[dict[str, Any]], clock: Callable[[], float] = time.time) -> None:
        self.config, self.client_secret, self.private_jwk = config, client_secret, private_jwk
        self.redirect_uri, self.http, self.clock = redirect_uri, http, clock
        self._metadata_cache, self._jwks_cache = metadata_cache, jwks_cache

    # --- metadata -----------------------------------------------------------------------------------
    def metadata(self) -> ProviderMetadata:
        hit, cached = self._metadata_cache.get(self.config.name)
        if hit and cached is not None:
            return cached
        c = self.config
        found: dict[str, Any] = {}
        if c.discovery:
            found = self._get_json(c.issuer.rstrip("/") + "/.well-known/openid-configuration")
            # OIDC Discovery §4.3: the document must name exactly the issuer it was fetched for.
            if found.get("issuer") != c.issuer:
                raise UpstreamError("metadata", f"discovery names issuer {found.get('issuer')!r}, not {c.issuer!r}")
        try:
            metadata = ProviderMetadata(
                c.issuer, c.authorization_endpoint or found["authorization_endpoint"],
                c.token_endpoint or found["token_endpoint"], c.jwks_uri or found["jwks_uri"],
                c.end_session_endpoint or found.get("end_session_endpoint"),
                bool(found.get("authorization_response_iss_parameter_supported")), found.get("userinfo_endpoint"))
        except KeyError as exc:
            raise UpstreamError("metadata", f"discovery lacks {exc.args[0]}") from None
        self._metadata_cache.put(c.name, metadata)
        return metadata

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url, timeout=self.config.timeout)
        except httpx.HTTPError as exc:
            raise UpstreamError("unavailable", f"{url}: {type(exc).__name__}") from None
        return self._json_of(response, url)

    @staticmethod
    def _json_of(response: httpx.Response, url: str) -> dict[str, Any]:
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise UpstreamError("unavailable", f"{url}: answer too large")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError("unavailable", f"{url}: HTTP {response.status_code}, not a JSON object")
        if response.status_code >= 400:
            raise UpstreamError("refused", f"{url}: HTTP {response.status_code} {str(data.get('error'))[:100]}")
        return data

    # --- the authorization request ------------------------------------------------------------------
    def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str:
        c = self.config
        params = {"response_type": "code", "client_id": c.client_id, "redirect_uri": self.redirect_uri,
                  "scope": " ".join(c.scopes), "state": state, "nonce": nonce,
                  "code_challenge": code_challenge, "code_challenge_method": "S256"}
        if c.acr_values:
            params["acr_values"] = c.acr_values
        endpoint = self.metadata().authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: an `iss` in the answer names the provider that answered; it must be the one asked."""
        if iss is None:
            if self.metadata().iss_parameter_supported:
                raise UpstreamError("mix_up", "the provider announces RFC 9207 but its answer has no iss")
            return
        if iss != self.config.issuer:
            raise UpstreamError("mix_up", f"the answer comes from {iss!r}, the request went to {self.config.issuer!r}")

    # --- the code exchange --------------------------------------------------------------------------
    def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        metadata = self.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": code_verifier}
        auth = httpx.Auth()  # the base class adds nothing: the secret (or assertion) goes in the form
        if self.config.client_auth == "client_secret_basic":
            auth = httpx.BasicAuth(self.config.client_id, self.client_secret or "")
        elif self.config.client_auth == "client_secret_post":
            form |= {"client_id": self.config.client_id, "client_secret": self.client_secret or ""}
        else:
            form |= {"client_id": self.config.client_id, "client_assertion": self._client_assertion(metadata),
                     "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        try:
            response = self.http.post(metadata.token_endpoint, data=form, auth=auth, timeout=self.config.timeout)
        except httpx.HTTPError as exc:
            raise UpstreamError("unavailable", f"token endpoint: {type(exc).__name__}") from None
        tokens = self._json_of(response, metadata.token_endpoint)
        if not isinstance(tokens.get("id_token"), str):
            raise UpstreamError("invalid_token", "the token response has no ID token")
        return tokens

    def _client_assertion(self, metadata: ProviderMetadata) -> str:
        assert self.private_jwk is not None
        key = import_key(self.private_jwk)
        current = int(self.clock())
        claims = {"iss": self.config.client_id, "sub": self.config.client_id, "aud": metadata.token_endpoint,
                  "jti": secrets.token_urlsafe(16), "iat": current, "exp": current + 60}
        alg = self.private_jwk.get("alg", "ES256")
        return jwt.encode({"alg": alg, "kid": self.private_jwk.get("kid")}, claims, key, algorithms=[alg])

    # --- tokens -------------------------------------------------------------------------------------
    def verify_id_token(self, id_token: str, nonce: str) -> UpstreamIdentity:
        claims = self._verified_claims(id_token, "id_token")
        self._check_audience(claims)
        current, skew = self.clock(), self.config.max_clock_skew
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp < current - skew:
            raise UpstreamError("expired", "the ID token has expired")
        if not isinstance(iat, int | float) or iat > current + skew or iat < current - MAX_ID_TOKEN_AGE - skew:
            raise UpstreamError("expired", "the ID token was not issued now")
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
            raise UpstreamError("nonce", "the ID token's nonce is not this login's")
        return self._identity(claims, id_token)

    def with_userinfo(self, identity: UpstreamIdentity, access_token: str | None) -> UpstreamIdentity:
        """Claims the ID token does not carry (a provider that conforms to OIDC Core §5.4 puts profile claims in
        userinfo only), fetched with the access token; a userinfo of another subject is refused (§5.3.4)."""
        m = self.config.claims
        wanted = [name for name in (m.national_id, m.name, m.birthdate) if name and name not in identity.claims]
        endpoint = self.metadata().userinfo_endpoint
        if not wanted or not access_token or endpoint is None:
            return identity
        try:
            response = self.http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"},
                                     timeout=self.config.timeout)
        except httpx.HTTPError as exc:
            raise UpstreamError("unavailable", f"userinfo: {type(exc).__name__}") from None
        info = self._json_of(response, endpoint)
        if info.get("sub") != identity.claims.get("sub"):
            raise UpstreamError("invalid_token", "userinfo is about another subject")
        return self._identity({**info, **identity.claims}, identity.id_token)

    def verify_logout_token(self, logout_token: str) -> tuple[str | None, str | None, str]:
        """Back-Channel Logout 1.0 §2.6: the (subject, upstream sid) whose sessions end, and the token's jti."""
        claims = self._verified_claims(logout_token, "logout_token")
        self._check_audience(claims)
        current, skew = self.clock(), self.config.max_clock_skew
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or abs(current - iat) > MAX_ID_TOKEN_AGE + skew:
            raise UpstreamError("expired", "the logout token was not issued now")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise UpstreamError("invalid_token", "not a back-channel logout token (events)")
        if "nonce" in claims or not isinstance(claims.get("jti"), str):
            raise UpstreamError("invalid_token", "a logout token has a jti and no nonce")
        subject, sid = claims.get(self.config.claims.subject), claims.get("sid")
        if not isinstance(subject, str) and not isinstance(sid, str):
            raise UpstreamError("invalid_token", "the logout token names neither sub nor sid")
        return (subject if isinstance(subject, str) else None), (sid if isinstance(sid, str) else None), \
            str(claims["jti"])[:200]

    def _verified_claims(self, token: str, what: str) -> dict[str, Any]:
        alg = self.config.id_token_alg
        try:
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))
        except (ValueError, IndexError):
            raise UpstreamError("invalid_token", f"the {what} is not a JWS") from None
        used = header.get("alg") if isinstance(header, dict) else None
        if used != alg:
            raise UpstreamError("invalid_token", f"the {what} is signed with {used}, this provider is pinned to {alg}")
        for refresh in (False, True):  # a kid we do not know yet: the provider rotated its keys
            keys = self._jwks(refresh)
            kid = header.get("kid")
            if kid is not None and not any(k.get("kid") == kid for k in keys.get("keys", [])) and not refresh:
                continue
            try:
                decoded = jwt.decode(token, KeySet.import_key_set(keys), algorithms=[alg])  # type: ignore[arg-type]
            except (JoseError, ValueError) as exc:
                if refresh:
                    raise UpstreamError("invalid_token", f"the {what}'s signature does not verify ({exc})") from None
                continue
            claims = dict(decoded.claims)
            if claims.get("iss") != self.config.issuer:
                raise UpstreamError("mix_up", f"the {what} was issued by {claims.get('iss')!r}, "
                                              f"not {self.config.issuer!r}")
            return claims
        raise UpstreamError("invalid_token", f"the {what} is signed with a key the provider does not publish")

    def _jwks(self, refresh: bool) -> dict[str, Any]:
        hit, cached = self._jwks_cache.get(self.config.name)
        if hit and cached is not None and not refresh:
            return cached
        keys = self._get_json(self.metadata().jwks_uri)
        if not isinstance(keys.get("keys"), list):
            raise UpstreamError("unavailable", "the provider's JWKS has no keys")
        # Only public asymmetric keys: an "oct" key in a JWKS would let the HMAC confusion back in.
        keys = {"keys": [k for k in keys["keys"] if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "OKP")
                         and "d" not in k]}
        self._jwks_cache.put(self.config.name, keys)
        return keys

    def _check_audience(self, claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        client_id = self.config.client_id
        if client_id not in audiences:
            raise UpstreamError("audience", "the token is not meant for this broker (aud)")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != client_id:
            raise UpstreamError("audience", "the token was obtained by another client (azp)")

    def _identity(self, claims: dict[str, Any], id_token: str) -> UpstreamIdentity:
        m = self.config.claims

        def text(name: str | None) -> str | None:
            value = claims.get(name) if name else None
            return str(value).strip()[:300] if isinstance(value, str | int) and str(value).strip() else None

        subject = text(m.subject)
        if subject is None:
            raise UpstreamError("invalid_token", f"the ID token has no {m.subject}")
        amr = claims.get("amr")
        return UpstreamIdentity(
            subject=subject, national_id=text(m.national_id), name=text(m.name) or "", birthdate=text(m.birthdate),
            email=text(m.email), acr=text("acr"),
            amr=tuple(str(v)[:40] for v in amr[:10]) if isinstance(amr, list) else (), sid=text("sid"),
            id_token=id_token, claims=claims)

    def end_session_url(self, id_token_hint: str, post_logout_redirect_uri: str, state: str) -> str | None:
        """RP-Initiated Logout 1.0 at the provider; it comes back to the registered URI (exactly) with state."""
        endpoint = self.metadata().end_session_endpoint
        if endpoint is None:
            return None
        query = urlencode({"id_token_hint": id_token_hint, "post_logout_redirect_uri": post_logout_redirect_uri,
                           "client_id": self.config.client_id, "state": state})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
