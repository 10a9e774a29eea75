"""The second step of a login, and step-up: a challenge bound to the browser, answered by a TOTP code,
a recovery code or a passkey; or, when a second factor is required and none is set up, by enrolling one.

The SSO session starts (or is raised) only once the challenge is answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.audit.trail import Actor, record
from app.auth.throttle import LoginThrottler
from app.identity.models import Official
from app.mfa.factors import FactorRefused, Factors, FactorService
from app.mfa.models import MfaChallenge
from app.mfa.totp import provisioning_uri, qr_data_uri
from app.oidc.acr import acr_for
from app.signon.outcomes import FlowOutcome
from app.signon.resume import ParkedRequests
from app.store.sessions import ActiveSession, SessionService
from app.upstream import links

MAX_FAILURES = 5


@dataclass(frozen=True)
class ChallengePage:
    challenge_id: str
    official_name: str
    factors: Factors
    # When no factor exists yet: the seed to enrol, as text and as a QR code (data: URI).
    enrol_secret: str | None = None
    enrol_qr: str | None = None


@dataclass(frozen=True)
class Completed:
    cookie: str | None  # a new session cookie, or None when the current session was raised
    outcome: FlowOutcome | None  # where the parked authorization request goes; None: the portal
    recovery_codes: list[str] = field(default_factory=list)
    pending: str = ""
    next_url: str = "/account"  # where to go when no authorization request is parked


@dataclass(frozen=True)
class Refused:
    message_key: str
    locked_for: int = 0
    start_over: bool = False


class SecondFactorLogin:
    def __init__(self, factors: FactorService, throttle: LoginThrottler, sessions: SessionService,
                 requests: ParkedRequests) -> None:
        self.factors, self.throttle, self.sessions, self.requests = factors, throttle, sessions, requests

    def page(self, session: Session, challenge: MfaChallenge) -> ChallengePage:
        assert challenge.official_id is not None
        official = session.get(Official, challenge.official_id)
        factors = self.factors.factors(session, challenge.official_id)
        page = ChallengePage(challenge.id, official.display_name if official else "", factors)
        if factors.any or official is None:
            return page
        secret = self.factors.pending_totp_secret(session, official.id)
        if secret is None:
            secret, uri = self.factors.totp_begin(session, official)
        else:
            uri = provisioning_uri(secret, official.username, self.factors.rp_name)
        return ChallengePage(challenge.id, official.display_name, factors, secret, qr_data_uri(uri))

    # --- answers ------------------------------------------------------------------------------
    def submit_code(self, session: Session, challenge: MfaChallenge, method: str, code: str, ip: str,
                    browser_id: str, current_cookie: str | None, user_agent: str | None) -> Completed | Refused:
        official = session.get(Official, challenge.official_id) if challenge.official_id else None
        if official is None or not official.enabled:
            return Refused("mfa.start_over", start_over=True)
        wait = self.throttle.locked_for(session, official.username, ip)
        if wait:
            return Refused("login.locked", locked_for=wait)
        factors = self.factors
        codes: list[str] = []
        code = code.strip()[:64]
        if method == "enrol":
            try:
                codes = factors.totp_confirm(session, official.id, code)
                ok = True
            except FactorRefused:
                ok = False
        elif method == "recovery":
            ok = factors.use_recovery_code(session, official.id, code)
        else:
            ok = factors.verify_totp(session, official.id, code)
        record(session, "login.second_factor", Actor(official.id, "official", ip), outcome="ok" if ok else "refused",
               unit_id=official.unit_id, details={"method": method})
        if not ok:
            return self._failed(session, challenge, official, ip)
        self.throttle.record_success(session, official.username, ip)
        # Just enrolled: the recovery codes are shown first, and the parked request resumes from that page.
        completed = self._complete(session, challenge, ("otp", "mfa"), browser_id, current_cookie, ip, user_agent,
                                   resume=not codes)
        return Completed(completed.cookie, completed.outcome, codes, completed.pending, completed.next_url)

    def passkey_options(self, session: Session, challenge: MfaChallenge) -> str:
        options, raw = self.factors.authentication_options(session, challenge.official_id)
        challenge.webauthn_challenge = raw
        return options

    def submit_passkey(self, session: Session, challenge: MfaChallenge, credential: dict[str, Any], ip: str,
                       browser_id: str, current_cookie: str | None, user_agent: str | None) -> Completed | Refused:
        if challenge.webauthn_challenge is None:
            return Refused("mfa.start_over", start_over=True)
        raw, challenge.webauthn_challenge = challenge.webauthn_challenge, None  # one assertion per challenge
        try:
            official_id = self.factors.authenticate(session, raw, credential, challenge.official_id)
        except FactorRefused:
            challenge.failures += 1
            record(session, "login.passkey", Actor(challenge.official_id or "unknown", "official" if
                                                   challenge.official_id else "anonymous", ip), outcome="refused")
            return Refused("mfa.passkey_failed")
        official = session.get(Official, official_id)
        record(session, "login.passkey", Actor(official_id, "official", ip),
               unit_id=official.unit_id if official else None, details={"purpose": challenge.purpose})
        if official is None or not official.enabled:
            return Refused("login.failed")
        challenge.official_id = official_id
        # With user verification a passkey is possession plus PIN or biometrics: two factors even alone.
        # The page's script continues at /login/resume, so the parked request stays parked here.
        return self._complete(session, challenge, ("hwk", "mfa"), browser_id, current_cookie, ip, user_agent,
                              resume=False)

    # --- helpers ------------------------------------------------------------------------------
    def _failed(self, session: Session, challenge: MfaChallenge, official: Official, ip: str) -> Refused:
        self.throttle.record_failure(session, official.username, ip)
        challenge.failures += 1
        if challenge.failures >= MAX_FAILURES:
            session.delete(challenge)
            return Refused("mfa.start_over", start_over=True)
        return Refused("mfa.wrong_code")

    def _complete(self, session: Session, challenge: MfaChallenge, added: tuple[str, ...], browser_id: str,
                  current_cookie: str | None, ip: str, user_agent: str | None, resume: bool = True) -> Completed:
        assert challenge.official_id is not None
        amr = tuple(dict.fromkeys([*challenge.first_amr, *added]))
        acr = acr_for(amr)
        sessions = self.sessions
        current = sessions.resolve(session, current_cookie)
        cookie: str | None = None
        sso: ActiveSession | None = None
        # "admin": the console asked for a second factor before it opens; the session is raised the same way.
        if challenge.purpose in ("step_up", "admin") and current is not None and current.sid == challenge.sid:
            sso = sessions.raise_level(session, current.sid, acr, amr)
        if sso is None:
            cookie, sso = sessions.renew(session, current_cookie, challenge.official_id, acr, amr, ip, user_agent)
        if "fed" in challenge.first_amr:  # the login began at an upstream provider: its session is now this one
            links.bind_session(session, challenge.id, sso.sid)
        pending = challenge.pending
        next_url = challenge.next_url or ("/admin" if challenge.purpose == "admin" else "/account")
        session.delete(challenge)
        outcome = None
        if pending and resume:
            outcome = self.requests.after_login(session, pending, browser_id, sso, new_session=cookie is not None)
        return Completed(cookie, outcome, pending=pending, next_url=next_url)
