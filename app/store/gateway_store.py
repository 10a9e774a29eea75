"""Gateway applications and their grants on SQLAlchemy: one-time codes and the cookie sessions they become."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.cache import TtlCache
from app.crypto import token_digest
from app.db import now
from app.gateway.apps import GatewayAppInfo
from app.store.models import GatewayApp, GatewayGrant

GatewayAppCache = TtlCache[list[GatewayAppInfo]]
CODE, SESSION = "code", "session"


def app_info(row: GatewayApp) -> GatewayAppInfo:
    return GatewayAppInfo(id=row.id, name=row.name, prefix=row.prefix,
                          headers=tuple((str(a), str(b)) for a, b in row.headers or ()), require_mfa=row.require_mfa,
                          allowed_units=tuple(row.allowed_units or ()), allowed_groups=tuple(row.allowed_groups or ()),
                          enabled=row.enabled)


def app_for(session: Session, cache: GatewayAppCache, url: str) -> GatewayAppInfo | None:
    """The application owning url; the longest prefix wins, so /app/admin/ can be stricter than /app/."""
    hit, apps = cache.get("all")
    if not hit or apps is None:
        rows = session.scalars(select(GatewayApp).where(GatewayApp.enabled.is_(True)))
        apps = sorted((app_info(r) for r in rows), key=lambda a: -len(a.prefix))
        cache.put("all", apps)
    return next((a for a in apps if a.owns(url)), None)


def issue(session: Session, kind: str, app_id: str, sid: str, official_id: str, expires_at: int,
          return_to: str | None = None) -> str:
    if secrets.randbelow(100) == 0:  # sweep expired grants now and then
        session.execute(delete(GatewayGrant).where(GatewayGrant.expires_at < now()))
    token = secrets.token_urlsafe(32)
    session.add(GatewayGrant(digest=token_digest(token), kind=kind, app_id=app_id, sid=sid, official_id=official_id,
                             return_to=return_to, expires_at=expires_at))
    return token


def redeem_code(session: Session, code: str) -> GatewayGrant | None:
    """A code works once, within its seconds: one conditional UPDATE decides between two redeemers."""
    if not code or len(code) > 100:
        return None
    digest = token_digest(code)
    won = session.execute(update(GatewayGrant).where(
        GatewayGrant.digest == digest, GatewayGrant.kind == CODE, GatewayGrant.used_at.is_(None),
        GatewayGrant.expires_at >= now()).values(used_at=now()).returning(GatewayGrant.digest)).scalar_one_or_none()
    return session.get(GatewayGrant, digest) if won else None


def session_grant(session: Session, token: str | None) -> GatewayGrant | None:
    if not token or len(token) > 100:
        return None
    grant = session.get(GatewayGrant, token_digest(token))
    return grant if grant is not None and grant.kind == SESSION and grant.expires_at >= now() else None
