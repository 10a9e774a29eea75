"""CAS /login and its journey (Apereo CAS Protocol 3.0 §2.1): a registered service only, `renew` forces the
password (and it shows in the ticket), `gateway` never shows a page, the service's access rule and MFA
requirement apply, and the ticket goes to the exact service URL the request named."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.cas.models import LoginContext
from app.cas.server import CasServer, with_ticket
from app.cas.services import ServiceInfo
from app.mfa.challenges import open_challenge
from app.mfa.policy import MfaPolicy
from app.oidc.acr import required_acr, satisfies
from app.signon.outcomes import AutoPost, FlowOutcome, Redirect, ShowError, ShowLogin, ShowSecondFactor
from app.signon.pending import Params, drop, param, park, parked
from app.signon.resume import EXPIRED
from app.store.models import SessionCasTicket
from app.store.sessions import ActiveSession

UNREGISTERED = ("This application is not registered with the sign-in service, so it cannot receive your "
                "sign-in. Ask the application's administrator to register it.")
REFUSED = "Your unit or groups may not use this application. Ask your administrator if you need it."


def _true(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


class CasLoginFlow:
    def __init__(self, server: Callable[[Session], CasServer], mfa_policy: MfaPolicy, pending_ttl: int) -> None:
        self.server, self.mfa_policy, self.pending_ttl = server, mfa_policy, pending_ttl

    def start(self, session: Session, params: Params, browser_id: str, sso: ActiveSession | None) -> FlowOutcome:
        return self._evaluate(session, params, browser_id, sso, fresh_login=False)

    def after_login(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession,
                    new_session: bool = True) -> FlowOutcome:
        request = parked(session, pending_id, browser_id)
        if request is None or request.protocol != "cas":
            return ShowError("invalid_request", EXPIRED)
        return self._evaluate(session, request.params, browser_id, sso, fresh_login=True, pending_id=pending_id)

    def _evaluate(self, session: Session, params: Params, browser_id: str, sso: ActiveSession | None, *,
                  fresh_login: bool, pending_id: str | None = None) -> FlowOutcome:
        server = self.server(session)
        url = param(params, "service")
        service = server.service(url) if url else None
        if url and service is None:
            return ShowError("INVALID_SERVICE", UNREGISTERED)
        renew, gateway = _true(param(params, "renew")), _true(param(params, "gateway"))
        # renew wins over gateway (§2.1.1) and over an existing session: credentials must be typed again.
        usable = sso if sso is not None and (fresh_login or not renew) else None
        if usable is None:
            if gateway and not renew and service is not None:
                return Redirect(url)
            return ShowLogin(park(session, "cas", params, browser_id, self.pending_ttl, pending_id),
                             service.name if service else "", "", "")
        if service is None:
            return Redirect("/account")  # a sign-in at the CAS login page itself
        return self._grant(session, server, service, params, browser_id, usable, fresh_login, pending_id, gateway)

    def _grant(self, session: Session, server: CasServer, service: ServiceInfo, params: Params, browser_id: str,
               sso: ActiveSession, fresh_login: bool, pending_id: str | None, gateway: bool) -> FlowOutcome:
        url = param(params, "service")
        subject = server.storage.get_subject(sso.official_id)
        if subject is None or not service.admits(subject):
            return Redirect(url) if gateway else ShowError("access_denied", REFUSED, 403)
        required = required_acr("", service.require_mfa, self.mfa_policy.requires_mfa(session, sso.official_id))
        if not satisfies(sso.acr, required):
            if gateway:
                return Redirect(url)
            pending = park(session, "cas", params, browser_id, self.pending_ttl, pending_id)
            return ShowSecondFactor(open_challenge(session, browser_id, sso.official_id, "step_up", pending,
                                                   sso.amr, sso.sid))
        if pending_id:
            drop(session, pending_id)
        login = LoginContext(sso.official_id, sso.sid, sso.auth_time, sso.acr, sso.amr, fresh_login)
        ticket = server.issue_service_ticket(service, url, login)
        session.add(SessionCasTicket(sid=sso.sid, session_index=ticket, service_id=service.id, service_url=url))
        if param(params, "method").upper() == "POST":
            return AutoPost(url, (("ticket", ticket),))
        return Redirect(with_ticket(url, ticket))
