"""The configuration file's application sections beside `clients`: `[cas_services.ID]` and `[gateway_apps.ID]`,
each entry in the fields `sso-broker services list --json` / `gateway list --json` print, so an export can be
applied back unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.applications import cas_services, gateway_apps
from app.audit.trail import Actor, record
from app.cas.services import ServiceError, ServiceInfo
from app.gateway.apps import DEFAULT_HEADERS, GatewayAppInfo, GatewayError
from app.store.cas_store import ServiceCache
from app.store.gateway_store import GatewayAppCache

RULES = {"require_mfa": False, "allowed_units": [], "allowed_groups": [], "enabled": True, "launch_url": None}


@dataclass(frozen=True)
class Section:
    name: str
    defaults: dict[str, Any]
    rows: Callable[[Session], list[Any]]
    describe: Callable[[Any], dict[str, Any]]
    save: Callable[[Session, str, dict[str, Any]], Any]
    remove: Callable[[Session, str], None]


def sections(cas: ServiceCache, gateway: GatewayAppCache) -> list[Section]:
    def save_cas(s: Session, service_id: str, d: dict[str, Any]) -> Any:
        info = ServiceInfo(service_id, d["name"], d["match"], d["pattern"], tuple(d["attributes"].items()),
                           d["allow_proxy"], d["proxy_pattern"], d["logout_url"], d["single_logout"], d["require_mfa"],
                           tuple(d["allowed_units"]), tuple(d["allowed_groups"]), d["enabled"], d["evaluation_order"])
        return cas_services.CasServiceRegistry(cas).add(s, info, d["launch_url"], replace=True)

    def save_gateway(s: Session, app_id: str, d: dict[str, Any]) -> Any:
        info = GatewayAppInfo(app_id, d["name"], d["prefix"], tuple(d["headers"].items()), d["require_mfa"],
                              tuple(d["allowed_units"]), tuple(d["allowed_groups"]), d["enabled"])
        return gateway_apps.GatewayRegistry(gateway).add(s, info, d["launch_url"], replace=True)

    return [
        Section("cas_services", {**RULES, "match": "prefix", "attributes": {}, "allow_proxy": False,
                                 "proxy_pattern": None, "logout_url": None, "single_logout": True,
                                 "evaluation_order": 100},
                cas_services.CasServiceRegistry.list, cas_services.describe, save_cas,
                cas_services.CasServiceRegistry(cas).remove),
        Section("gateway_apps", {**RULES, "headers": dict(DEFAULT_HEADERS)}, gateway_apps.GatewayRegistry.list,
                gateway_apps.describe, save_gateway, gateway_apps.GatewayRegistry(gateway).remove),
    ]


def walk(session: Session, actor: Actor, section: Section, wanted: dict[str, Any], apply: bool,
         prune: bool) -> list[tuple[str, str, list[str]]]:
    """(kind, id, changed fields) for each entry of the section; applied when asked."""
    current = {row.id: section.describe(row) for row in section.rows(session)}
    changes: list[tuple[str, str, list[str]]] = []
    for app_id, entry in wanted.items():
        where = f"{section.name}.{app_id}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: a table of settings")
        known = {**section.defaults, "name": app_id, "pattern": "", "prefix": ""}
        unknown = sorted(set(entry) - set(known))
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown; known: {', '.join(sorted(known))}")
        for key, value in entry.items():
            expected = type(known[key]) if known[key] is not None else str
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ValueError(f"{where}.{key}: expected {expected.__name__}, got {type(value).__name__}")
        desired = {**section.defaults, "name": app_id, **entry}
        have = current.get(app_id)
        changed = sorted(k for k in desired if have is None or desired[k] != have.get(k))
        if have is not None and not changed:
            continue
        changes.append(("create" if have is None else "update", app_id, [] if have is None else changed))
        if apply:
            try:
                section.save(session, app_id, desired)
            except (ServiceError, GatewayError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{where}: {exc}") from exc
            record(session, f"{section.name.rstrip('s')}.configured", actor, target=app_id)
    for app_id in sorted(set(current) - set(wanted)):
        changes.append(("remove" if prune else "keep", app_id, []))
        if prune and apply:
            section.remove(session, app_id)
            record(session, f"{section.name.rstrip('s')}.removed", actor, target=app_id)
    return changes


def export(session: Session, section: Section) -> dict[str, Any]:
    return {row.id: {k: v for k, v in section.describe(row).items() if k != "id" and v not in (None, [], {})}
            for row in section.rows(session)}
