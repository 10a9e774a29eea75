"""An official's second factors and the one-time tokens of account recovery.

Secrets are sealed (TOTP seeds) or stored as digests (recovery codes, reset and verification links).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now


class TotpFactor(Base):
    __tablename__ = "mfa_totp"

    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    # None until the official has typed one code from the app: an unconfirmed seed is not a factor.
    confirmed_at: Mapped[int | None] = mapped_column(BigInteger)
    # The last time step accepted: a code is never accepted twice (RFC 6238 §5.2).
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class RecoveryCode(Base):
    __tablename__ = "mfa_recovery_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class WebAuthnCredential(Base):
    __tablename__ = "mfa_webauthn_credentials"

    credential_id: Mapped[str] = mapped_column(String(700), primary_key=True)  # base64url
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class MfaChallenge(Base):
    """A login half done: the password was right (or a step-up is due) and a second factor is awaited.

    Bound to the browser; carries the parked authorization request, if any, to resume afterwards.
    """

    __tablename__ = "mfa_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    # None for a passkey login, where the credential names the official only at the end.
    official_id: Mapped[str | None] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # login, step_up, passkey, register
    pending: Mapped[str] = mapped_column(String(64), default="")
    first_amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Where to go afterwards when no authorization request is parked: the page the sign-in started from.
    next_url: Mapped[str | None] = mapped_column(String(500))
    # For step-up: the session to raise instead of starting a new one.
    sid: Mapped[str | None] = mapped_column(String(64))
    webauthn_challenge: Mapped[bytes | None] = mapped_column(LargeBinary)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class AccountToken(Base):
    """A single-use link: password reset (self-service or issued by the helpdesk), recovery e-mail check."""

    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_expires_at", "expires_at"),)  # app/store/retention.py

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # reset, verify_email
    value: Mapped[str | None] = mapped_column(String(320))
    issued_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
