"""Registering applications behind the forward-auth gateway."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.gateway.apps import GatewayAppInfo, GatewayError, check
from app.store.gateway_store import GatewayAppCache, app_info
from app.store.models import GatewayApp


class GatewayRegistry:
    def __init__(self, cache: GatewayAppCache) -> None:
        self.cache = cache

    def add(self, session: Session, app: GatewayAppInfo, launch_url: str | None = None,
            replace: bool = False) -> GatewayApp:
        checked = check(app)
        row = session.get(GatewayApp, checked.id)
        if row is not None and not replace:
            raise GatewayError(f"id: an application {checked.id!r} is already registered")
        if row is None:
            row = GatewayApp(id=checked.id)
            session.add(row)
        row.name, row.prefix, row.headers = checked.name, checked.prefix, [list(h) for h in checked.headers]
        row.require_mfa, row.enabled = checked.require_mfa, checked.enabled
        row.allowed_units, row.allowed_groups = list(checked.allowed_units), list(checked.allowed_groups)
        row.launch_url = launch_url
        session.flush()
        self.cache.clear()
        return row

    def remove(self, session: Session, app_id: str) -> None:
        row = session.get(GatewayApp, app_id)
        if row is None:
            raise GatewayError(f"no gateway application {app_id!r}")
        session.delete(row)
        self.cache.clear()

    @staticmethod
    def list(session: Session) -> list[GatewayApp]:
        return list(session.scalars(select(GatewayApp).order_by(GatewayApp.id)))


def describe(row: GatewayApp) -> dict[str, Any]:
    info = app_info(row)
    return {"id": info.id, "name": info.name, "prefix": info.prefix, "headers": dict(info.headers),
            "require_mfa": info.require_mfa, "allowed_units": list(info.allowed_units),
            "allowed_groups": list(info.allowed_groups), "enabled": info.enabled, "launch_url": row.launch_url}
