"""Changes to units and officials in the embedded local directory."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import now
from app.identity.models import Group, GroupMember, Official, ProvisioningEvent, Unit
from app.identity.names import normalize_text, normalize_username
from app.identity.passwords import hash_password

USERNAME_RE = re.compile(r"^[\w.\-@]{2,150}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class IdentityError(ValueError):
    """A change that cannot be made, in words an admin can act on."""


@dataclass(frozen=True)
class NewOfficial:
    username: str
    display_name: str
    password: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    unit_code: str | None = None
    given_name: str = ""
    family_name: str = ""
    middle_name: str = ""
    groups: tuple[str, ...] = ()


def ensure_unit(session: Session, code: str, name: str, parent_code: str | None = None,
                kind: str = "unit") -> Unit:
    unit = session.scalars(select(Unit).where(Unit.code == code)).one_or_none()
    if unit:
        return unit
    parent = None
    if parent_code:
        parent = session.scalars(select(Unit).where(Unit.code == parent_code)).one_or_none()
        if parent is None:
            raise IdentityError(f"parent unit {parent_code!r} does not exist")
    unit = Unit(id=str(uuid.uuid4()), code=code, name=normalize_text(name), kind=kind,
                parent_id=parent.id if parent else None)
    session.add(unit)
    session.flush()
    return unit


def unit_subtree(session: Session, unit_id: str) -> set[str]:
    """The unit and every unit below it."""
    children: dict[str | None, list[str]] = {}
    for uid, parent in session.execute(select(Unit.id, Unit.parent_id)):
        children.setdefault(parent, []).append(uid)
    found: set[str] = set()
    stack = [unit_id]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, []))
    return found


def _ensure_group(session: Session, name: str) -> Group:
    group = session.scalars(select(Group).where(Group.name == name, Group.source == "local")).one_or_none()
    if group is None:
        group = Group(id=str(uuid.uuid4()), name=name)
        session.add(group)
        session.flush()
    return group


def add_official(session: Session, new: NewOfficial) -> Official:
    username = normalize_username(new.username)
    if not USERNAME_RE.match(username):
        raise IdentityError("username: 2-150 letters, digits, '.', '-', '_' or '@'")
    if new.email and not EMAIL_RE.match(new.email):
        raise IdentityError(f"email: {new.email!r} is not an e-mail address")
    if session.scalars(select(Official.id).where(Official.username == username, Official.source == "local")).first():
        raise IdentityError(f"username {username!r} is already taken")
    unit_id = None
    if new.unit_code:
        unit = session.scalars(select(Unit).where(Unit.code == new.unit_code)).one_or_none()
        if unit is None:
            raise IdentityError(f"unit {new.unit_code!r} does not exist")
        unit_id = unit.id
    official = Official(
        id=str(uuid.uuid4()), username=username, display_name=normalize_text(new.display_name),
        given_name=normalize_text(new.given_name), family_name=normalize_text(new.family_name),
        middle_name=normalize_text(new.middle_name), email=new.email.lower() if new.email else None,
        phone=new.phone, title=new.title, unit_id=unit_id,
        password_hash=hash_password(new.password) if new.password else None,
    )
    session.add(official)
    session.flush()
    for name in new.groups:
        session.add(GroupMember(group_id=_ensure_group(session, name).id, official_id=official.id))
    emit(session, official, "joiner")
    session.flush()
    return official


def find_by_login_name(session: Session, name: str, directory_names: list[str]) -> Official | None:
    """The official a login name means: "hieund@bacgiang" names a directory; a bare name must be unique."""
    base, at, suffix = name.rpartition("@")
    if at and suffix.lower() in directory_names:
        return session.scalars(select(Official).where(Official.username == normalize_username(base),
                                                      Official.source == suffix.lower())).one_or_none()
    found = session.scalars(select(Official).where(Official.username == normalize_username(name)).limit(2)).all()
    return found[0] if len(found) == 1 else None


def find_official(session: Session, username: str, source: str = "local") -> Official | None:
    return session.scalars(
        select(Official).where(Official.username == normalize_username(username), Official.source == source)
    ).one_or_none()


def emit(session: Session, official: Official, kind: str, payload: dict[str, object] | None = None) -> None:
    """Record a provisioning event in the transaction that made the change (the outbox)."""
    session.add(ProvisioningEvent(official_id=official.id, kind=kind, source=official.source,
                                  payload=payload or {}, created_at=now()))
