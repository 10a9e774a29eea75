"""Forward authentication: a browser without the app's cookie is sent to /gateway/start, signs in (or is
already signed in), and comes back through the app's own host with a one-time code that becomes a cookie
scoped to that host alone; every request then asks /gateway/verify, which answers with identity headers
while the SSO session lives and the official may use the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import now
from app.gateway.apps import CALLBACK_PATH, GatewayAppInfo, identity_headers
from app.mfa.challenges import open_challenge
from app.mfa.policy import MfaPolicy
from app.oidc.acr import required_acr, satisfies
from app.oidc.models import Subject
from app.signon.outcomes import FlowOutcome, Redirect, ShowError, ShowLogin, ShowSecondFactor
from app.signon.pending import Params, drop, param, park, parked
from app.signon.resume import EXPIRED
from app.store.gateway_store import CODE, SESSION, GatewayAppCache, app_for, issue, redeem_code, session_grant
from app.store.models import SsoSession
from app.store.sessions import ActiveSession, SessionService

CODE_TTL = 60
UNREGISTERED = "This address is not an application registered with the sign-in service."
REFUSED = "Your unit or groups may not use this application. Ask your administrator if you need it."


@dataclass(frozen=True)
class Allowed:
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class NeedsLogin:
    start_url: str


@dataclass(frozen=True)
class Refused:
    reason: str


Verdict = Allowed | NeedsLogin | Refused


@dataclass(frozen=True)
class Entered:
    app_id: str
    cookie: str
    return_to: str
    secure: bool
    max_age: int


class Gateway:
    def __init__(self, apps: GatewayAppCache, sessions: SessionService,
                 subjects: Callable[[Session, str], Subject | None], mfa_policy: MfaPolicy, issuer: str,
                 pending_ttl: int) -> None:
        self.apps, self.sessions, self.subjects, self.mfa_policy = apps, sessions, subjects, mfa_policy
        self.issuer, self.pending_ttl = issuer, pending_ttl

    def start_url(self, return_to: str) -> str:
        return f"{self.issuer}/gateway/start?{urlencode({'rd': return_to})}"

    # --- the browser's trip ------------------------------------------------------------------------
    def start(self, session: Session, return_to: str, browser_id: str, sso: ActiveSession | None) -> FlowOutcome:
        return self._evaluate(session, [("rd", return_to)], browser_id, sso)

    def after_login(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession,
                    new_session: bool = True) -> FlowOutcome:
        request = parked(session, pending_id, browser_id)
        if request is None or request.protocol != "gateway":
            return ShowError("invalid_request", EXPIRED)
        return self._evaluate(session, request.params, browser_id, sso, pending_id)

    def _evaluate(self, session: Session, params: Params, browser_id: str, sso: ActiveSession | None,
                  pending_id: str | None = None) -> FlowOutcome:
        return_to = param(params, "rd")
        app = app_for(session, self.apps, return_to)
        if app is None:
            return ShowError("invalid_request", UNREGISTERED)
        if sso is None:
            return ShowLogin(park(session, "gateway", params, browser_id, self.pending_ttl, pending_id), app.name,
                             "", "")
        subject = self.subjects(session, sso.official_id)
        if subject is None or not app.admits(subject):
            return ShowError("access_denied", REFUSED, 403)
        if not self._strong_enough(session, app, sso):
            pending = park(session, "gateway", params, browser_id, self.pending_ttl, pending_id)
            return ShowSecondFactor(open_challenge(session, browser_id, sso.official_id, "step_up", pending,
                                                   sso.amr, sso.sid))
        if pending_id:
            drop(session, pending_id)
        code = issue(session, CODE, app.id, sso.sid, sso.official_id, now() + CODE_TTL, return_to)
        return Redirect(f"{app.origin}{CALLBACK_PATH}?{urlencode({'code': code})}")

    def enter(self, session: Session, code: str, host: str) -> Entered | None:
        """The app's host exchanges the code for its own cookie; a code for another app's host is refused."""
        grant = redeem_code(session, code)
        if grant is None or not grant.return_to:
            return None
        app = app_for(session, self.apps, grant.return_to)
        sso = self.sessions.by_sid(session, grant.sid)
        if app is None or app.id != grant.app_id or urlsplit(app.origin).netloc != host or sso is None:
            return None
        expires = session.scalar(select(SsoSession.expires_at).where(SsoSession.sid == grant.sid)) or now()
        cookie = issue(session, SESSION, app.id, grant.sid, grant.official_id, expires)
        return Entered(app.id, cookie, grant.return_to, app.origin.startswith("https://"), max(1, expires - now()))

    # --- every request -----------------------------------------------------------------------------
    def app(self, session: Session, url: str) -> GatewayAppInfo | None:
        return app_for(session, self.apps, url) if url else None

    def verify(self, session: Session, url: str, cookie: str | None) -> Verdict:
        app = self.app(session, url)
        if app is None:
            return Refused(UNREGISTERED)
        grant = session_grant(session, cookie)
        sso = self.sessions.by_sid(session, grant.sid) if grant is not None and grant.app_id == app.id else None
        if sso is None:
            return NeedsLogin(self.start_url(url))
        subject = self.subjects(session, sso.official_id)
        if subject is None or not subject.enabled:
            return NeedsLogin(self.start_url(url))
        if not app.admits(subject):
            return Refused(REFUSED)
        if not self._strong_enough(session, app, sso):
            return NeedsLogin(self.start_url(url))  # the start page steps the session up
        return Allowed(identity_headers(app, subject))

    def _strong_enough(self, session: Session, app: GatewayAppInfo, sso: ActiveSession) -> bool:
        required = required_acr("", app.require_mfa, self.mfa_policy.requires_mfa(session, sso.official_id))
        return satisfies(sso.acr, required)

