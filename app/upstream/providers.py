"""Configured upstream providers: stored with their client secret (or private key) sealed, and the relying
party that talks to each. Metadata and keys are remembered per process for minutes only."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.cache import TtlCache
from app.crypto import SecretBox
from app.oidc.keys import generate_key
from app.upstream.client import OidcRelyingParty, ProviderMetadata, UpstreamError
from app.upstream.config import ProviderConfig, ProviderConfigError, parse_config
from app.upstream.models import IdentityProvider, LinkOffer, UpstreamLink, UpstreamLogin, UpstreamSession


class UpstreamProviders:
    def __init__(self, box: SecretBox, issuer: str, allow_http_loopback: bool = False,
                 cache_ttl: float = 5.0) -> None:
        self.box, self.issuer, self.allow_http_loopback = box, issuer, allow_http_loopback
        self._rows: TtlCache[list[tuple[ProviderConfig, bool]]] = TtlCache(cache_ttl)
        self._metadata: TtlCache[ProviderMetadata] = TtlCache(300)
        self._jwks: TtlCache[dict[str, Any]] = TtlCache(300)
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    # --- the registry --------------------------------------------------------------------------------
    def save(self, session: Session, data: dict[str, Any], client_secret: str | None,
             enabled: bool = True) -> tuple[IdentityProvider, dict[str, Any] | None]:
        """Add or replace a provider; for private_key_jwt a key pair is made once, and its public half
        returned (to register at the provider)."""
        config = parse_config(data, self.allow_http_loopback)
        row = session.get(IdentityProvider, config.name)
        if config.client_auth.startswith("client_secret") and not client_secret and (
                row is None or row.client_secret_sealed is None):
            raise ProviderConfigError(f"client_auth {config.client_auth} needs a client secret")
        if row is None:
            row = IdentityProvider(name=config.name, config={})
            session.add(row)
        row.config, row.enabled = config.model_dump(mode="json", exclude_defaults=False), enabled
        if client_secret:
            row.client_secret_sealed = self.box.seal(client_secret.encode())
        public: dict[str, Any] | None = None
        if config.client_auth == "private_key_jwt" and row.private_key_sealed is None:
            kid, private, public = generate_key("ES256")
            row.private_key_sealed = self.box.seal(json.dumps(private).encode())
        session.flush()
        self.forget(config.name)
        return row, public

    def remove(self, session: Session, name: str) -> bool:
        row = session.get(IdentityProvider, name)
        if row is None:
            return False
        for model in (UpstreamLink, UpstreamLogin, LinkOffer, UpstreamSession):
            session.execute(delete(model).where(model.provider == name))
        session.delete(row)
        self.forget(name)
        return True

    def forget(self, name: str) -> None:
        self._rows.clear()
        for cache in (self._metadata, self._jwks):
            cache.put(name, None)

    def all(self, session: Session) -> list[tuple[ProviderConfig, bool]]:
        hit, cached = self._rows.get("all")
        if hit and cached is not None:
            return cached
        found = [(ProviderConfig.model_validate(row.config), row.enabled)
                 for row in session.scalars(select(IdentityProvider).order_by(IdentityProvider.name))]
        self._rows.put("all", found)
        return found

    def enabled(self, session: Session) -> list[ProviderConfig]:
        """The buttons of the login page."""
        return [config for config, enabled in self.all(session) if enabled]

    def config(self, session: Session, name: str) -> ProviderConfig | None:
        return next((c for c in self.enabled(session) if c.name == name), None)

    def public_key(self, session: Session, name: str) -> dict[str, Any] | None:
        row = session.get(IdentityProvider, name)
        if row is None or row.private_key_sealed is None:
            return None
        private = json.loads(self.box.open(row.private_key_sealed))
        return {**{k: v for k, v in private.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}, "use": "sig"}

    # --- talking to one ------------------------------------------------------------------------------
    def redirect_uri(self, name: str) -> str:
        # One callback per provider: an answer arriving at A's address is only ever checked as A's (mix-up).
        return f"{self.issuer}/login/idp/{name}/callback"

    def relying_party(self, session: Session, name: str) -> OidcRelyingParty:
        config = self.config(session, name)
        row = session.get(IdentityProvider, name)
        if config is None or row is None:
            raise UpstreamError("unknown", f"no enabled identity provider named {name!r}")
        secret = self.box.open(row.client_secret_sealed).decode() if row.client_secret_sealed else None
        private = json.loads(self.box.open(row.private_key_sealed)) if row.private_key_sealed else None
        return OidcRelyingParty(config, secret, private, self.redirect_uri(name), self.http, self._metadata,
                                self._jwks)

    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                # No redirects followed: a provider's endpoints answer themselves.
                self._http = httpx.Client(follow_redirects=False, headers={"User-Agent": "sso-broker"})
            return self._http

    def test(self, session: Session, name: str) -> list[str]:
        """What an operator checks before the button goes live: discovery, the endpoints, the keys."""
        self.forget(name)
        rp = self.relying_party(session, name)
        metadata = rp.metadata()
        keys = rp._jwks(refresh=True)
        pinned = rp.config.id_token_alg
        usable = [k for k in keys["keys"] if k.get("alg") in (None, pinned)]
        if not usable:
            raise UpstreamError("metadata", f"the provider publishes no key for {pinned}")
        return [f"issuer {metadata.issuer}", f"authorization endpoint {metadata.authorization_endpoint}",
                f"token endpoint {metadata.token_endpoint}", f"{len(usable)} signing key(s) for {pinned}",
                f"end session endpoint {metadata.end_session_endpoint or 'none (no upstream logout)'}",
                f"redirect URI to register: {self.redirect_uri(name)}",
                f"post-logout redirect URI: {self.issuer}/login/idp/{name}/signed-out",
                f"back-channel logout URI: {self.issuer}/login/idp/{name}/backchannel-logout"]
