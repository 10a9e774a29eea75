"""An official's second factors: enrol, check, remove. No web framework here; the pages call these."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app.crypto import SecretBox, token_digest
from app.db import now
from app.identity.models import Official
from app.mfa import totp
from app.mfa.models import RecoveryCode, TotpFactor, WebAuthnCredential
from app.store.driver_sql import DriverStatement

RECOVERY_CODES = 10
# On every login (app/store/driver_sql.py: compiled once, run on the driver connection).
_totp: Table = cast(Table, TotpFactor.__table__)
_keys: Table = cast(Table, WebAuthnCredential.__table__)
HAS_FACTOR = DriverStatement(select(or_(
    exists().where(_totp.c.official_id == bindparam("official_id"), _totp.c.confirmed_at.is_not(None)),
    exists().where(_keys.c.official_id == bindparam("official_id"))).label("has_factor")))


@dataclass(frozen=True)
class Factors:
    totp: bool
    passkeys: tuple[tuple[str, str, int, int | None], ...]  # (credential id, name, created, last used)
    recovery_left: int

    @property
    def any(self) -> bool:
        return self.totp or bool(self.passkeys)


class FactorRefused(ValueError):
    """A code or an authenticator response that does not verify; the message is safe to show."""


class FactorService:
    def __init__(self, box: SecretBox, issuer: str, rp_name: str) -> None:
        self.box = box
        parts = urlsplit(issuer)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.rp_id = parts.hostname or "localhost"
        self.rp_name = rp_name

    def factors(self, session: Session, official_id: str) -> Factors:
        confirmed = session.scalar(select(TotpFactor.confirmed_at).where(TotpFactor.official_id == official_id))
        keys = session.execute(
            select(WebAuthnCredential.credential_id, WebAuthnCredential.name, WebAuthnCredential.created_at,
                   WebAuthnCredential.last_used_at)
            .where(WebAuthnCredential.official_id == official_id).order_by(WebAuthnCredential.created_at)).all()
        left = session.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.official_id == official_id, RecoveryCode.used_at.is_(None))) or 0
        return Factors(confirmed is not None, tuple(tuple(k) for k in keys), left)  # type: ignore[misc]

    def has_factor(self, session: Session, official_id: str) -> bool:
        """Whether a second step is due after the password: one statement of two indexed lookups, every login."""
        row = HAS_FACTOR.one_or_none(session, {"official_id": official_id})
        return bool(row and row["has_factor"])

    # --- TOTP ---------------------------------------------------------------------------------
    def totp_begin(self, session: Session, official: Official) -> tuple[str, str]:
        """A new unconfirmed seed (replacing an unconfirmed one); returns (secret, otpauth URI)."""
        row = session.get(TotpFactor, official.id, with_for_update=True)
        if row is not None and row.confirmed_at is not None:
            raise FactorRefused("An authenticator app is already set up; remove it first.")
        secret = totp.new_secret()
        if row is None:
            session.add(TotpFactor(official_id=official.id, secret_sealed=self.box.seal(secret.encode()),
                                   last_step=0))
        else:
            row.secret_sealed = self.box.seal(secret.encode())
        session.flush()
        return secret, totp.provisioning_uri(secret, official.username, self.rp_name)

    def pending_totp_secret(self, session: Session, official_id: str) -> str | None:
        row = session.get(TotpFactor, official_id)
        if row is None or row.confirmed_at is not None:
            return None
        return self.box.open(row.secret_sealed).decode()

    def totp_confirm(self, session: Session, official_id: str, code: str) -> list[str]:
        """Confirm the seed with a first code; returns fresh recovery codes, shown once."""
        row = session.get(TotpFactor, official_id, with_for_update=True)
        if row is None or row.confirmed_at is not None:
            raise FactorRefused("Start the set-up again.")
        step = totp.matching_step(self.box.open(row.secret_sealed).decode(), code, time.time(), row.last_step)
        if step is None:
            raise FactorRefused("The code is wrong or has expired.")
        row.confirmed_at, row.last_step = now(), step
        return self.new_recovery_codes(session, official_id)

    def verify_totp(self, session: Session, official_id: str, code: str) -> bool:
        # Locked, so two requests carrying the same code cannot both pass the replay check.
        row = session.get(TotpFactor, official_id, with_for_update=True)
        if row is None or row.confirmed_at is None:
            return False
        step = totp.matching_step(self.box.open(row.secret_sealed).decode(), code, time.time(), row.last_step)
        if step is None:
            return False
        row.last_step = step
        return True

    def remove_totp(self, session: Session, official_id: str) -> None:
        session.execute(delete(TotpFactor).where(TotpFactor.official_id == official_id))
        self._drop_recovery_if_no_factor(session, official_id)

    # --- recovery codes -----------------------------------------------------------------------
    def new_recovery_codes(self, session: Session, official_id: str) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.official_id == official_id))
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        session.add_all(RecoveryCode(digest=token_digest(_recovery_key(official_id, c)), official_id=official_id)
                        for c in codes)
        return codes

    def use_recovery_code(self, session: Session, official_id: str, code: str) -> bool:
        digest = token_digest(_recovery_key(official_id, code.strip().lower()))
        used = session.execute(update(RecoveryCode).where(
            RecoveryCode.digest == digest, RecoveryCode.official_id == official_id, RecoveryCode.used_at.is_(None))
            .values(used_at=now()))
        return bool(getattr(used, "rowcount", 0) == 1)

    def reset_all(self, session: Session, official_id: str) -> None:
        """Helpdesk: the official lost every factor. They enrol again at their next login."""
        session.execute(delete(TotpFactor).where(TotpFactor.official_id == official_id))
        session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.official_id == official_id))
        session.execute(delete(RecoveryCode).where(RecoveryCode.official_id == official_id))

    def _drop_recovery_if_no_factor(self, session: Session, official_id: str) -> None:
        if not self.has_factor(session, official_id):
            session.execute(delete(RecoveryCode).where(RecoveryCode.official_id == official_id))

    # --- WebAuthn passkeys (py_webauthn is imported by these methods only: a tenth of a second that no CLI
    # command and no token request needs) -------------------------------------------------------------------
    def registration_options(self, session: Session, official: Official) -> tuple[str, bytes]:
        import webauthn
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        existing = session.scalars(select(WebAuthnCredential.credential_id)
                                   .where(WebAuthnCredential.official_id == official.id)).all()
        options = webauthn.generate_registration_options(
            rp_id=self.rp_id, rp_name=self.rp_name, user_id=official.id.encode(), user_name=official.username,
            user_display_name=official.display_name,
            exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED),
        )
        return webauthn.options_to_json(options), options.challenge

    def register(self, session: Session, official_id: str, challenge: bytes, credential: dict[str, Any],
                 name: str) -> None:
        import webauthn
        from webauthn.helpers import bytes_to_base64url
        from webauthn.helpers.exceptions import WebAuthnException

        try:
            verified = webauthn.verify_registration_response(
                credential=credential, expected_challenge=challenge, expected_origin=self.origin,
                expected_rp_id=self.rp_id, require_user_verification=True)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise FactorRefused("The passkey could not be verified.") from exc
        credential_id = bytes_to_base64url(verified.credential_id)
        if session.get(WebAuthnCredential, credential_id) is not None:
            raise FactorRefused("This passkey is already registered.")
        transports = credential.get("response", {}).get("transports") or []
        session.add(WebAuthnCredential(
            credential_id=credential_id, official_id=official_id, public_key=verified.credential_public_key,
            sign_count=verified.sign_count, transports=[str(t) for t in transports][:8],
            name=(name.strip() or "Passkey")[:100]))

    def authentication_options(self, session: Session, official_id: str | None) -> tuple[str, bytes]:
        """Options for navigator.credentials.get; without an official, any discoverable passkey of ours."""
        import webauthn
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

        allowed = []
        if official_id:
            allowed = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in session.scalars(
                select(WebAuthnCredential.credential_id).where(WebAuthnCredential.official_id == official_id))]
        options = webauthn.generate_authentication_options(
            rp_id=self.rp_id, allow_credentials=allowed, user_verification=UserVerificationRequirement.REQUIRED)
        return webauthn.options_to_json(options), options.challenge

    def authenticate(self, session: Session, challenge: bytes, credential: dict[str, Any],
                     official_id: str | None) -> str:
        """Verify an assertion; returns the official it belongs to."""
        import webauthn
        from webauthn.helpers.exceptions import WebAuthnException

        raw_id = str(credential.get("id", ""))[:700] if isinstance(credential, dict) else ""
        row = session.get(WebAuthnCredential, raw_id, with_for_update=True) if raw_id else None
        if row is None or (official_id is not None and row.official_id != official_id):
            raise FactorRefused("This passkey is not registered here.")
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, credential_public_key=row.public_key,
                credential_current_sign_count=row.sign_count, require_user_verification=True)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise FactorRefused("The passkey could not be verified.") from exc
        row.sign_count, row.last_used_at = verified.new_sign_count, now()
        return row.official_id

    def remove_passkey(self, session: Session, official_id: str, credential_id: str) -> bool:
        gone = session.execute(delete(WebAuthnCredential).where(
            WebAuthnCredential.official_id == official_id, WebAuthnCredential.credential_id == credential_id))
        self._drop_recovery_if_no_factor(session, official_id)
        return bool(getattr(gone, "rowcount", 0))


def _recovery_key(official_id: str, code: str) -> str:
    # Salted with the official, so equal codes of two officials do not share a digest.
    return f"recovery:{official_id}:{code}"


def parse_credential(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise FactorRefused("Send the authenticator's answer as JSON.") from exc
    if not isinstance(value, dict):
        raise FactorRefused("Send the authenticator's answer as JSON.")
    return value
