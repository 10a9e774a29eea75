"""What an admin may do where. Roles are granted over a unit and reach its whole subtree; objects that belong
to no unit (clients, connectors, reorganisations) need the role over a top-level unit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.models import RoleGrant
from app.identity.models import Unit

READ = "read"
WRITE_OFFICIALS = "write_officials"
WRITE_UNITS = "write_units"
WRITE_GROUPS = "write_groups"
GRANT_ROLES = "grant_roles"
RESET_CREDENTIALS = "reset_credentials"
RETRY_PROVISIONING = "retry_provisioning"
READ_AUDIT = "read_audit"
IMPORT = "import"
MANAGE_CLIENTS = "manage_clients"
MANAGE_CONNECTORS = "manage_connectors"
REORGANISE = "reorganise"

_UNIT_ADMIN = {READ, WRITE_OFFICIALS, WRITE_UNITS, WRITE_GROUPS, GRANT_ROLES, RESET_CREDENTIALS,
               RETRY_PROVISIONING, READ_AUDIT, IMPORT}
PERMISSIONS: dict[str, frozenset[str]] = {
    "province_admin": frozenset(_UNIT_ADMIN | {MANAGE_CLIENTS, MANAGE_CONNECTORS, REORGANISE}),
    "unit_admin": frozenset(_UNIT_ADMIN),
    "helpdesk": frozenset({READ, RESET_CREDENTIALS}),
    "auditor": frozenset({READ, READ_AUDIT}),
}
# Which roles a holder of each role may hand out (within their own subtree).
GRANTABLE = {"province_admin": set(PERMISSIONS), "unit_admin": {"unit_admin", "helpdesk", "auditor"}}


class Forbidden(Exception):
    """The caller may not do this here. Said the same way whether or not the object exists elsewhere."""


@dataclass
class AdminScope:
    official_id: str
    grants: list[tuple[str, str]]  # (role, unit id)
    children: dict[str | None, list[str]]
    roots: set[str]
    everything: bool = False  # the operator: also objects of no unit when there are no units yet
    _cache: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, official_id: str) -> AdminScope:
        grants = [(g.role, g.unit_id) for g in session.scalars(
            select(RoleGrant).where(RoleGrant.official_id == official_id))]
        children: dict[str | None, list[str]] = defaultdict(list)
        for unit_id, parent_id in session.execute(select(Unit.id, Unit.parent_id)):
            children[parent_id].append(unit_id)
        return cls(official_id, grants, children, set(children.get(None, [])))

    @classmethod
    def operator(cls, session: Session) -> AdminScope:
        """The operator at the server's command line: everything, everywhere (they hold the database anyway)."""
        scope = cls.load(session, "")
        scope.grants = [("province_admin", root) for root in sorted(scope.roots)]
        scope.everything = True
        return scope

    @property
    def roles(self) -> set[str]:
        return {role for role, _ in self.grants}

    def units(self, permission: str) -> frozenset[str]:
        """Every unit where the permission holds."""
        if permission not in self._cache:
            found: set[str] = set()
            for role, unit_id in self.grants:
                if permission in PERMISSIONS.get(role, ()):
                    stack = [unit_id]
                    while stack:
                        current = stack.pop()
                        if current not in found:
                            found.add(current)
                            stack.extend(self.children.get(current, []))
            self._cache[permission] = frozenset(found)
        return self._cache[permission]

    def allows(self, permission: str, unit_id: str | None) -> bool:
        if self.everything:
            return True
        if unit_id is None:  # an object of no unit: the permission must hold over a top-level unit
            return any(permission in PERMISSIONS.get(role, ()) and unit in self.roots for role, unit in self.grants)
        return unit_id in self.units(permission)

    def require(self, permission: str, unit_id: str | None) -> None:
        if not self.allows(permission, unit_id):
            raise Forbidden(permission)

    def may_grant(self, role: str, unit_id: str) -> bool:
        return any(role in GRANTABLE.get(mine, set()) and unit_id in self.units(GRANT_ROLES)
                   for mine, _ in self.grants)
