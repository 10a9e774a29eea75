"""How a password is checked. The local directory ships here; LDAP plugs in behind the same protocol."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from app.auth.passwords import verify_password
from app.identity.service import find_official

ACR_PASSWORD = "urn:sso-broker:acr:pwd"


class Outcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    DISABLED = "disabled"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class AuthResult:
    outcome: Outcome
    official_id: str | None = None
    amr: tuple[str, ...] = ()
    acr: str = ACR_PASSWORD


class Authenticator(Protocol):
    name: str

    def authenticate(self, session: Session, username: str, password: str) -> AuthResult: ...


class LocalAuthenticator:
    """Officials whose argon2id hash lives in our own database (the embedded default and the demo)."""

    name = "local"

    def authenticate(self, session: Session, username: str, password: str) -> AuthResult:
        if not password:
            return AuthResult(Outcome.BAD_CREDENTIALS)
        official = find_official(session, username) if username else None
        valid = verify_password(official.password_hash if official else None, password)
        if official is None or not valid:
            return AuthResult(Outcome.BAD_CREDENTIALS)
        if not official.enabled:
            return AuthResult(Outcome.DISABLED)
        return AuthResult(Outcome.OK, official.id, amr=("pwd",))
