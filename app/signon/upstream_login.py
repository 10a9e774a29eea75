"""Logging in with an upstream identity provider (VNeID, a ministry's WSO2, Entra ID): the request sent with a
state bound to this browser and to that provider, a nonce and PKCE; the answer checked (RFC 9207 iss, the ID
token), the identity linked to an official, what the login is worth mapped to our levels, then the same second
factor rule and resumption as a password login. Also logout both ways."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.audit.trail import Actor, record
from app.crypto import SecretBox, token_digest
from app.db import now
from app.identity.models import Official
from app.mfa.challenges import open_challenge
from app.oidc.acr import ACR_LEVELS, ACR_MFA, ACR_PASSWORD, ACR_PHISHING_RESISTANT, level
from app.signon.outcomes import Redirect
from app.signon.resume import ParkedRequests
from app.signon.service import NeedsSecondFactor, SignedIn, SignOn
from app.store.sessions import SessionService
from app.upstream import links
from app.upstream.client import UpstreamError, UpstreamIdentity, pkce_pair
from app.upstream.config import ProviderConfig
from app.upstream.models import UpstreamLogin, UpstreamSession
from app.upstream.providers import UpstreamProviders

LOGIN_TTL = 600
OUR_LEVEL = {"pwd": ACR_PASSWORD, "mfa": ACR_MFA, "phr": ACR_PHISHING_RESISTANT}


@dataclass(frozen=True)
class NotLinked:
    """No official holds this identity yet: the page offers the password-then-confirm path."""

    offer: str | None  # None: the provider does not allow linking by password
    provider_label: str
    display_name: str


@dataclass(frozen=True)
class Refused:
    reason: str  # a short code: the page's message and the audit trail's outcome


UpstreamOutcome = SignedIn | NeedsSecondFactor | NotLinked | Refused


@dataclass(frozen=True)
class CallbackParams:
    code: str
    state: str
    iss: str | None
    error: str


def worth(config: ProviderConfig, identity: UpstreamIdentity) -> tuple[str, tuple[str, ...]]:
    """Our acr and amr for an upstream login: the provider's table maps its acr (and amr values, as `amr:x`);
    what it does not name counts as a password. amr says `fed` plus what the upstream reported."""
    known = [config.levels.get(identity.acr or "")] + [config.levels.get(f"amr:{v}") for v in identity.amr]
    ours = max((OUR_LEVEL[v] for v in known if v), key=level, default=ACR_PASSWORD)
    amr = ["fed", *identity.amr]
    if level(ours) >= level(ACR_MFA):
        amr.append("mfa")
    return ACR_LEVELS[level(ours)], tuple(dict.fromkeys(amr))


class UpstreamSignOn:
    def __init__(self, providers: UpstreamProviders, sessions: SessionService, sign_on: SignOn,
                 requests: ParkedRequests, box: SecretBox, state_key: bytes) -> None:
        self.providers, self.sessions, self.sign_on, self.requests = providers, sessions, sign_on, requests
        self.box, self.state_key = box, state_key

    # --- out ---------------------------------------------------------------------------------------------
    def begin(self, session: Session, name: str, browser_id: str, pending: str, next_url: str) -> Redirect | Refused:
        try:
            rp = self.providers.relying_party(session, name)
            state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            verifier, challenge = pkce_pair()
            url = rp.authorization_url(state, nonce, challenge)
        except UpstreamError as exc:
            return self._refused(session, name, None, exc)
        if secrets.randbelow(50) == 0:
            session.execute(delete(UpstreamLogin).where(UpstreamLogin.expires_at < now()))
        session.add(UpstreamLogin(state_digest=token_digest(state), provider=name,
                                  browser_digest=token_digest(browser_id), nonce=nonce, code_verifier=verifier,
                                  pending=pending[:100], next_url=next_url[:300], expires_at=now() + LOGIN_TTL))
        return Redirect(url)

    # --- back ----------------------------------------------------------------------------------------------
    def finish(self, session: Session, name: str, params: CallbackParams, browser_id: str, ip: str,
               user_agent: str | None, current_cookie: str | None) -> UpstreamOutcome:
        login = session.get(UpstreamLogin, token_digest(params.state)) if 0 < len(params.state) <= 100 else None
        # The state is used once, by the browser that started the login, for the provider it was sent to.
        if login is None or login.browser_digest != token_digest(browser_id) or login.expires_at < now():
            return self._refused(session, name, ip, UpstreamError("state", "unknown, expired or another browser's"))
        session.delete(login)
        session.flush()
        if login.provider != name:
            return self._refused(session, name, ip, UpstreamError("mix_up", f"state of {login.provider} at {name}"))
        if params.error:
            return self._refused(session, name, ip, UpstreamError("upstream_error", params.error[:100]))
        try:
            rp = self.providers.relying_party(session, name)
            rp.check_response_issuer(params.iss)
            tokens = rp.exchange(params.code[:2000], login.code_verifier)
            identity = rp.with_userinfo(rp.verify_id_token(tokens["id_token"], login.nonce),
                                        tokens.get("access_token"))
        except UpstreamError as exc:
            return self._refused(session, name, ip, exc)
        return self._signed_in(session, rp.config, identity, login, browser_id, ip, user_agent, current_cookie)

    def _signed_in(self, session: Session, config: ProviderConfig, identity: UpstreamIdentity, login: UpstreamLogin,
                   browser_id: str, ip: str, user_agent: str | None, current_cookie: str | None) -> UpstreamOutcome:
        official = self._official(session, config, identity)
        if official is None:
            offer = links.make_offer(session, browser_id, config.name, identity.subject, identity.name) \
                if config.allow_password_link else None
            record(session, "login.upstream", Actor(f"{config.name}:{identity.subject}"[:200], "anonymous", ip),
                   outcome="not_linked", details={"provider": config.name})
            return NotLinked(offer, config.label("vi"), identity.name)
        if not official.enabled or official.deleted_at is not None:
            record(session, "login.upstream", Actor(official.id, "official", ip), outcome="disabled",
                   unit_id=official.unit_id, target=official.id, details={"provider": config.name})
            return Refused("disabled")
        links.touch(session, config.name, identity.subject)
        acr, amr = worth(config, identity)
        record(session, "login.upstream", Actor(official.id, "official", ip), outcome="ok", unit_id=official.unit_id,
               target=official.id, details={"provider": config.name, "upstream_acr": identity.acr, "acr": acr})
        if level(acr) < level(ACR_MFA) and self.sign_on.needs_second_factor(session, official.id):
            challenge = open_challenge(session, browser_id, official.id, "login", login.pending, amr,
                                       next_url=login.next_url)
            links.remember_session(session, self.box, links.challenge_key(challenge), config.name, identity.subject,
                                   identity.sid, identity.id_token)
            return NeedsSecondFactor(challenge)
        cookie, sso = self.sessions.renew(session, current_cookie, official.id, acr, amr, ip, user_agent)
        links.remember_session(session, self.box, sso.sid, config.name, identity.subject, identity.sid,
                               identity.id_token)
        resumed = self.requests.after_login(session, login.pending, browser_id, sso) if login.pending else None
        return SignedIn(cookie, sso, resumed)

    def _official(self, session: Session, config: ProviderConfig, identity: UpstreamIdentity) -> Official | None:
        official_id = links.linked_official(session, config.name, identity.subject)
        if official_id is not None:
            return session.get(Official, official_id)
        if not (config.link_by_national_id and identity.national_id):
            return None
        official = links.official_by_national_id(session, self.box, identity.national_id)
        if official is None:
            return None
        try:
            links.link(session, config.name, identity.subject, official, "national_id", identity.name,
                       Actor(official.id, "official"))
        except links.AlreadyLinked:
            return None
        return official

    def _refused(self, session: Session, name: str, ip: str | None, error: UpstreamError) -> Refused:
        record(session, "login.upstream", Actor(name[:40], "anonymous", ip), outcome=error.reason,
               details={"provider": name[:40], "why": str(error)[:300]})
        return Refused(error.reason)

    # --- linking by password, confirmed on /account ---------------------------------------------------------
    def confirm_link(self, session: Session, token: str, browser_id: str, official: Official, auth_time: int,
                     amr: tuple[str, ...], ip: str) -> str:
        """The official signed in with their password after the offer was made, and says the identity is
        theirs. Returns a message key."""
        found = links.offer(session, token, browser_id)
        if found is None:
            return "links.offer_expired"
        if "pwd" not in amr or auth_time < found.created_at:
            return "links.password_first"
        config = self.providers.config(session, found.provider)
        if config is None or not config.allow_password_link:
            return "links.offer_expired"
        session.delete(found)
        try:
            links.link(session, found.provider, found.subject, official, "password", found.display_name,
                       Actor(official.id, "official", ip))
        except links.AlreadyLinked:
            return "links.linked_elsewhere"
        return "links.linked"

    # --- logout both ways -------------------------------------------------------------------------------------
    def logout_from_upstream(self, session: Session, name: str, logout_token: str) -> list[str]:
        """Back-channel logout from the provider: our sessions from that upstream session end (and their
        applications are queued to be told)."""
        rp = self.providers.relying_party(session, name)
        subject, upstream_sid, jti = rp.verify_logout_token(logout_token)
        if not links.first_use(session, f"upstream-logout:{name}:{jti}", now() + 3600):
            raise UpstreamError("replay", "this logout token was used before")
        ended = [sid for sid in links.sessions_named(session, name, subject, upstream_sid)
                 if self.sessions.end(session, sid)]
        record(session, "logout.upstream", Actor(name, "system"), details={"provider": name, "sessions": len(ended)})
        return ended

    def end_session_url(self, session: Session, sid: str, after: str | None) -> str | None:
        """Where the browser signs out at the provider the session came from, if it offers that."""
        row = session.get(UpstreamSession, sid)
        if row is None:
            return None
        try:
            rp = self.providers.relying_party(session, row.provider)
            back = f"{self.providers.issuer}/login/idp/{row.provider}/signed-out"
            return rp.end_session_url(self.box.open(row.id_token_sealed).decode(), back, self.sign_after(after or ""))
        except UpstreamError:
            return None  # the provider is gone or down: our side has signed out all the same

    def sign_after(self, after: str) -> str:
        mac = hmac.new(self.state_key, b"after:" + after.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=") + "." + mac

    def opened_after(self, state: str) -> str | None:
        body, _, mac = state.rpartition(".")
        try:
            after = base64.urlsafe_b64decode(body + "===").decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return after if hmac.compare_digest(self.sign_after(after).rpartition(".")[2], mac) else None

