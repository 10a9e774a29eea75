"""Admin operations on what belongs to no unit: relying parties, connector instances, the provisioning
queue and the audit trail (read within the caller's units)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.admin import scope as perm
from app.admin.errors import AdminError, Conflict, NotFound
from app.admin.operations import check_version
from app.admin.scope import AdminScope
from app.applications.clients import ClientError, ClientService, ClientSpec, validate
from app.audit.trail import Actor, record
from app.identity.models import Official
from app.provisioning.engine import ProvisioningEngine
from app.provisioning.models import AccountLink, ConnectorInstance, ProvisioningTask
from app.store.models import Client
from app.store.oidc_store import ClientCache
from connectors.base import ConnectorError

CLIENT_PATCHABLE = ("name", "redirect_uris", "post_logout_redirect_uris", "first_party", "require_mfa",
                    "launch_url", "connector", "backchannel_logout_uri", "enabled", "scopes", "scim_unit_id")


class Systems:
    def __init__(self, session: Session, scope: AdminScope, actor: Actor, clients: ClientCache,
                 engine: ProvisioningEngine) -> None:
        self.s, self.scope, self.actor, self.cache, self.engine = session, scope, actor, clients, engine

    # --- relying parties ------------------------------------------------------------------------------
    def clients(self) -> list[Client]:
        self.scope.require(perm.READ, None)
        return list(self.s.scalars(select(Client).order_by(Client.client_id)))

    def client(self, client_id: str) -> Client:
        self.scope.require(perm.READ, None)
        row = self.s.get(Client, client_id)
        if row is None:
            raise NotFound(f"no client {client_id!r}")
        return row

    def create_client(self, spec: ClientSpec) -> tuple[Client, str | None]:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        try:
            row, secret = ClientService(self.cache).add(self.s, spec)
        except ClientError as exc:
            field = str(exc).split(":")[0]
            raise (Conflict if "already registered" in str(exc) else AdminError)(str(exc), field) from exc
        record(self.s, "client.created", self.actor, target=row.client_id, details={"name": row.name})
        return row, secret

    def update_client(self, client_id: str, if_match: str | None, patch: dict[str, Any]) -> Client:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        row = self.client(client_id)
        check_version(row.version, if_match)
        unknown = set(patch) - set(CLIENT_PATCHABLE)
        if unknown:
            raise AdminError(f"cannot change {', '.join(sorted(unknown))}", sorted(unknown)[0])
        merged = {**{k: getattr(row, k) for k in CLIENT_PATCHABLE}, **patch}
        spec = ClientSpec(client_id=row.client_id, name=merged["name"], redirect_uris=list(merged["redirect_uris"]),
                          post_logout_redirect_uris=list(merged["post_logout_redirect_uris"]),
                          grant_types=list(row.grant_types), scopes=list(merged["scopes"]),
                          auth_method=row.token_endpoint_auth_method, jwks=row.jwks,
                          backchannel_logout_uri=merged["backchannel_logout_uri"], launch_url=merged["launch_url"])
        try:
            validate(spec)
        except ClientError as exc:
            raise AdminError(str(exc), str(exc).split(":")[0]) from exc
        for key, value in patch.items():
            setattr(row, key, value)
        self.s.flush()
        self.cache.clear()
        record(self.s, "client.updated", self.actor, target=row.client_id, details={"changed": sorted(patch)})
        return row

    def rotate_secret(self, client_id: str) -> str:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        self.client(client_id)
        try:
            secret = ClientService(self.cache).rotate_secret(self.s, client_id)
        except ClientError as exc:
            raise AdminError(str(exc)) from exc
        record(self.s, "client.secret_rotated", self.actor, target=client_id)
        return secret

    def remove_client(self, client_id: str) -> None:
        self.scope.require(perm.MANAGE_CLIENTS, None)
        self.client(client_id)
        ClientService(self.cache).remove(self.s, client_id)
        record(self.s, "client.removed", self.actor, target=client_id)

    # --- connectors ---------------------------------------------------------------------------------
    def connectors(self) -> list[dict[str, Any]]:
        self.scope.require(perm.READ, None)
        counts: dict[tuple[str, str], int] = {
            (c, st): n for c, st, n in self.s.execute(
                select(ProvisioningTask.connector, ProvisioningTask.status, func.count())
                .group_by(ProvisioningTask.connector, ProvisioningTask.status))}
        accounts = dict(self.s.execute(select(AccountLink.connector, func.count())
                                       .group_by(AccountLink.connector)).all())
        return [{"name": c.name, "kind": c.kind, "enabled": c.enabled, "rules": c.rules, "mapping": c.mapping,
                 "retention_days": c.retention_days, "accounts": accounts.get(c.name, 0),
                 "pending": counts.get((c.name, "pending"), 0), "dead": counts.get((c.name, "dead"), 0)}
                for c in self.s.scalars(select(ConnectorInstance).order_by(ConnectorInstance.name))]

    def save_connector(self, name: str, kind: str, config: dict[str, Any], rules: dict[str, Any],
                       mapping: dict[str, str], retention_days: int | None) -> None:
        self.scope.require(perm.MANAGE_CONNECTORS, None)
        try:
            self.engine.save_instance(self.s, name, kind, config, rules, mapping, retention_days)
        except (ConnectorError, ValueError) as exc:
            raise AdminError(str(exc), "config") from exc
        # The configuration holds credentials: the trail says what changed, never the values.
        record(self.s, "connector.saved", self.actor, target=name, details={"kind": kind, "rules": rules})

    def test_connector(self, name: str) -> str:
        self.scope.require(perm.MANAGE_CONNECTORS, None)
        instance = self.s.get(ConnectorInstance, name)
        if instance is None:
            raise NotFound(f"no connector {name!r}")
        try:
            self.engine.connector(instance).test()
        except ConnectorError as exc:
            return f"failed: {exc}"
        return "ok"

    # --- the provisioning queue ---------------------------------------------------------------------
    def tasks(self, status: str | None, connector: str | None, official_id: str | None,
              limit: int = 100) -> list[ProvisioningTask]:
        visible = self.scope.units(perm.READ)
        stmt = select(ProvisioningTask, Official.unit_id).join(Official, Official.id == ProvisioningTask.official_id)
        if not self.scope.allows(perm.READ, None):
            stmt = stmt.where(Official.unit_id.in_(visible))
        if status:
            stmt = stmt.where(ProvisioningTask.status == status)
        if connector:
            stmt = stmt.where(ProvisioningTask.connector == connector)
        if official_id:
            stmt = stmt.where(ProvisioningTask.official_id == official_id)
        return [t for t, _ in self.s.execute(stmt.order_by(ProvisioningTask.id.desc()).limit(min(limit, 1000)))]

    def retry(self, task_id: int) -> None:
        task = self.s.get(ProvisioningTask, task_id)
        official = self.s.get(Official, task.official_id) if task else None
        if task is None or official is None or not self.scope.allows(perm.READ, official.unit_id):
            raise NotFound(f"no task {task_id}")
        self.scope.require(perm.RETRY_PROVISIONING, official.unit_id)
        if task.status != "dead":
            raise Conflict(f"task {task_id} is {task.status}, not dead-lettered")
        self.engine.retry_dead(self.s, task_id)
        record(self.s, "provisioning.retried", self.actor, unit_id=official.unit_id, target=str(task_id))
