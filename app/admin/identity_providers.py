"""Admin operations on upstream identity providers (the province's: the clients permission) and on the
identities linked to officials (the official's unit: read to see, write to remove)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from app.admin import scope as perm
from app.admin.errors import AdminError, NotFound
from app.admin.operations import Admin
from app.audit.trail import record
from app.upstream import links
from app.upstream.client import UpstreamError
from app.upstream.config import ProviderConfig, ProviderConfigError
from app.upstream.providers import UpstreamProviders

SECRET_FIELDS = ("client_secret",)


def describe(config: ProviderConfig, enabled: bool, providers: UpstreamProviders) -> dict[str, Any]:
    base = f"{providers.issuer}/login/idp/{config.name}"
    return {**config.model_dump(mode="json"), "enabled": enabled, "redirect_uri": providers.redirect_uri(config.name),
            "post_logout_redirect_uri": f"{base}/signed-out", "backchannel_logout_uri": f"{base}/backchannel-logout"}


class IdentityProviders:
    def __init__(self, admin: Admin, providers: UpstreamProviders) -> None:
        self.admin, self.providers = admin, providers
        self.s: Session = admin.s

    def all(self) -> list[dict[str, Any]]:
        self.admin.scope.require(perm.READ, None)
        return [describe(c, enabled, self.providers) for c, enabled in self.providers.all(self.s)]

    def save(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add or replace one; the client secret is sealed and never shown again. For private_key_jwt the
        answer carries the public key to register at the provider (also at /login/idp/NAME/jwks)."""
        self.admin.scope.require(perm.MANAGE_CLIENTS, None)
        data = dict(data)
        secret, enabled = data.pop("client_secret", None), data.pop("enabled", True)
        try:
            row, public = self.providers.save(self.s, data, secret, enabled=bool(enabled))
        except ProviderConfigError as exc:
            raise AdminError(str(exc), "config") from None
        record(self.s, "identity_provider.saved", self.admin.actor, target=row.name,
               details={"issuer": row.config.get("issuer"), "enabled": row.enabled})
        config = ProviderConfig.model_validate(row.config)
        return {**describe(config, row.enabled, self.providers), **({"public_jwk": public} if public else {})}

    def remove(self, name: str) -> None:
        self.admin.scope.require(perm.MANAGE_CLIENTS, None)
        if not self.providers.remove(self.s, name):
            raise NotFound(f"no identity provider {name!r}")
        record(self.s, "identity_provider.removed", self.admin.actor, target=name)

    def test(self, name: str) -> list[str]:
        self.admin.scope.require(perm.MANAGE_CLIENTS, None)
        try:
            return self.providers.test(self.s, name)
        except UpstreamError as exc:
            raise AdminError(f"identity provider {name}: {exc}", "name") from None

    # --- linked identities ---------------------------------------------------------------------------------
    def links_of(self, official_id: str) -> list[dict[str, Any]]:
        official = self.admin.official(official_id)
        return [asdict(link) for link in links.links_of(self.s, official.id)]

    def unlink(self, official_id: str, provider: str, subject: str) -> None:
        official = self.admin.official(official_id, perm.WRITE_OFFICIALS)
        if not links.unlink(self.s, provider, subject, official, self.admin.actor):
            raise NotFound(f"{official.username} has no identity {subject!r} at {provider!r}")
