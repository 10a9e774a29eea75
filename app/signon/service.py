"""The password step of a login, with typed outcomes: what the page shows is decided by the route, what is
allowed by this service. The rules in one place: the throttle first, then the authenticators, then whether a
second factor is due (the official has one, or the policy wants one), then a new session and the parked
request resumed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.audit.trail import Actor, record
from app.auth.authenticator import Authenticator, AuthResult, Outcome
from app.auth.throttle import LoginThrottler
from app.directory.sources import DirectorySources
from app.identity.service import find_by_login_name
from app.mfa.challenges import open_challenge
from app.mfa.factors import FactorService
from app.mfa.policy import MfaPolicy
from app.signon.outcomes import FlowOutcome
from app.signon.resume import ParkedRequests
from app.store.sessions import ActiveSession, SessionService


@dataclass(frozen=True)
class Locked:
    wait_seconds: int


@dataclass(frozen=True)
class Failed:
    reason: Outcome  # bad credentials, disabled, locked in the directory, unavailable, ambiguous, conflict


@dataclass(frozen=True)
class NeedsSecondFactor:
    challenge_id: str


@dataclass(frozen=True)
class SignedIn:
    cookie: str
    session: ActiveSession
    resumed: FlowOutcome | None  # the parked authorization request's outcome; None: go to next_url


SignOnOutcome = Locked | Failed | NeedsSecondFactor | SignedIn


@dataclass(frozen=True)
class PasswordAttempt:
    username: str
    password: str
    ip: str
    user_agent: str | None
    browser_id: str
    pending: str = ""  # a parked authorization request to resume
    next_url: str = "/account"  # where a sign-in from one of our pages returns
    current_cookie: str | None = None


class SignOn:
    def __init__(self, authenticator: Authenticator, throttle: LoginThrottler, factors: FactorService,
                 sessions: SessionService, directories: DirectorySources, mfa_policy: MfaPolicy,
                 requests: ParkedRequests) -> None:
        self.authenticator, self.throttle, self.factors, self.sessions = authenticator, throttle, factors, sessions
        self.directories, self.mfa_policy, self.requests = directories, mfa_policy, requests

    def needs_second_factor(self, session: Session, official_id: str) -> bool:
        """The one decision at login: an official with a factor always uses it; one without is asked to set
        one up when the policy (their unit) requires it. Clients and acr_values raise it later (step-up)."""
        return self.factors.has_factor(session, official_id) or self.mfa_policy.requires_mfa(session, official_id)

    def password(self, session: Session, attempt: PasswordAttempt) -> SignOnOutcome:
        wait = self.throttle.locked_for(session, attempt.username, attempt.ip)
        result = None if wait else self.authenticator.authenticate(session, attempt.username, attempt.password)
        outcome = Locked(wait) if result is None else self._after_password(session, attempt, result)
        self._audit(session, attempt, outcome, result)
        return outcome

    def _after_password(self, session: Session, attempt: PasswordAttempt, result: AuthResult) -> SignOnOutcome:
        throttle = self.throttle
        if result.outcome is not Outcome.OK or result.official_id is None:
            if result.outcome in (Outcome.BAD_CREDENTIALS, Outcome.NOT_FOUND):
                throttle.record_failure(session, attempt.username, attempt.ip)
            return Failed(result.outcome)
        throttle.record_success(session, attempt.username, attempt.ip)
        if self.needs_second_factor(session, result.official_id):
            # From a console page with nothing parked, the challenge is the console's (it returns there).
            purpose = "admin" if attempt.next_url.startswith("/admin") and not attempt.pending else "login"
            return NeedsSecondFactor(open_challenge(session, attempt.browser_id, result.official_id, purpose,
                                                    attempt.pending, result.amr, next_url=attempt.next_url))
        cookie, sso = self.sessions.renew(session, attempt.current_cookie, result.official_id, result.acr,
                                                 result.amr, attempt.ip, attempt.user_agent)
        if not attempt.pending:
            return SignedIn(cookie, sso, None)
        return SignedIn(cookie, sso, self.requests.after_login(session, attempt.pending, attempt.browser_id, sso))

    def _audit(self, session: Session, attempt: PasswordAttempt, outcome: SignOnOutcome,
               result: AuthResult | None) -> None:
        official_id = outcome.session.official_id if isinstance(outcome, SignedIn) else None
        target: str | None = None
        unit_id: str | None = None
        if result is not None and result.outcome is Outcome.OK and result.official_id:
            target, unit_id = result.official_id, result.unit_id
        elif attempt.username:
            # Who was tried, when there is such an official: their unit's admins see the attempts.
            tried = find_by_login_name(session, attempt.username, self.directories.names(session))
            if tried is not None:
                target, unit_id = tried.id, tried.unit_id
        actor = Actor(official_id, "official", attempt.ip) if official_id else Actor(
            attempt.username[:200], "anonymous", attempt.ip)
        label = {Locked: "locked", NeedsSecondFactor: "mfa", SignedIn: "ok"}.get(type(outcome)) or str(
            outcome.reason if isinstance(outcome, Failed) else "failed")
        record(session, "login.password", actor, outcome=label, unit_id=unit_id, target=target)
