"""Account recovery: a single-use reset link, sent to a verified personal address or issued by the
helpdesk; and the check of a new recovery address. Answers never reveal whether an account exists."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.account.mailer import Mailer
from app.account.password import LOCAL_MIN_LENGTH
from app.account.sms import SmsSender
from app.audit.trail import Actor, record
from app.auth.throttle import LoginThrottler
from app.crypto import token_digest
from app.db import now
from app.directory.ldap import DirectoryUnavailable
from app.directory.sources import DirectorySources
from app.identity.models import Official
from app.identity.passwords import hash_password
from app.identity.service import find_by_login_name
from app.mfa.factors import FactorService
from app.mfa.models import AccountToken
from app.settings import Settings
from app.store.access import end_access

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
PHONE = re.compile(r"^\+?[0-9]{9,15}$")
PHONE_CODE_TTL = 600


@dataclass(frozen=True)
class ResetResult:
    ok: bool
    message_key: str = ""
    detail: str = ""


class AccountRecovery:
    def __init__(self, settings: Settings, issuer: str, throttle: LoginThrottler, directories: DirectorySources,
                 factors: FactorService) -> None:
        self.settings, self.issuer, self.throttle = settings, issuer, throttle
        self.directories, self.factors = directories, factors
        self.mailer = Mailer(settings)
        self.sms = SmsSender(settings)

    def issue(self, session: Session, official_id: str, purpose: str, issued_by: str, value: str | None = None,
              ttl: int | None = None, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(32)
        session.add(AccountToken(digest=token_digest(token), official_id=official_id, purpose=purpose, value=value,
                                 issued_by=issued_by[:100],
                                 expires_at=now() + (ttl or self.settings.reset_link_ttl)))
        return token

    def helpdesk_link(self, session: Session, official: Official, helpdesk: str, actor: Actor) -> str:
        """A reset link the helpdesk hands over in person: no second factor asked, so it is audited."""
        token = self.issue(session, official.id, "reset", f"helpdesk:{helpdesk}")
        record(session, "credentials.reset_link", actor, unit_id=official.unit_id, target=official.id)
        return f"{self.issuer}/reset/{token}"

    def peek(self, session: Session, token: str, purpose: str) -> AccountToken | None:
        if not token or len(token) > 200:
            return None
        row = session.get(AccountToken, token_digest(token), with_for_update=True)
        if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at < now():
            return None
        return row

    # --- self-service reset -------------------------------------------------------------------------
    def request_reset(self, session: Session, name: str, ip: str) -> None:
        """Mail a link if the name is an official's with a verified recovery address; silent otherwise."""
        throttle = self.throttle
        if throttle.locked_for(session, f"reset:{name}", ip):
            return
        # Every request counts: a lockout here bounds the mail anybody can make us send.
        throttle.record_failure(session, f"reset:{name}", ip)
        official = find_by_login_name(session, name, self.directories.names(session))
        if official is None or not official.enabled:
            return
        if official.recovery_email_verified_at:
            token = self.issue(session, official.id, "reset", "self-service")
            self.mailer.send(str(official.recovery_email), "Đặt lại mật khẩu / Password reset",
                             f"{self.issuer}/reset/{token}\n\nLiên kết dùng được một lần. / "
                             f"The link works once.")
        if official.recovery_phone_verified_at:
            token = self.issue(session, official.id, "reset", "self-service")
            self.sms.send(str(official.recovery_phone), f"Dat lai mat khau / Password reset: "
                                                        f"{self.issuer}/reset/{token}")

    def complete_reset(self, session: Session, token: str, new_password: str, code: str, ip: str) -> ResetResult:
        row = self.peek(session, token, "reset")
        if row is None:
            return ResetResult(False, "reset.expired")
        official = session.get(Official, row.official_id)
        if official is None or not official.enabled:
            return ResetResult(False, "reset.expired")
        factors = self.factors
        if factors.factors(session, official.id).totp and row.issued_by == "self-service":
            # A mailbox alone must not be enough to take over an account that has a second factor.
            if self.throttle.locked_for(session, official.username, ip):
                return ResetResult(False, "mfa.wrong_code")
            if not (factors.verify_totp(session, official.id, code)
                    or factors.use_recovery_code(session, official.id, code)):
                self.throttle.record_failure(session, official.username, ip)
                return ResetResult(False, "mfa.wrong_code")
        refusal = self._write(session, official, new_password)
        if refusal is not None:
            return refusal
        row.used_at = now()
        end_access(session, official.id, "password_reset")
        record(session, "password.reset", Actor(official.id, "official", ip), unit_id=official.unit_id,
               details={"link_issued_by": row.issued_by})
        return ResetResult(True)

    def _write(self, session: Session, official: Official, new: str) -> ResetResult | None:
        if official.source == "local":
            if len(new) < LOCAL_MIN_LENGTH:
                return ResetResult(False, "reset.policy", str(LOCAL_MIN_LENGTH))
            official.password_hash = hash_password(new)
            return None
        if not official.dn:
            return ResetResult(False, "reset.no_entry")
        try:
            refusal = self.directories.client(session, official.source).set_password(official.dn, new)
        except DirectoryUnavailable:
            return ResetResult(False, "login.unavailable")
        return None if refusal is None else ResetResult(False, "reset.refused", refusal)

    # --- recovery address ---------------------------------------------------------------------------
    def propose_email(self, session: Session, official_id: str, address: str) -> bool:
        address = address.strip()
        if not EMAIL.match(address) or len(address) > 320:
            return False
        token = self.issue(session, official_id, "verify_email", "self", value=address)
        return self.mailer.send(address, "Xác nhận địa chỉ khôi phục / Confirm your recovery address",
                                f"{self.issuer}/account/recovery-email/verify?token={token}")

    def propose_phone(self, session: Session, official_id: str, phone: str) -> bool:
        phone = re.sub(r"[\s.\-()]", "", phone)
        if not PHONE.match(phone):
            return False
        code = f"{secrets.randbelow(10**6):06d}"
        self.issue(session, official_id, "verify_phone", "self", value=phone, ttl=PHONE_CODE_TTL,
                   token=_phone_key(official_id, code))
        return self.sms.send(phone, f"Ma xac nhan / Code: {code}")

    def confirm_phone(self, session: Session, official_id: str, code: str, ip: str) -> bool:
        """Six digits are guessable: wrong codes count towards the account's lockout, like passwords."""
        official = session.get(Official, official_id)
        if official is None or self.throttle.locked_for(session, official.username, ip):
            return False
        row = self.peek(session, _phone_key(official_id, code.strip()[:12]), "verify_phone")
        if row is None or row.official_id != official_id:
            self.throttle.record_failure(session, official.username, ip)
            return False
        official.recovery_phone, official.recovery_phone_verified_at = row.value, now()
        row.used_at = now()
        return True

    def confirm_email(self, session: Session, token: str, official_id: str) -> bool:
        row = self.peek(session, token, "verify_email")
        if row is None or row.official_id != official_id:
            return False
        session.execute(update(Official).where(Official.id == official_id)
                        .values(recovery_email=row.value, recovery_email_verified_at=now()))
        row.used_at = now()
        return True


def _phone_key(official_id: str, code: str) -> str:
    # Salted with the official: the same six digits of two officials are two different digests.
    return f"phone:{official_id}:{code}"
