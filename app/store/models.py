"""Rows behind the OIDC provider and SSO: clients, keys, sessions, codes, grants, tokens, consents.

Every secret-bearing value is stored as a digest (tokens, codes, client secrets) or sealed (private keys).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now


class Client(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    require_pkce: Mapped[bool] = mapped_column(Boolean, default=True)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    # Every login to this client needs a second factor, whatever acr_values the request carries.
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The access rule every application has: officials of these units (or below) or groups; empty: everyone.
    allowed_units: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    allowed_groups: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Shown in the portal's launcher; None keeps the client out of it. With `connector`, only to officials
    # who hold an active account in that target.
    launch_url: Mapped[str | None] = mapped_column(String(500))
    connector: Mapped[str | None] = mapped_column(String(60))
    # With the scim scope: the unit subtree this client may write through /scim/v2 (a personnel database).
    scim_unit_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)

    __mapper_args__ = {"version_id_col": version}


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    private_jwk_sealed: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # Published from created_at; signs from active_from until a successor activates.
    active_from: Mapped[int] = mapped_column(BigInteger)
    # Set when a successor takes over: kept in the JWKS until every token it signed has expired.
    retire_after: Mapped[int | None] = mapped_column(BigInteger)




class PendingAuthorization(Base):
    """An authorization request waiting for the login or consent page, bound to the browser that sent it."""

    __tablename__ = "pending_authorizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    params: Mapped[list[list[str]]] = mapped_column(JSON)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    protocol: Mapped[str] = mapped_column(String(10), default="oidc", server_default="oidc")  # oidc, cas, saml


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"
    __table_args__ = (Index("ix_authorization_codes_expires_at", "expires_at"),)  # app/store/retention.py

    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id", ondelete="CASCADE"))
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    sid: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(100))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    # The grant the code was redeemed for: revoked if the code is ever replayed.
    grant_id: Mapped[str | None] = mapped_column(String(64))


class TokenGrant(Base):
    """One authorization of one client by one official: the family every refresh token belongs to."""

    __tablename__ = "token_grants"
    __table_args__ = (Index("ix_token_grants_created_at", "created_at"),)  # app/store/retention.py

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id", ondelete="CASCADE"))
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(100))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_reason: Mapped[str | None] = mapped_column(String(60))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_grant", "grant_id"),
                      Index("ix_refresh_tokens_expires_at", "expires_at"))  # app/store/retention.py

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("token_grants.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    # Set when exchanged: a second use is a replay and revokes the whole family.
    rotated_at: Mapped[int | None] = mapped_column(BigInteger)


class RevokedAccessToken(Base):
    __tablename__ = "revoked_access_tokens"
    __table_args__ = (Index("ix_revoked_access_tokens_expires_at", "expires_at"),)  # app/store/retention.py

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class UsedAssertion(Base):
    """jti of private_key_jwt client assertions, refused a second time until they expire."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class Consent(Base):
    __tablename__ = "consents"

    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    granted_at: Mapped[int] = mapped_column(BigInteger, default=now)


class SsoSession(Base):
    __tablename__ = "sso_sessions"
    __table_args__ = (Index("ix_sso_sessions_expires_at", "expires_at"),)  # app/store/retention.py

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_seen_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class SessionClient(Base):
    """Which relying parties took part in a session: the ones back-channel logout must reach."""

    __tablename__ = "session_clients"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), primary_key=True
    )


class ApplicationRules:
    """What every kind of application has beside its protocol's settings: who may use it (units, or groups;
    empty lists: everyone), whether it needs a second factor, whether it is on, and its launcher entry."""

    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_units: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    launch_url: Mapped[str | None] = mapped_column(String(1000))


