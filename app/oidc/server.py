"""Authlib's authorization server bound to our storage, keys and token policy.

One grant or endpoint per class, as Authlib shapes them; each overrides only the storage hooks and the
places where RFC 9700 asks for more than Authlib's defaults (S256-only PKCE, code replay revoking what
the code issued, refresh-token rotation with reuse detection, pinned algorithms for client assertions).
"""

from __future__ import annotations

import secrets
import time
from functools import lru_cache
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.crypto import token_digest
from app.oidc.claims import SCOPES_SUPPORTED, scope_claims
from app.oidc.http import BrokerOAuth2Request, HttpRequest, ProtocolResponse
from app.oidc.keys import KeyRing, TokenInvalid
from app.oidc.models import (
    PRIVATE_KEY_JWT,
    AccessTokenRecord,
    AuthContext,
    ClientInfo,
    CodeRecord,
    GrantRecord,
    IssuedTokens,
    RefreshRecord,
    Subject,
)
from app.oidc.storage import OIDCStorage
from app.oidc.tokens import TokenMinter, TokenPolicy

SECRET_METHODS = ["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT]
ALL_METHODS = [*SECRET_METHODS, "none"]
ASSERTION_ALGS = ["RS256", "PS256", "ES256"]


class OIDCProvider(AuthorizationServer):  # type: ignore[misc]
    """One per request: cheap to build, and it holds that request's storage (its DB session)."""

    def __init__(self, storage: OIDCStorage, keys: KeyRing, policy: TokenPolicy) -> None:
        super().__init__(scopes_supported=list(SCOPES_SUPPORTED))
        self.storage = storage
        self.keys = keys
        self.policy = policy
        self.minter = TokenMinter(keys, policy)
        self.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT(self))
        # The grants and their extensions hold no request state: registered once for every provider.
        self._authorization_grants, self._token_grants = _registered_grants()
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # --- Authlib's framework hooks -------------------------------------------------------------
    def query_client(self, client_id: str) -> ClientInfo | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 100:
            return None
        return self.storage.get_client(client_id)

    def save_token(self, token: dict[str, Any], request: BrokerOAuth2Request) -> None:
        code = request.authorization_code
        request.saved = self.storage.save_issued(request.issued, code.code_digest if code else None)

    def create_oauth2_request(self, request: Any) -> BrokerOAuth2Request:
        if isinstance(request, BrokerOAuth2Request):
            return request
        assert isinstance(request, HttpRequest)
        return BrokerOAuth2Request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> ProtocolResponse:
        return ProtocolResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope and not set(scope.split()) <= set(SCOPES_SUPPORTED):
            raise InvalidScopeError("The requested scope is not supported.")

    # --- token minting ---------------------------------------------------------------------------
    def mint(self, request: BrokerOAuth2Request, grant_type: str, scope: str,
             include_refresh_token: bool) -> dict[str, Any]:
        now = int(time.time())
        client: ClientInfo = request.client
        if grant_type == "client_credentials":
            access, claims = self.minter.access_token(
                client_id=client.client_id, sub=client.client_id, scope=scope, now=now, extra={}
            )
            request.issued = IssuedTokens(access_claims=claims)
            return _token_response(access, self.policy.access_token_ttl, scope)

        if grant_type == "authorization_code":
            ctx = request.authorization_code.context
            grant = GrantRecord(
                id=request.authorization_code.grant_id, client_id=client.client_id, subject_id=ctx.subject_id,
                sid=ctx.sid, scope=scope, auth_time=ctx.auth_time, acr=ctx.acr, amr=ctx.amr,
                offline="offline_access" in scope.split(),
            )
        else:
            grant = request.refresh_token.grant
            ctx = grant.context
        extra = {"auth_time": ctx.auth_time, "acr": ctx.acr, "amr": list(ctx.amr), "gid": grant.id}
        if ctx.sid:
            extra["sid"] = ctx.sid
        access, claims = self.minter.access_token(
            client_id=client.client_id, sub=ctx.subject_id, scope=scope, now=now, extra=extra
        )
        issued = IssuedTokens(grant=grant, access_claims=claims, refresh_scope=scope)
        if grant_type == "refresh_token":
            issued.replaces_refresh_digest = request.refresh_token.token_digest
        response = _token_response(access, self.policy.access_token_ttl, scope)
        if include_refresh_token:
            refresh = secrets.token_urlsafe(32)
            ttl = self.policy.refresh_token_ttl if grant.offline else self.policy.session_refresh_ttl
            issued.refresh_digest = token_digest(refresh)
            issued.refresh_expires_at = now + ttl
            response["refresh_token"] = refresh
        request.issued = issued
        return response

    def id_token_for(self, request: BrokerOAuth2Request, token: dict[str, Any], ctx: AuthContext,
                     nonce: str | None) -> str:
        client: ClientInfo = request.client
        subject: Subject = request.user
        scopes = set(str(token.get("scope", "")).split())
        claims = scope_claims(subject, scopes)
        claims.update(auth_time=ctx.auth_time, acr=ctx.acr, amr=list(ctx.amr))
        if ctx.sid:
            claims["sid"] = ctx.sid
        if nonce:
            claims["nonce"] = nonce
        return self.minter.id_token(
            client_id=client.client_id, alg=client.id_token_signed_response_alg, claims=claims,
            now=int(time.time()), access_token=token.get("access_token"),
        )

    # --- resource side: the bearer tokens we issued -------------------------------------------
    def read_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of a valid, unexpired, unrevoked access token we issued; None otherwise."""
        try:
            claims = self.keys.verify(token, int(time.time()), expected_typ="at+jwt")
        except TokenInvalid:
            return None
        if claims.get("iss") != self.policy.issuer or int(claims.get("exp", 0)) <= time.time():
            return None
        if self.storage.is_access_token_revoked(str(claims.get("jti")), claims.get("gid")):
            return None
        return claims

    def userinfo(self, token: str) -> dict[str, Any] | None:
        claims = self.read_access_token(token)
        if not claims or "openid" not in str(claims.get("scope", "")).split():
            return None
        subject = self.storage.get_subject(str(claims["sub"]))
        if subject is None or not subject.enabled:
            return None
        return scope_claims(subject, set(str(claims["scope"]).split()))


@lru_cache(maxsize=1)
def _registered_grants() -> tuple[list[Any], list[Any]]:
    registry = AuthorizationServer()
    registry.register_grant(CodeGrant, [S256Challenge(), IdTokenExtension()])
    registry.register_grant(RefreshGrant, [RefreshIdToken()])
    registry.register_grant(ClientCredentials)
    return registry._authorization_grants, registry._token_grants


def _token_response(access_token: str, ttl: int, scope: str) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl}
    if scope:
        body["scope"] = scope
    return body


class _Minting:
    request: BrokerOAuth2Request
    server: OIDCProvider
    GRANT_TYPE: str

    def generate_token(self, user: Any = None, scope: str | None = None, grant_type: str | None = None,
                       expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        return self.server.mint(self.request, grant_type or self.GRANT_TYPE, scope or "", include_refresh_token)


def _enabled_subject(storage: OIDCStorage, subject_id: str) -> Subject | None:
    subject = storage.get_subject(subject_id)
    return subject if subject and subject.enabled else None


class CodeGrant(_Minting, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        scope = self.request.payload.scope
        if not scope or "openid" not in scope.split():
            raise InvalidScopeError("This provider serves OpenID Connect: the scope must include 'openid'.")

    def generate_authorization_code(self) -> str:
        # 288 random bits, as Authlib's 48 characters give, from one call to the OS instead of one per character.
        return secrets.token_urlsafe(36)

    def save_authorization_code(self, code: str, request: BrokerOAuth2Request) -> None:
        ctx: AuthContext = request.user
        data = request.payload.data
        self.server.storage.save_code(CodeRecord(
            code_digest=token_digest(code), client_id=request.client.client_id, subject_id=ctx.subject_id,
            redirect_uri=request.payload.redirect_uri, scope=request.scope or "", nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
            sid=ctx.sid, auth_time=ctx.auth_time, acr=ctx.acr, amr=ctx.amr,
            expires_at=int(time.time()) + self.server.policy.code_ttl,
        ))

    def query_authorization_code(self, code: str, client: ClientInfo) -> CodeRecord | None:
        if not isinstance(code, str) or len(code) > 200:
            return None
        grant_id = secrets.token_urlsafe(18)
        record, replayed = self.server.storage.claim_code(token_digest(code), client.client_id, grant_id)
        if replayed or record is None or record.expires_at <= time.time():
            return None
        return record

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Already marked used by `claim_code`, in the same transaction."""

    def authenticate_user(self, authorization_code: CodeRecord) -> Subject | None:
        return _enabled_subject(self.server.storage, authorization_code.subject_id)


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only (RFC 9700 §2.1.1); required for public clients and for clients that ask for it."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: CodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        client: ClientInfo = grant.request.client
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256; 'plain' is not accepted.")
        if not data.get("code_challenge") and (client.is_public or client.require_pkce):
            raise InvalidRequestError("This client must use PKCE: send code_challenge with method S256.")
        super().validate_code_challenge(grant, redirect_uri)


