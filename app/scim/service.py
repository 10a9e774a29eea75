"""Officials and groups as SCIM resources, within the unit subtree the calling client was given."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.trail import Actor, record
from app.db import now
from app.identity.models import Group, GroupMember, Official
from app.identity.names import normalize_text, normalize_username
from app.identity.service import USERNAME_RE, emit, unit_subtree
from app.scim.schemas import GROUP, USER
from app.store.access import end_access


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _primary(values: Any) -> str | None:
    items = [v for v in values or [] if isinstance(v, dict) and v.get("value")]
    chosen = next((v for v in items if v.get("primary")), items[0] if items else None)
    return str(chosen["value"]) if chosen else None


class ScimDirectory:
    def __init__(self, session: Session, client_id: str, unit_id: str, base: str, address: str | None) -> None:
        self.s, self.base, self.unit_id = session, base, unit_id
        self.units = unit_subtree(session, unit_id)
        self.actor = Actor(client_id, "client", address, unit_id)

    # --- users ------------------------------------------------------------------------------------------
    def user_resource(self, o: Official) -> dict[str, Any]:
        extra = o.scim_extra or {}
        absent = set(extra.get("absent") or ())  # optional attributes the sender left out stay out
        name = extra.get("name") or {k: v for k, v in (("familyName", o.family_name), ("givenName", o.given_name),
                                                       ("middleName", o.middle_name)) if v}
        resource: dict[str, Any] = {
            "schemas": [USER], "id": o.id, "userName": o.username,
            **({} if "displayName" in absent else {"displayName": o.display_name}),
            **({} if "active" in absent else {"active": o.enabled}),
            **({"name": name} if name else {}),
            "meta": {"resourceType": "User", "created": _iso(o.created_at), "lastModified": _iso(o.updated_at),
                     "location": f"{self.base}/Users/{o.id}", "version": f'W/"{o.version}"'},
        }
        if o.title:
            resource["title"] = o.title
        if o.employee_number:
            resource["externalId"] = o.employee_number
        for attr, single in (("emails", o.email), ("phoneNumbers", o.phone)):
            values = extra.get(attr) or ([{"value": single, "primary": True, "type": "work"}] if single else None)
            if values:
                resource[attr] = values
        return resource

    def users(self, equal: tuple[str, str] | None = None) -> list[Official]:
        """equal: (attribute, value) the filter pins down, read in SQL instead of building every resource."""
        stmt = select(Official).where(Official.unit_id.in_(self.units), Official.deleted_at.is_(None))
        if equal and equal[0] == "username":
            stmt = stmt.where(Official.username == normalize_username(equal[1]))
        elif equal and equal[0] == "externalid" and equal[1].isascii():  # SQLite's lower() knows ASCII only
            stmt = stmt.where(func.lower(Official.employee_number) == equal[1].lower())
        return list(self.s.scalars(stmt.order_by(Official.created_at)))

    def user(self, official_id: str) -> Official:
        o = self.s.get(Official, official_id)
        if o is None or o.unit_id not in self.units or o.deleted_at is not None:
            raise ScimError(404, f"User {official_id} not found")
        return o

    def create_user(self, data: dict[str, Any]) -> Official:
        username = self._username(data)
        o = Official(id=str(uuid.uuid4()), username=username, display_name="", unit_id=self.unit_id, enabled=True)
        self._apply_user(o, {"active": True, **data})  # a new official is active unless told otherwise
        self.s.add(o)
        self.s.flush()
        emit(self.s, o, "joiner" if o.enabled else "leaver")
        record(self.s, "scim.user_created", self.actor, unit_id=o.unit_id, target=o.id, details={"userName": username})
        return o

    def replace_user(self, o: Official, data: dict[str, Any]) -> Official:
        was_enabled = o.enabled
        new_name = self._username(data, current=o)
        o.username = new_name
        self._apply_user(o, data)
        self.s.flush()
        if was_enabled and not o.enabled:
            end_access(self.s, o.id, "official_disabled")
            emit(self.s, o, "leaver", {"reason": "active=false from SCIM"})
        else:
            emit(self.s, o, "joiner" if o.enabled and not was_enabled else "update")
        record(self.s, "scim.user_replaced", self.actor, unit_id=o.unit_id, target=o.id)
        return o

    def delete_user(self, o: Official) -> None:
        o.enabled, o.deleted_at = False, now()
        end_access(self.s, o.id, "official_deleted")
        self.s.flush()
        emit(self.s, o, "leaver", {"reason": "deleted through SCIM"})
        record(self.s, "scim.user_deleted", self.actor, unit_id=o.unit_id, target=o.id)

    def _username(self, data: dict[str, Any], current: Official | None = None) -> str:
        raw = data.get("userName")
        if not isinstance(raw, str) or not raw.strip():
            raise ScimError(400, "userName is required", "invalidValue")
        name = normalize_username(raw)
        if not USERNAME_RE.match(name):
            raise ScimError(400, "userName: 2-150 letters, digits, '.', '-', '_' or '@'", "invalidValue")
        taken = self.s.scalars(select(Official.id).where(Official.username == name,
                                                         Official.source == "local")).first()
        if taken and (current is None or taken != current.id):
            raise ScimError(409, f"userName {name!r} is taken", "uniqueness")
        return name

    @staticmethod
    def _apply_user(o: Official, data: dict[str, Any]) -> None:
        raw_name = data.get("name")
        name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
        o.given_name = normalize_text(str(name.get("givenName") or ""))[:150]
        o.family_name = normalize_text(str(name.get("familyName") or ""))[:150]
        o.middle_name = normalize_text(str(name.get("middleName") or ""))[:150]
        display = data.get("displayName") or name.get("formatted") or data["userName"]
        o.display_name = normalize_text(str(display))[:300]
        o.title = str(data["title"])[:200] if data.get("title") else None
        active = data.get("active", True)
        if not isinstance(active, bool):
            raise ScimError(400, "active must be true or false", "invalidValue")
        o.enabled = active
        o.employee_number = str(data["externalId"])[:60] if data.get("externalId") else None
        for attr in ("emails", "phoneNumbers"):
            if data.get(attr) is not None and not isinstance(data.get(attr), list):
                raise ScimError(400, f"{attr} must be a list", "invalidValue")
        email, phone = _primary(data.get("emails")), _primary(data.get("phoneNumbers"))
        o.email = email.lower()[:320] if email else None
        o.phone = phone[:40] if phone else None
        o.scim_extra = {k: data[k] for k in ("name", "emails", "phoneNumbers") if data.get(k)}
        o.scim_extra["absent"] = [k for k in ("displayName", "active") if data.get(k) is None]

    # --- groups -----------------------------------------------------------------------------------------
    def group_resource(self, g: Group) -> dict[str, Any]:
        members = self.s.execute(select(Official.id, Official.display_name)
                                 .join(GroupMember, GroupMember.official_id == Official.id)
                                 .where(GroupMember.group_id == g.id).order_by(Official.id)).all()
        resource: dict[str, Any] = {
            "schemas": [GROUP], "id": g.id, "displayName": g.name,
            "members": [{"value": oid, "$ref": f"{self.base}/Users/{oid}"} for oid, _ in members],
        }
        if g.external_id:
            resource["externalId"] = g.external_id
        digest = hashlib.sha256(json.dumps(resource, sort_keys=True).encode()).hexdigest()[:16]
        resource["meta"] = {"resourceType": "Group", "location": f"{self.base}/Groups/{g.id}",
                            "version": f'W/"{digest}"'}
        return resource

    def groups(self, equal: tuple[str, str] | None = None) -> list[Group]:
        """A unit's groups are few: always all of them (equal is accepted to match users())."""
        return list(self.s.scalars(select(Group).where(Group.unit_id.in_(self.units), Group.source == "local")
                                   .order_by(Group.name)))

    def group(self, group_id: str) -> Group:
        g = self.s.get(Group, group_id)
        if g is None or g.unit_id not in self.units or g.source != "local":
            raise ScimError(404, f"Group {group_id} not found")
        return g

    def create_group(self, data: dict[str, Any]) -> Group:
        g = Group(id=str(uuid.uuid4()), name=self._group_name(data), unit_id=self.unit_id)
        g.external_id = str(data["externalId"])[:100] if data.get("externalId") else None
        self.s.add(g)
        self.s.flush()
        self._set_members(g, data.get("members") or [])
        record(self.s, "scim.group_created", self.actor, unit_id=g.unit_id, target=g.id, details={"name": g.name})
        return g

    def replace_group(self, g: Group, data: dict[str, Any]) -> Group:
        g.name = self._group_name(data, g)
        g.external_id = str(data["externalId"])[:100] if data.get("externalId") else None
        self._set_members(g, data.get("members") or [])
        record(self.s, "scim.group_replaced", self.actor, unit_id=g.unit_id, target=g.id)
        return g

    def delete_group(self, g: Group) -> None:
        self._set_members(g, [])
        self.s.delete(g)
        record(self.s, "scim.group_deleted", self.actor, unit_id=g.unit_id, target=g.id)

    def _group_name(self, data: dict[str, Any], current: Group | None = None) -> str:
        name = data.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise ScimError(400, "displayName is required", "invalidValue")
        name = normalize_text(name)[:200]
        taken = self.s.scalars(select(Group.id).where(Group.name == name, Group.source == "local")).first()
        if taken and (current is None or taken != current.id):
            raise ScimError(409, f"a group named {name!r} exists", "uniqueness")
        return name

    def _set_members(self, g: Group, members: list[Any]) -> None:
        wanted: set[str] = set()
        for member in members:
            value = member.get("value") if isinstance(member, dict) else None
            if not value:
                raise ScimError(400, "each member needs a value (the User id)", "invalidValue")
            wanted.add(self.user(str(value)).id)
        present = set(self.s.scalars(select(GroupMember.official_id).where(GroupMember.group_id == g.id)))
        for official_id in wanted - present:
            self.s.add(GroupMember(group_id=g.id, official_id=official_id))
        for official_id in present - wanted:
            self.s.delete(self.s.get(GroupMember, (g.id, official_id)))
        self.s.flush()
        for official_id in wanted ^ present:
            official = self.s.get(Official, official_id)
            if official is not None:
                emit(self.s, official, "update", {"reason": f"group {g.name}"})

