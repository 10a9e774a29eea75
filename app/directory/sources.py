"""Configured directory sources: stored with the service password sealed, and their live clients."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cache import TtlCache
from app.crypto import SecretBox
from app.directory.config import DirectoryConfig
from app.identity.models import DirectorySource, Official
from app.identity.service import emit
from app.store.access import end_access
from app.validation import field_errors

if TYPE_CHECKING:  # ldap3 is loaded when a directory is first used, not by every process that lists sources
    from app.directory.ldap import LdapDirectory


class SourceError(ValueError):
    """A source that cannot be saved or found, in words that name the field."""


def parse_config(data: dict[str, object]) -> DirectoryConfig:
    try:
        return DirectoryConfig.model_validate(data)
    except ValidationError as exc:
        raise SourceError(field_errors(exc)) from exc


def check_ca_file(path: str | None) -> None:
    """Refused when saved, in plain words: a CA bundle that cannot be read would fail every TLS connection."""
    if path is None:
        return
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise SourceError(f"ca_file: {path} does not exist") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SourceError(f"ca_file: {path} is not a readable PEM bundle of CA certificates ({exc})") from None


class DirectorySources:
    def __init__(self, box: SecretBox, cache_ttl: float = 5.0) -> None:
        self.box = box
        self._clients: dict[str, tuple[str, LdapDirectory]] = {}
        self._lock = threading.Lock()
        # Every login asks which sources exist; they change rarely, so each process remembers for a while.
        self._names: TtlCache[list[str]] = TtlCache(cache_ttl)
        self._checked: TtlCache[LdapDirectory] = TtlCache(cache_ttl)

    def save(self, session: Session, config: DirectoryConfig, bind_password: str | None) -> DirectorySource:
        check_ca_file(config.ca_file)
        row = session.get(DirectorySource, config.name)
        if row is None:
            if not bind_password:
                raise SourceError("bind_password: needed for a new source")
            row = DirectorySource(name=config.name, config={}, bind_password_sealed="")
            session.add(row)
        row.config = config.model_dump(mode="json", exclude_none=True)
        if bind_password:
            row.bind_password_sealed = self.box.seal(bind_password.encode())
        session.flush()
        self._names.clear()
        self._checked.clear()
        return row

    def remove(self, session: Session, name: str) -> int:
        """Remove a source. Its officials can no longer log in, so they leave: sessions and tokens end, and
        their accounts are disabled everywhere. Returns how many officials left."""
        row = session.get(DirectorySource, name)
        if row is None:
            raise SourceError(f"no directory source named {name!r}")
        leaving = session.scalars(select(Official).where(Official.source == name, Official.enabled.is_(True))).all()
        for official in leaving:
            official.enabled = False
            end_access(session, official.id, "directory_removed")
            emit(session, official, "leaver", {"reason": f"directory {name} removed"})
        session.delete(row)
        session.flush()
        self._names.clear()
        self._checked.clear()
        return len(leaving)

    def officials_of(self, session: Session, name: str) -> int:
        return len(session.scalars(select(Official.id).where(Official.source == name,
                                                             Official.enabled.is_(True))).all())

    def names(self, session: Session) -> list[str]:
        hit, names = self._names.get("names")
        if hit and names is not None:
            return names
        names = list(session.scalars(select(DirectorySource.name).where(DirectorySource.enabled.is_(True))
                                     .order_by(DirectorySource.name)).all())
        self._names.put("names", names)
        return names

    def config(self, session: Session, name: str) -> DirectoryConfig:
        row = session.get(DirectorySource, name)
        if row is None:
            raise SourceError(f"no directory source named {name!r}")
        return parse_config(row.config)

    def client(self, session: Session, name: str) -> LdapDirectory:
        """The source's LDAP client, rebuilt when its configuration changed (checked every few seconds)."""
        hit, known = self._checked.get(name)
        if hit and known is not None:
            return known
        row = session.get(DirectorySource, name)
        if row is None:
            raise SourceError(f"no directory source named {name!r}")
        payload = json.dumps([row.config, row.bind_password_sealed], sort_keys=True).encode()
        version = hashlib.sha256(payload).hexdigest()
        cached = self._clients.get(name)
        if cached and cached[0] == version:
            self._checked.put(name, cached[1])
            return cached[1]
        from app.directory.ldap import LdapDirectory

        client = LdapDirectory(parse_config(row.config), self.box.open(row.bind_password_sealed).decode())
        with self._lock:
            self._clients[name] = (version, client)
        self._checked.put(name, client)
        return client
