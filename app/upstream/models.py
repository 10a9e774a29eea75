"""Upstream providers, the logins under way at them, the identities linked to officials, and which SSO
sessions came from which upstream session (for logout both ways)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now


class IdentityProvider(Base):
    __tablename__ = "identity_providers"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_secret_sealed: Mapped[str | None] = mapped_column(Text)
    # private_key_jwt: our key for this provider (a private JWK, sealed); its public half is published.
    private_key_sealed: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)


class UpstreamLogin(Base):
    """A login sent to a provider: the state (by digest), bound to the browser and to the provider it was sent
    to, with the nonce and PKCE verifier the answer must match. Used once."""

    __tablename__ = "upstream_logins"

    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    browser_digest: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    pending: Mapped[str] = mapped_column(String(100), default="")
    next_url: Mapped[str] = mapped_column(String(300), default="/account")
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class UpstreamLink(Base):
    """An upstream identity that is this official: one official per identity (the key)."""

    __tablename__ = "upstream_links"

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # national_id or password
    display_name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_login_at: Mapped[int | None] = mapped_column(BigInteger)


class LinkOffer(Base):
    """An upstream identity no official holds yet, waiting in this browser for an official to sign in with
    their password and confirm it is theirs."""

    __tablename__ = "upstream_link_offers"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class UpstreamSession(Base):
    """An SSO session that began with an upstream login: ended by the provider's back-channel logout, and
    ended at the provider (RP-initiated logout, with the ID token as the hint) when the official signs out."""

    __tablename__ = "upstream_sessions"
    __table_args__ = (Index("ix_upstream_sessions_provider_sid", "provider", "upstream_sid"),
                      Index("ix_upstream_sessions_provider_subject", "provider", "subject"))

    sid: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    upstream_sid: Mapped[str | None] = mapped_column(String(255))
    id_token_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
