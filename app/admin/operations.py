"""Admin operations on units, officials, groups and roles: scope checked on every object, audited, and
written to the provisioning outbox in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, asc, desc, func, or_, select
from sqlalchemy.orm import Session

from app.admin import scope as perm
from app.admin.errors import AdminError, Conflict, NotFound, PreconditionFailed, PreconditionRequired, ReadOnly
from app.admin.models import ROLES, RoleGrant
from app.admin.scope import AdminScope, Forbidden
from app.audit.models import AuditEvent
from app.audit.trail import Actor, AuditQuery, record, search
from app.identity.models import Group, GroupMember, Official, Unit
from app.identity.names import normalize_text
from app.identity.service import (
    EMAIL_RE,
    IdentityError,
    NewOfficial,
    add_official,
    emit,
    unit_subtree,
)
from app.provisioning.models import AccountLink
from app.store.access import end_access

# What the directory sync writes: for a directory's officials these are changed in the directory.
DIRECTORY_OWNED = ("username", "display_name", "given_name", "family_name", "middle_name", "email", "phone",
                   "title", "unit_id", "employee_number")
EDITABLE = ("display_name", "given_name", "family_name", "middle_name", "email", "phone", "title", "unit_id")
SORTABLE = {"username": Official.username, "display_name": Official.display_name, "created_at": Official.created_at,
            "updated_at": Official.updated_at}


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int


def check_version(current: int, if_match: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag you read, so no one else's change is lost")
    value = if_match.strip().removeprefix("W/").strip('"')
    if value != str(current):
        raise PreconditionFailed("the object changed since you read it: read it again and reapply your change")


class Admin:
    def __init__(self, session: Session, scope: AdminScope, actor: Actor) -> None:
        self.s, self.scope, self.actor = session, scope, actor

    # --- units ----------------------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        visible = self.scope.units(perm.READ)
        return [u for u in self.s.scalars(select(Unit).order_by(Unit.code)) if u.id in visible]

    def unit(self, unit_id: str, permission: str = perm.READ) -> Unit:
        unit = self.s.get(Unit, unit_id)
        if unit is None or not self.scope.allows(perm.READ, unit.id):
            raise NotFound(f"no unit {unit_id!r}")
        if not self.scope.allows(permission, unit.id):
            raise Forbidden(permission)
        return unit

    def create_unit(self, code: str, name: str, kind: str, parent_id: str | None) -> Unit:
        if parent_id is None:
            self.scope.require(perm.WRITE_UNITS, None)
        else:
            self.unit(parent_id, perm.WRITE_UNITS)
        if not code.strip() or not name.strip():
            raise AdminError("code and name are required", "code" if not code.strip() else "name")
        if self.s.scalars(select(Unit.id).where(Unit.code == code)).first():
            raise Conflict(f"a unit with code {code!r} exists", "code")
        unit = Unit(id=str(uuid.uuid4()), code=code.strip(), name=normalize_text(name), kind=kind or "unit",
                    parent_id=parent_id)
        self.s.add(unit)
        self.s.flush()
        self.scope.children.setdefault(parent_id, []).append(unit.id)
        self.scope._cache.clear()
        record(self.s, "unit.created", self.actor, unit_id=unit.id, target=unit.code, details={"name": unit.name})
        return unit

    def update_unit(self, unit_id: str, if_match: str | None, name: str | None, parent_id: str | None,
                    move: bool) -> Unit:
        unit = self.unit(unit_id, perm.WRITE_UNITS)
        check_version(unit.version, if_match)
        if unit.source != "local":
            raise ReadOnly(f"unit {unit.code} comes from directory {unit.source}: change it there", "name")
        changes: dict[str, Any] = {}
        if name is not None and normalize_text(name) != unit.name:
            changes["name"] = [unit.name, normalize_text(name)]
            unit.name = normalize_text(name)
        if move and parent_id != unit.parent_id:
            if parent_id is not None:
                self.unit(parent_id, perm.WRITE_UNITS)
                if parent_id in self.subtree(unit.id):
                    raise AdminError("a unit cannot move under itself", "parent_id")
            else:
                self.scope.require(perm.WRITE_UNITS, None)
            changes["parent_id"] = [unit.parent_id, parent_id]
            unit.parent_id = parent_id
        if changes:
            self.s.flush()
            moved = self.officials_in(self.subtree(unit.id))
            for official in moved:  # their unit path changed: every account gets a mover
                emit(self.s, official, "mover", {"reason": f"unit {unit.code} changed"})
            record(self.s, "unit.updated", self.actor, unit_id=unit.id, target=unit.code,
                   details={**changes, "officials": len(moved)})
        return unit

    def subtree(self, unit_id: str) -> set[str]:
        return unit_subtree(self.s, unit_id)

    def officials_in(self, unit_ids: set[str]) -> list[Official]:
        return list(self.s.scalars(select(Official).where(Official.unit_id.in_(unit_ids))))

    # --- officials ------------------------------------------------------------------------------------
    def list_officials(self, unit_id: str | None = None, q: str | None = None, enabled: bool | None = None,
                       sort: str = "username", page: int = 1, per_page: int = 50) -> Page:
        visible = self.scope.units(perm.READ)
        units = visible & self.subtree(unit_id) if unit_id else visible
        stmt: Select[Any] = select(Official)
        if unit_id or not self.scope.allows(perm.READ, None):
            stmt = stmt.where(Official.unit_id.in_(units))
        if q:
            like = f"%{q.casefold()}%"
            stmt = stmt.where(or_(Official.username.like(like), func.lower(Official.display_name).like(like),
                                  func.lower(Official.email).like(like)))
        if enabled is not None:
            stmt = stmt.where(Official.enabled.is_(enabled))
        key = sort.lstrip("-")
        if key not in SORTABLE:
            raise AdminError(f"sort: one of {', '.join(SORTABLE)} (prefix - for descending)", "sort")
        if not 1 <= per_page <= 500 or page < 1:
            raise AdminError("page >= 1 and 1 <= per_page <= 500", "per_page")
        total = self.s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        order = desc(SORTABLE[key]) if sort.startswith("-") else asc(SORTABLE[key])
        items = list(self.s.scalars(stmt.order_by(order, Official.id).offset((page - 1) * per_page).limit(per_page)))
        return Page(items, total, page, per_page)

    def official(self, official_id: str, permission: str = perm.READ) -> Official:
        official = self.s.get(Official, official_id)
        if official is None or not self.scope.allows(perm.READ, official.unit_id):
            raise NotFound(f"no official {official_id!r}")
        if not self.scope.allows(permission, official.unit_id):
            raise Forbidden(permission)
        return official

    def create_official(self, data: dict[str, Any]) -> Official:
        unit_id = data.get("unit_id")
        unit = self.unit(unit_id, perm.WRITE_OFFICIALS) if unit_id else None
        if unit is None:
            self.scope.require(perm.WRITE_OFFICIALS, None)
        try:
            official = add_official(self.s, NewOfficial(
                username=data["username"], display_name=data["display_name"], password=data.get("password"),
                email=data.get("email"), phone=data.get("phone"), title=data.get("title"),
                unit_code=unit.code if unit else None, given_name=data.get("given_name") or "",
                family_name=data.get("family_name") or "", middle_name=data.get("middle_name") or ""))
        except IdentityError as exc:
            field = str(exc).split(":")[0] if ":" in str(exc) else "username"
            raise (Conflict if "taken" in str(exc) else AdminError)(str(exc), field) from exc
        record(self.s, "official.created", self.actor, unit_id=official.unit_id, target=official.id,
               details={"username": official.username})
        return official

    def update_official(self, official_id: str, if_match: str | None, patch: dict[str, Any]) -> Official:
        official = self.official(official_id, perm.WRITE_OFFICIALS)
        check_version(official.version, if_match)
        unknown = set(patch) - set(EDITABLE)
        if unknown:
            raise AdminError(f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE)}",
                             sorted(unknown)[0])
        if official.source != "local":
            owned = sorted(set(patch) & set(DIRECTORY_OWNED))
            if owned:
                raise ReadOnly(f"{', '.join(owned)} of this official come from directory {official.source}: "
                               "change them there; the sync brings the change here", owned[0])
        if "email" in patch and patch["email"] and not EMAIL_RE.match(patch["email"]):
            raise AdminError(f"email: {patch['email']!r} is not an e-mail address", "email")
        moved = "unit_id" in patch and patch["unit_id"] != official.unit_id
        if moved:
            if patch["unit_id"] is None:
                raise AdminError("unit_id: an official must belong to a unit", "unit_id")
            self.unit(patch["unit_id"], perm.WRITE_OFFICIALS)
        before = {k: getattr(official, k) for k in patch}
        for key, value in patch.items():
            setattr(official, key, normalize_text(value) if isinstance(value, str) and key != "email" else value)
        self.s.flush()
        emit(self.s, official, "mover" if moved else "update")
        record(self.s, "official.moved" if moved else "official.updated", self.actor, unit_id=official.unit_id,
               target=official.id, details={"before": before, "after": patch})
        return official

    def set_enabled(self, official_id: str, enabled: bool) -> Official:
        official = self.official(official_id, perm.WRITE_OFFICIALS)
        if official.enabled == enabled:
            return official
        official.enabled = enabled
        if not enabled:
            end_access(self.s, official.id, "official_disabled")
        self.s.flush()
        emit(self.s, official, "joiner" if enabled else "leaver", {"reason": f"by {self.actor.id}"})
        record(self.s, "official.enabled" if enabled else "official.disabled", self.actor,
               unit_id=official.unit_id, target=official.id)
        return official

    def accounts(self, official_id: str) -> list[AccountLink]:
        """The official's accounts in the target systems, as provisioning last left them."""
        self.official(official_id)
        return list(self.s.scalars(select(AccountLink).where(AccountLink.official_id == official_id)
                                   .order_by(AccountLink.connector)))

    # --- audit ------------------------------------------------------------------------------------------
    def audit(self, query: AuditQuery) -> list[AuditEvent]:
        """Events of the caller's units only, unless their audit role covers the whole province."""
        if self.scope.allows(perm.READ_AUDIT, None):
            return search(self.s, query)
        units = self.scope.units(perm.READ_AUDIT)
        if not units:
            raise Forbidden(perm.READ_AUDIT)
        return search(self.s, replace(query, unit_ids=frozenset(units)))

    # --- groups -----------------------------------------------------------------------------------------
    def groups(self) -> list[Group]:
        visible = self.scope.units(perm.READ)
        global_ok = self.scope.allows(perm.READ, None)
        return [g for g in self.s.scalars(select(Group).order_by(Group.name))
                if (g.unit_id in visible) or (g.unit_id is None and global_ok)]

    def group(self, group_id: str, permission: str = perm.READ) -> Group:
        group = self.s.get(Group, group_id)
        if group is None or not self.scope.allows(perm.READ, group.unit_id):
            raise NotFound(f"no group {group_id!r}")
        if not self.scope.allows(permission, group.unit_id):
            raise Forbidden(permission)
        return group

    def create_group(self, name: str, unit_id: str | None) -> Group:
        if unit_id:
            self.unit(unit_id, perm.WRITE_GROUPS)
        else:
            self.scope.require(perm.WRITE_GROUPS, None)
        if not name.strip():
            raise AdminError("name is required", "name")
        if self.s.scalars(select(Group.id).where(Group.name == name.strip(), Group.source == "local")).first():
            raise Conflict(f"a group named {name!r} exists", "name")
        group = Group(id=str(uuid.uuid4()), name=name.strip(), unit_id=unit_id)
        self.s.add(group)
        self.s.flush()
        record(self.s, "group.created", self.actor, unit_id=unit_id, target=group.id, details={"name": group.name})
        return group

    def members(self, group_id: str) -> list[Official]:
        self.group(group_id)
        visible = self.scope.units(perm.READ)
        rows = self.s.scalars(select(Official).join(GroupMember, GroupMember.official_id == Official.id)
                              .where(GroupMember.group_id == group_id).order_by(Official.username))
        return [o for o in rows if o.unit_id in visible]

    def set_member(self, group_id: str, official_id: str, member: bool) -> None:
        group = self.group(group_id, perm.WRITE_GROUPS)
        if group.source != "local":
            raise ReadOnly(f"group {group.name} comes from directory {group.source}: change it there")
        official = self.official(official_id, perm.WRITE_GROUPS)
        present = self.s.get(GroupMember, (group_id, official_id)) is not None
        if present == member:
            return
        if member:
            self.s.add(GroupMember(group_id=group_id, official_id=official_id))
        else:
            self.s.delete(self.s.get(GroupMember, (group_id, official_id)))
        self.s.flush()
        emit(self.s, official, "update", {"reason": f"group {group.name}"})
        record(self.s, "group.member_added" if member else "group.member_removed", self.actor,
               unit_id=official.unit_id, target=official.id, details={"group": group.name})

    # --- roles ------------------------------------------------------------------------------------------
    def roles(self) -> list[RoleGrant]:
        visible = self.scope.units(perm.READ)
        return [g for g in self.s.scalars(select(RoleGrant).order_by(RoleGrant.created_at)) if g.unit_id in visible]

    def grant(self, official_id: str, role: str, unit_id: str) -> RoleGrant:
        if role not in ROLES:
            raise AdminError(f"role: one of {', '.join(ROLES)}", "role")
        self.unit(unit_id)
        official = self.official(official_id)
        if not self.scope.may_grant(role, unit_id):
            raise Forbidden(perm.GRANT_ROLES)
        existing = self.s.scalars(select(RoleGrant).where(RoleGrant.official_id == official_id,
                                                          RoleGrant.role == role, RoleGrant.unit_id == unit_id)).first()
        if existing:
            return existing
        grant = RoleGrant(id=str(uuid.uuid4()), official_id=official.id, role=role, unit_id=unit_id,
                          granted_by=self.actor.id)
        self.s.add(grant)
        self.s.flush()
        record(self.s, "role.granted", self.actor, unit_id=unit_id, target=official.id, details={"role": role})
        return grant

    def revoke(self, grant_id: str) -> None:
        grant = self.s.get(RoleGrant, grant_id)
        if grant is None or not self.scope.allows(perm.READ, grant.unit_id):
            raise NotFound(f"no role grant {grant_id!r}")
        if not self.scope.may_grant(grant.role, grant.unit_id):
            raise Forbidden(perm.GRANT_ROLES)
        self.s.delete(grant)
        record(self.s, "role.revoked", self.actor, unit_id=grant.unit_id, target=grant.official_id,
               details={"role": grant.role})
