"""Who is calling the admin API and console: an official with roles, through the SSO session (the console;
writes carry the CSRF token) or a bearer access token with the `admin` scope (scripts). Admin roles need a
second factor: the session or token must carry an MFA acr."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from app.admin.scope import AdminScope, Forbidden
from app.audit.trail import Actor
from app.broker import Broker
from app.identity.models import Official
from app.oidc.acr import ACR_MFA, satisfies
from app.web.common import broker_of, browser_id, client_ip, session_cookie


class NotAuthenticated(Exception):
    """No session or token, or an expired one (401)."""


class NeedsMfa(Exception):
    """The admin signed in without a second factor (403, with where to step up)."""


@dataclass
class Principal:
    official: Official
    scope: AdminScope
    actor: Actor
    via_session: bool


def resolve_principal(request: Request, session: Session, require_csrf: bool) -> Principal:
    """require_csrf: a write through the session must carry X-CSRF-Token (console forms check theirs)."""
    broker: Broker = broker_of(request)
    auth = request.headers.get("authorization", "")
    official_id, acr, via_session = None, None, False
    if auth[:7].lower() == "bearer ":
        claims = broker.provider(session).read_access_token(auth[7:].strip())
        if claims and "admin" in str(claims.get("scope", "")).split() and claims.get("sub") != claims.get(
                "client_id"):
            official_id, acr = str(claims["sub"]), str(claims.get("acr", ""))
    else:
        sso = broker.sessions.resolve(session, session_cookie(request))
        if sso is not None:
            official_id, acr, via_session = sso.official_id, sso.acr, True
            if require_csrf:
                bid, _ = browser_id(request)
                if not broker.csrf_valid(bid, request.headers.get("x-csrf-token")):
                    raise NotAuthenticated("missing or wrong X-CSRF-Token")
    official = session.get(Official, official_id) if official_id else None
    if official is None or not official.enabled:
        raise NotAuthenticated("sign in, or send a bearer token with the admin scope")
    scope = AdminScope.load(session, official.id)
    if not scope.grants:
        raise Forbidden("no admin role")
    if broker.settings.admin_require_mfa and not satisfies(acr, ACR_MFA):
        raise NeedsMfa("admin roles need a second factor: sign in again with acr_values=" + ACR_MFA)
    return Principal(official, scope, Actor(official.id, "official", client_ip(request), official.unit_id),
                     via_session)