class IdTokenExtension(OpenIDCode):  # type: ignore[misc]
    def exists_nonce(self, nonce: str, request: BrokerOAuth2Request) -> bool:
        # Codes are single-use, so a replayed nonce cannot yield a second ID token.
        return False

    def process_token(self, grant: CodeGrant, response: Any) -> Any:
        _, token, _ = response
        if "openid" in str(token.get("scope", "")).split():
            code: CodeRecord = grant.request.authorization_code
            token["id_token"] = grant.server.id_token_for(grant.request, token, code.context, code.nonce)
        return token


class RefreshGrant(_Minting, grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 200:
            return None
        record = self.server.storage.get_refresh_token(token_digest(refresh_token))
        if record is None or record.grant.revoked or record.is_expired():
            return None
        if record.rotated:
            # Reuse of a rotated token: someone holds a stolen copy. End the whole family (RFC 9700 §4.14.2).
            self.server.storage.revoke_grant(record.grant.id, "refresh_token_reuse")
            return None
        return record

    def authenticate_user(self, refresh_token: RefreshRecord) -> Subject | None:
        return _enabled_subject(self.server.storage, refresh_token.grant.subject_id)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Already rotated out by `save_issued`, unless a concurrent request had rotated it first."""
        if not self.request.saved:
            # A concurrent request already rotated it: that is reuse too.
            self.server.storage.revoke_grant(refresh_token.grant.id, "refresh_token_reuse")
            raise InvalidGrantError("The refresh token was already used.")


class RefreshIdToken:
    """A fresh ID token on refresh (OIDC Core §12.2), with the original auth_time and no nonce."""

    def __call__(self, grant: RefreshGrant) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: RefreshGrant, response: Any) -> Any:
        _, token, _ = response
        if "openid" in str(token.get("scope", "")).split():
            ctx = grant.request.refresh_token.grant.context
            token["id_token"] = grant.server.id_token_for(grant.request, token, ctx, None)
        return token


class ClientCredentials(_Minting, grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        scope = self.request.payload.scope
        if scope and ({"openid", "offline_access"} & set(scope.split())):
            raise InvalidScopeError("'openid' and 'offline_access' need an official, not a client.")
        if self.request.client.get_allowed_scope(scope) is None:
            raise InvalidScopeError("The client is not allowed this scope.")


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """private_key_jwt (RFC 7523 §2.2): the client signs with a key registered in its JWKS."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, server: OIDCProvider) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.server = server

    def get_audiences(self) -> list[str]:
        issuer = self.server.policy.issuer
        return [issuer, f"{issuer}/oauth2/token"]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        key = f"{claims['sub']}:{jti}"[:300]
        return self.server.storage.use_assertion_once(key, int(claims.get("exp", time.time() + 300)))

    def resolve_client_public_key(self, client: ClientInfo) -> KeySet:
        keys = [k for k in (client.jwks or {}).get("keys", []) if k.get("kty") in ("RSA", "EC")]
        return KeySet.import_key_set({"keys": keys})

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        from authlib.oauth2.rfc6749 import InvalidClientError

        try:
            # Asymmetric algorithms only: an HMAC "signature" keyed with a public key proves nothing.
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion is not validly signed.") from exc
        self.verify_claims(token.claims)
        return token.claims


class _TokenLookup:
    server: OIDCProvider

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        if not isinstance(token_string, str) or len(token_string) > 4096:
            return None
        if token_string.count(".") == 2:
            try:
                claims = self.server.keys.verify(token_string, int(time.time()), expected_typ="at+jwt")
            except TokenInvalid:
                return None
            revoked = self.server.storage.is_access_token_revoked(str(claims.get("jti")), claims.get("gid"))
            return AccessTokenRecord(claims=claims, revoked=revoked)
        return self.server.storage.get_refresh_token(token_digest(token_string))


class Revocation(_TokenLookup, RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ALL_METHODS

    def authenticate_token(self, request: BrokerOAuth2Request, client: ClientInfo) -> Any:
        # RFC 7009 §2.2: a token of another client is refused, but without saying whether it exists.
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is None or not token.check_client(client):
            return None
        return token

    def revoke_token(self, token: Any, request: BrokerOAuth2Request) -> None:
        if isinstance(token, AccessTokenRecord):
            self.server.storage.revoke_access_token(str(token.claims["jti"]), int(token.claims["exp"]))
        else:
            self.server.storage.revoke_grant(token.grant.id, "revoked_by_client")


class Introspection(_TokenLookup, IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = SECRET_METHODS

    def check_permission(self, token: Any, client: ClientInfo, request: BrokerOAuth2Request) -> bool:
        # Resource servers (confidential clients) may introspect access tokens; a refresh token only
        # by the client that holds it.
        return isinstance(token, AccessTokenRecord) or token.check_client(client)

    def introspect_token(self, token: Any) -> dict[str, Any]:
        if isinstance(token, AccessTokenRecord):
            c = token.claims
            body: dict[str, Any] = {
                "active": True, "token_type": "Bearer", "scope": c.get("scope", ""),
                "client_id": c["client_id"], "sub": c["sub"], "aud": c.get("aud"), "iss": c["iss"],
                "exp": c["exp"], "iat": c["iat"], "jti": c["jti"],
            }
            for claim in ("sid", "auth_time", "acr"):
                if claim in c:
                    body[claim] = c[claim]
            subject_id = c["sub"] if c.get("gid") else None
        else:
            body = {"active": True, "token_type": "refresh_token", "scope": token.scope,
                    "client_id": token.client_id, "sub": token.grant.subject_id,
                    "exp": token.expires_at, "iss": self.server.policy.issuer}
            subject_id = token.grant.subject_id
        if subject_id:
            subject = self.server.storage.get_subject(subject_id)
            if subject is None or not subject.enabled:
                return {"active": False}
            body["username"] = subject.username
            if subject.email:
                # Mail servers (Dovecot's oauth2 passdb) match the mailbox against this claim.
                body["email"] = subject.email
        return body
