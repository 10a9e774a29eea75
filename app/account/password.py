"""An official changes their own password: in our database for local accounts, written back to the
directory for directory accounts, so the directory's own policy and hashing apply."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.auth.throttle import LoginThrottler
from app.directory.ldap import DirectoryUnavailable
from app.directory.sources import DirectorySources
from app.identity.models import Official
from app.identity.passwords import hash_password, verify_password

LOCAL_MIN_LENGTH = 10


@dataclass(frozen=True)
class ChangeResult:
    status: int
    error: str | None = None
    message: str = ""


class PasswordChange:
    def __init__(self, throttle: LoginThrottler, directories: DirectorySources) -> None:
        self.throttle, self.directories = throttle, directories

    def change(self, session: Session, official_id: str, current: str, new: str, ip: str) -> ChangeResult:
        official = session.get(Official, official_id)
        if official is None or not official.enabled:
            return ChangeResult(401, "login_required", "Sign in again.")
        throttle = self.throttle
        wait = throttle.locked_for(session, official.username, ip)
        if wait:
            return ChangeResult(429, "too_many_attempts", f"Too many wrong passwords; try again in {wait} s.")
        if not current or not new:
            return ChangeResult(400, "invalid_request", "Give the current and the new password.")
        if new == current:
            return ChangeResult(400, "policy", "The new password must differ from the current one.")
        if official.source == "local":
            return self._local(session, official, current, new, ip)
        return self._directory(session, official, current, new, ip)

    def _local(self, session: Session, official: Official, current: str, new: str, ip: str) -> ChangeResult:
        if not verify_password(official.password_hash, current):
            self.throttle.record_failure(session, official.username, ip)
            return ChangeResult(400, "invalid_password", "The current password is wrong.")
        if len(new) < LOCAL_MIN_LENGTH:
            return ChangeResult(400, "policy", f"The new password needs at least {LOCAL_MIN_LENGTH} characters.")
        official.password_hash = hash_password(new)
        return ChangeResult(200)

    def _directory(self, session: Session, official: Official, current: str, new: str, ip: str) -> ChangeResult:
        if not official.dn:
            return ChangeResult(409, "no_directory_entry", "This account has no directory entry to change.")
        try:
            client = self.directories.client(session, official.source)
            refusal = client.change_password(official.dn, current, new)
        except DirectoryUnavailable:
            return ChangeResult(503, "directory_unavailable", "The directory cannot be reached; try again later.")
        if refusal is None:
            return ChangeResult(200)
        if refusal == "the current password is wrong":
            self.throttle.record_failure(session, official.username, ip)
            return ChangeResult(400, "invalid_password", "The current password is wrong.")
        # The directory's own words (e.g. ppolicy's "Password fails quality checking policy").
        return ChangeResult(400, "policy", f"The directory refused the new password: {refusal}")
