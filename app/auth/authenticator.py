"""How a password is checked. The local directory ships here; LDAP plugs in behind the same protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from app.identity.passwords import verify_password
from app.identity.service import find_official
from app.oidc.acr import ACR_PASSWORD


class Outcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    DISABLED = "disabled"
    LOCKED = "locked"  # the directory locked the account after failed passwords
    UNAVAILABLE = "unavailable"
    # The name exists in several directories and the password opens more than one: name the source.
    AMBIGUOUS = "ambiguous"
    # Not an account of this authenticator: the next one in the chain is asked.
    NOT_FOUND = "not_found"
    # The directory entry's username belongs to another official already: an admin must decide.
    CONFLICT = "conflict"


@dataclass(frozen=True)
class AuthResult:
    outcome: Outcome
    official_id: str | None = None
    amr: tuple[str, ...] = ()
    acr: str = ACR_PASSWORD
    unit_id: str | None = None  # the official's unit, for the audit event the login writes


class Authenticator(Protocol):
    name: str

    def authenticate(self, session: Session, username: str, password: str) -> AuthResult: ...


class LocalAuthenticator:
    """Officials whose argon2id hash lives in our own database (the embedded default and the demo)."""

    name = "local"

    def __init__(self, directory_names: Callable[[Session], list[str]] | None = None) -> None:
        self.directory_names = directory_names

    def authenticate(self, session: Session, username: str, password: str) -> AuthResult:
        _, at, suffix = username.rpartition("@")
        if at and self.directory_names and suffix.lower() in self.directory_names(session):
            return AuthResult(Outcome.NOT_FOUND)  # "name@bacgiang" names a directory account
        official = find_official(session, username) if username else None
        if official is None or official.password_hash is None:
            return AuthResult(Outcome.NOT_FOUND)
        if not password or not verify_password(official.password_hash, password):
            return AuthResult(Outcome.BAD_CREDENTIALS)
        if not official.enabled:
            return AuthResult(Outcome.DISABLED)
        return AuthResult(Outcome.OK, official.id, amr=("pwd",), unit_id=official.unit_id)


class ChainAuthenticator:
    """Local accounts first, then each directory; a name nobody knows is a plain bad-credentials answer."""

    name = "chain"

    def __init__(self, *authenticators: Authenticator, equalize_timing: Callable[[Session], bool]) -> None:
        self.authenticators = authenticators
        self.equalize_timing = equalize_timing

    def authenticate(self, session: Session, username: str, password: str) -> AuthResult:
        unavailable = False
        for authenticator in self.authenticators:
            result = authenticator.authenticate(session, username, password)
            if result.outcome is Outcome.UNAVAILABLE:
                unavailable = True
            elif result.outcome is not Outcome.NOT_FOUND:
                return result
        if unavailable:
            return AuthResult(Outcome.UNAVAILABLE)
        if self.equalize_timing(session):
            # Without a directory, an unknown name would answer faster than a wrong password: hash anyway.
            verify_password(None, password)
        return AuthResult(Outcome.BAD_CREDENTIALS)
