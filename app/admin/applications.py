"""Admin operations on SAML service providers (the province's, so they need the clients permission)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.admin import scope as perm
from app.admin.declarative_apps import Section, walk
from app.admin.errors import AdminError, NotFound
from app.admin.scope import AdminScope
from app.applications.saml_sps import SamlRegistry, SpSpec, describe, fetch_metadata
from app.audit.trail import Actor, record
from app.saml.xml import SamlError
from app.store.models import SamlServiceProvider


class ServiceProviders:
    def __init__(self, session: Session, scope: AdminScope, actor: Actor) -> None:
        self.s, self.scope, self.actor = session, scope, actor

    def list(self) -> list[dict[str, Any]]:
        self.scope.require(perm.READ, None)
        return [describe(row) for row in SamlRegistry.list(self.s)]

    def register(self, data: dict[str, Any]) -> dict[str, Any]:
        """From the metadata itself (`metadata_xml`) or from where the SP publishes it (`metadata_url`)."""
        self.scope.require(perm.MANAGE_CLIENTS, None)
        try:
            xml = data["metadata_xml"].encode() if data.get("metadata_xml") else fetch_metadata(data["metadata_url"])
            spec = SpSpec(id=data["id"], metadata=xml, metadata_url=data.get("metadata_url"),
                          name=data.get("name") or data["id"], release=list(data.get("attributes", {}).items()),
                          nameid=data.get("nameid"), sign_response=data.get("sign_response", True),
                          encrypt_assertions=data.get("encrypt_assertions", False),
                          require_mfa=data.get("require_mfa", False), allowed_units=data.get("allowed_units", []),
                          allowed_groups=data.get("allowed_groups", []), launch_url=data.get("launch_url"))
            row = SamlRegistry.add(self.s, spec, replace=data.get("replace", False))
        except (SamlError, KeyError) as exc:
            raise AdminError(f"SAML service provider: {exc}", "metadata") from exc
        record(self.s, "saml_sp.registered", self.actor, target=row.id, details={"entity_id": row.entity_id})
        return describe(row)

    def remove(self, sp_id: str) -> None:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        if self.s.get(SamlServiceProvider, sp_id) is None:
            raise NotFound(f"no SAML service provider {sp_id!r}")
        SamlRegistry.remove(self.s, sp_id)
        record(self.s, "saml_sp.removed", self.actor, target=sp_id)


class RegisteredApplications:
    """CAS services and gateway apps through the admin API: the same entries as the configuration file's
    `[cas_services.ID]` / `[gateway_apps.ID]`, saved by the same code (`declarative_apps`)."""

    def __init__(self, session: Session, scope: AdminScope, actor: Actor, section: Section) -> None:
        self.s, self.scope, self.actor, self.section = session, scope, actor, section

    def list(self) -> list[dict[str, Any]]:
        self.scope.require(perm.READ, None)
        return [self.section.describe(row) for row in self.section.rows(self.s)]

    def register(self, app_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        try:
            walk(self.s, self.actor, self.section, {app_id: entry}, apply=True, prune=False)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        return next(self.section.describe(r) for r in self.section.rows(self.s) if r.id == app_id)

    def remove(self, app_id: str) -> None:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        if all(r.id != app_id for r in self.section.rows(self.s)):
            raise NotFound(f"no {self.section.name.rstrip('s').replace('_', ' ')} {app_id!r}")
        self.section.remove(self.s, app_id)
        record(self.s, f"{self.section.name.rstrip('s')}.removed", self.actor, target=app_id)
