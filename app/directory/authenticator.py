"""Login with the directory password: find the entry with an escaped filter, then bind as it."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from app.auth.authenticator import AuthResult, Outcome
from app.db import now
from app.directory.ldap import DirectoryUnavailable, LdapDirectory
from app.directory.links import linked_id
from app.directory.mapping import PersonRecord, map_person, normalize_dn, parent_dn, requested_attributes
from app.directory.sources import DirectorySources
from app.identity.models import Official, Unit
from app.identity.names import normalize_username
from app.identity.service import emit
from app.oidc.acr import ACR_PASSWORD
from app.store.driver_sql import DriverStatement

MAX_USERNAME = 256


class KnownOfficial(NamedTuple):
    id: str
    enabled: bool
    unit_id: str | None


_officials: Table = cast(Table, Official.__table__)
# On every directory login, on the driver (app/store/driver_sql.py): the official the entry is linked to, else
# its own, and only what the login needs of them.
KNOWN = DriverStatement(select(_officials.c.id, _officials.c.enabled, _officials.c.unit_id).where(
    _officials.c.id == func.coalesce(
        linked_id(bindparam("source"), bindparam("external_id")),
        select(_officials.c.id).where(_officials.c.source == bindparam("source"),
                                      _officials.c.external_id == bindparam("external_id")).scalar_subquery())))


class DirectoryAuthenticator:
    name = "directory"

    def __init__(self, sources: DirectorySources) -> None:
        self.sources = sources

    def authenticate(self, session: Session, username: str, password: str) -> AuthResult:
        names = self.sources.names(session)
        if not names or not username or len(username) > MAX_USERNAME:
            return AuthResult(Outcome.NOT_FOUND)
        login, at, suffix = username.rpartition("@")
        candidates, login = ([suffix], login) if at and suffix.lower() in names else (names, username)
        login = normalize_username(login)
        found: list[tuple[str, LdapDirectory, str, dict[str, Any]]] = []
        unavailable = False
        for name in candidates:
            client = self.sources.client(session, name)
            config = client.config
            try:
                for dn, raw in client.find_people(config.mapping.username, login, requested_attributes(config)):
                    found.append((name, client, dn, raw))
            except DirectoryUnavailable:
                unavailable = True
        if not found:
            return AuthResult(Outcome.UNAVAILABLE if unavailable else Outcome.NOT_FOUND)
        verified = []
        for name, client, dn, raw in found:
            record = map_person(dn, raw, client.config)
            if record is None:
                continue
            try:
                if client.check_password(dn, password):
                    verified.append((name, record))
                elif not record.enabled and len(found) == 1:
                    return AuthResult(Outcome.LOCKED if record.locked else Outcome.DISABLED)
            except DirectoryUnavailable:
                unavailable = True
        if len(verified) > 1:
            return AuthResult(Outcome.AMBIGUOUS)
        if not verified:
            return AuthResult(Outcome.UNAVAILABLE if unavailable else Outcome.BAD_CREDENTIALS)
        name, record = verified[0]
        if not record.enabled:
            return AuthResult(Outcome.LOCKED if record.locked else Outcome.DISABLED)
        official = self._official_for(session, name, record)
        if official is None:
            return AuthResult(Outcome.CONFLICT)
        if not official.enabled:
            return AuthResult(Outcome.DISABLED)
        return AuthResult(Outcome.OK, official.id, amr=("pwd",), acr=ACR_PASSWORD, unit_id=official.unit_id)

    def _official_for(self, session: Session, source: str, record: PersonRecord) -> KnownOfficial | None:
        """The official this entry is, created on first login if the sync has not brought them yet.

        None when the username already belongs to another directory entry (an account deleted and created
        again gets a new UUID): a username is never silently handed to a different person; an admin decides.
        """
        row = KNOWN.one_or_none(session, {"source": source, "external_id": record.external_id})
        if row is not None:
            return KnownOfficial(row["id"], row["enabled"], row["unit_id"])
        if session.scalars(select(Official.id).where(Official.source == source,
                                                     Official.username == record.username)).first():
            return None
        unit_key = normalize_dn(parent_dn(record.dn))
        unit_id = next((u.id for u in session.scalars(select(Unit).where(Unit.source == source))
                        if u.dn and normalize_dn(u.dn) == unit_key), None)
        official = Official(
            id=str(uuid.uuid4()), username=record.username, display_name=record.display_name,
            given_name=record.given_name, family_name=record.family_name, middle_name=record.middle_name,
            email=record.email, phone=record.phone, title=record.title, unit_id=unit_id, enabled=True,
            source=source, external_id=record.external_id, dn=record.dn, employee_number=record.employee_number,
            entry_digest=record.digest(), created_at=now(), updated_at=now(),
        )
        session.add(official)
        session.flush()
        emit(session, official, "joiner", {"username": record.username, "via": "first login"})
        return KnownOfficial(official.id, True, unit_id)