class CasService(ApplicationRules, Base):
    """A registered CAS service: which URLs it owns, what it is given, who may reach it."""

    __tablename__ = "cas_services"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    match: Mapped[str] = mapped_column(String(10))
    pattern: Mapped[str] = mapped_column(String(1000))
    release: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    allow_proxy: Mapped[bool] = mapped_column(Boolean, default=False)
    proxy_pattern: Mapped[str | None] = mapped_column(String(1000))
    logout_url: Mapped[str | None] = mapped_column(String(1000))
    single_logout: Mapped[bool] = mapped_column(Boolean, default=True)
    evaluation_order: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class CasTicket(Base):
    """Service, proxy and proxy-granting tickets, by digest; a used ticket keeps its row until it expires."""

    __tablename__ = "cas_tickets"
    __table_args__ = (Index("ix_cas_tickets_expires_at", "expires_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    service_id: Mapped[str] = mapped_column(ForeignKey("cas_services.id", ondelete="CASCADE"))
    service_url: Mapped[str] = mapped_column(String(2000))
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    sid: Mapped[str] = mapped_column(String(64), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(100))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_new_login: Mapped[bool] = mapped_column(Boolean, default=False)
    proxies: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    consumed_at: Mapped[int | None] = mapped_column(BigInteger)


class SessionCasTicket(Base):
    """A CAS service that received a ticket in a session, with that ticket: single logout names it as the
    SessionIndex, and clients (mod_auth_cas, phpCAS) find their own session by it."""

    __tablename__ = "session_cas_tickets"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_index: Mapped[str] = mapped_column(String(300), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("cas_services.id", ondelete="CASCADE"))
    service_url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class LogoutDelivery(Base):
    """One application to tell that a session ended (OIDC back-channel logout, CAS logoutRequest), kept until
    it is told or its retries run out, so an application that is down hears of it when it is back."""

    __tablename__ = "logout_deliveries"
    __table_args__ = (Index("ix_logout_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), index=True)
    official_id: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(20))  # oidc_backchannel, cas
    application: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    session_index: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    done_at: Mapped[int | None] = mapped_column(BigInteger)


class GatewayApp(ApplicationRules, Base):
    """An application behind a reverse proxy that asks the broker on every request (forward auth)."""

    __tablename__ = "gateway_apps"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(1000))
    headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [header name, attribute]
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class GatewayGrant(Base):
    """A one-time code (kind "code", seconds) that the app's own host exchanges for its cookie, and the cookie's
    session (kind "session"), which lives no longer than the SSO session it belongs to."""

    __tablename__ = "gateway_grants"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    app_id: Mapped[str] = mapped_column(ForeignKey("gateway_apps.id", ondelete="CASCADE"))
    sid: Mapped[str] = mapped_column(String(64), index=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    return_to: Mapped[str | None] = mapped_column(String(2000))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class SamlServiceProvider(ApplicationRules, Base):
    """A SAML SP, registered from its metadata (kept whole, re-read on change) plus the province's choices."""

    __tablename__ = "saml_service_providers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(1000), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    metadata_xml: Mapped[str] = mapped_column(Text)
    metadata_url: Mapped[str | None] = mapped_column(String(1000))
    release: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    nameid_format: Mapped[str | None] = mapped_column(String(200))
    sign_response: Mapped[bool] = mapped_column(Boolean, default=True)
    encrypt_assertions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class SamlSeenRequest(Base):
    """AuthnRequest IDs already accepted, until they could no longer pass the clock-skew check anyway."""

    __tablename__ = "saml_seen_requests"

    issuer: Mapped[str] = mapped_column(String(1000), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class SamlPersistentId(Base):
    """The opaque NameID an official has at one SP: random, stable, and different at every SP."""

    __tablename__ = "saml_persistent_ids"

    sp_id: Mapped[str] = mapped_column(ForeignKey("saml_service_providers.id", ondelete="CASCADE"), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), unique=True)


class SamlParticipant(Base):
    """An SP that received an assertion in an SSO session, and the NameID it knows the official by."""

    __tablename__ = "saml_participants"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    sp_id: Mapped[str] = mapped_column(ForeignKey("saml_service_providers.id", ondelete="CASCADE"), primary_key=True)
    name_id: Mapped[str] = mapped_column(String(320))
    name_id_format: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
