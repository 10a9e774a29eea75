"""Registering CAS services: by hand (CLI, admin API) or imported from Apereo CAS JSON definitions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cas.apereo import read_apereo
from app.cas.services import ServiceError, ServiceInfo, check
from app.store.cas_store import ServiceCache, service_info
from app.store.models import CasService


class CasServiceRegistry:
    def __init__(self, cache: ServiceCache) -> None:
        self.cache = cache

    def add(self, session: Session, service: ServiceInfo, launch_url: str | None = None,
            replace: bool = False) -> CasService:
        """Register a service (validated: no catch-all pattern); with replace, an existing id is updated."""
        checked = check(service)
        if launch_url and not launch_url.startswith(("https://", "http://")):
            raise ServiceError(f"launch_url: {launch_url!r} must be an http(s) URL")
        row = session.get(CasService, checked.id)
        if row is not None and not replace:
            raise ServiceError(f"id: a service {checked.id!r} is already registered")
        if row is None:
            row = CasService(id=checked.id)
            session.add(row)
        row.name, row.match, row.pattern = checked.name, checked.match, checked.pattern
        row.release = [list(pair) for pair in checked.release]
        row.allow_proxy, row.proxy_pattern = checked.allow_proxy, checked.proxy_pattern
        row.logout_url, row.single_logout = checked.logout_url, checked.single_logout
        row.require_mfa, row.enabled = checked.require_mfa, checked.enabled
        row.evaluation_order = checked.evaluation_order
        row.allowed_units, row.allowed_groups = list(checked.allowed_units), list(checked.allowed_groups)
        row.launch_url = launch_url
        session.flush()
        self.cache.clear()
        return row

    def import_apereo(self, session: Session, definitions: list[dict[str, Any]]) -> list[CasService]:
        """Every definition or none: one that cannot be carried over stops the import, naming it."""
        rows = []
        for number, definition in enumerate(definitions, 1):
            try:
                service = read_apereo(definition)
            except ServiceError as exc:
                label = definition.get("name") or definition.get("serviceId") if isinstance(definition, dict) else None
                raise ServiceError(f"definition {number} ({label or 'unnamed'}): {exc}") from exc
            rows.append(self.add(session, service, replace=True))
        return rows

    def remove(self, session: Session, service_id: str) -> None:
        row = session.get(CasService, service_id)
        if row is None:
            raise ServiceError(f"no CAS service {service_id!r}")
        session.delete(row)
        self.cache.clear()

    @staticmethod
    def list(session: Session) -> list[CasService]:
        return list(session.scalars(select(CasService).order_by(CasService.evaluation_order, CasService.id)))


def describe(row: CasService) -> dict[str, Any]:
    info = service_info(row)
    return {"id": info.id, "name": info.name, "match": info.match, "pattern": info.pattern,
            "attributes": dict(info.release), "allow_proxy": info.allow_proxy, "proxy_pattern": info.proxy_pattern,
            "logout_url": info.logout_url, "single_logout": info.single_logout, "require_mfa": info.require_mfa,
            "allowed_units": list(info.allowed_units), "allowed_groups": list(info.allowed_groups),
            "enabled": info.enabled, "evaluation_order": info.evaluation_order, "launch_url": row.launch_url}
