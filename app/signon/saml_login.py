"""The SAML Web Browser SSO journey: an accepted AuthnRequest (or an IdP-initiated start from the portal) is
parked while the official signs in; ForceAuthn asks for the password again, IsPassive never shows a page, the
SP's access rule and MFA requirement (its own, RequestedAuthnContext, the policy) apply, and the answer is a
signed Response POSTed to the ACS the SP's metadata lists."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy.orm import Session

from app.mfa.challenges import open_challenge
from app.mfa.factors import FactorService
from app.mfa.policy import MfaPolicy
from app.oidc.acr import ACR_PHISHING_RESISTANT, required_acr, satisfies
from app.saml.messages import NO_AUTHN_CONTEXT, NO_PASSIVE
from app.saml.server import AcceptedRequest, SamlIdentityProvider, SignedInAs, requested_acr
from app.signon.outcomes import AutoPost, FlowOutcome, ShowError, ShowLogin, ShowSecondFactor
from app.signon.pending import drop, park, parked
from app.signon.resume import EXPIRED
from app.store.sessions import ActiveSession

REFUSED = "Your unit or groups may not use this application. Ask your administrator if you need it."


def _as_params(request: AcceptedRequest) -> list[tuple[str, str]]:
    return [(k, "" if v is None else str(v)) for k, v in asdict(request).items()]


def _from_params(params: list[tuple[str, str]]) -> AcceptedRequest:
    values = dict(params)
    flag = {"True": True, "False": False}
    return AcceptedRequest(values["sp_id"], values["request_id"] or None, values["acs_url"], values["relay_state"],
                           flag[values["force_authn"]], flag[values["is_passive"]], values["nameid_format"] or None,
                           flag[values["wants_mfa"]], values.get("requested_classes", ""))


class SamlLoginFlow:
    def __init__(self, idp: Callable[[Session], SamlIdentityProvider], mfa_policy: MfaPolicy, factors: FactorService,
                 pending_ttl: int) -> None:
        self.idp, self.mfa_policy, self.factors, self.pending_ttl = idp, mfa_policy, factors, pending_ttl

    def start(self, session: Session, request: AcceptedRequest, browser_id: str,
              sso: ActiveSession | None) -> FlowOutcome:
        return self._evaluate(session, request, browser_id, sso, fresh_login=False)

    def after_login(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession,
                    new_session: bool = True) -> FlowOutcome:
        request = parked(session, pending_id, browser_id)
        if request is None or request.protocol != "saml":
            return ShowError("invalid_request", EXPIRED)
        return self._evaluate(session, _from_params(request.params), browser_id, sso, fresh_login=True,
                              pending_id=pending_id)

    def _evaluate(self, session: Session, request: AcceptedRequest, browser_id: str, sso: ActiveSession | None, *,
                  fresh_login: bool, pending_id: str | None = None) -> FlowOutcome:
        idp = self.idp(session)
        sp = idp.storage.sp(request.sp_id)
        if sp is None:
            return ShowError("invalid_request", EXPIRED)
        usable = sso if sso is not None and (fresh_login or not request.force_authn) else None
        if usable is None:
            if request.is_passive:
                return self._post(request, idp.refusal(request, NO_PASSIVE))
            return ShowLogin(park(session, "saml", _as_params(request), browser_id, self.pending_ttl, pending_id),
                             sp.name, "", "")
        subject = idp.storage.get_subject(usable.official_id)
        if subject is None or not sp.admits(subject):
            return ShowError("access_denied", REFUSED, 403)
        required = required_acr(requested_acr(request.requested_classes.split()), sp.require_mfa,
                                self.mfa_policy.requires_mfa(session, usable.official_id))
        if not satisfies(usable.acr, required):
            if request.is_passive:
                return self._post(request, idp.refusal(request, NO_PASSIVE))
            if required == ACR_PHISHING_RESISTANT and not self.factors.factors(session, usable.official_id).passkeys:
                # Asked for a phishing-resistant sign-in the official cannot give: said to the SP (SAML core
                # 3.2.2.2), which may offer another way in; the official registers a passkey on /account.
                if pending_id:
                    drop(session, pending_id)
                return self._post(request, idp.refusal(request, NO_AUTHN_CONTEXT))
            pending = park(session, "saml", _as_params(request), browser_id, self.pending_ttl, pending_id)
            return ShowSecondFactor(open_challenge(session, browser_id, usable.official_id, "step_up", pending,
                                                   usable.amr, usable.sid))
        if pending_id:
            drop(session, pending_id)
        login = SignedInAs(usable.official_id, usable.sid, usable.auth_time, usable.acr)
        return self._post(request, idp.respond(request, login))

    @staticmethod
    def _post(request: AcceptedRequest, xml: bytes) -> AutoPost:
        fields = [("SAMLResponse", base64.b64encode(xml).decode())]
        if request.relay_state:
            fields.append(("RelayState", request.relay_state))
        return AutoPost(request.acs_url, tuple(fields))

