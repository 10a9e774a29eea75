"""The authorization endpoint's journey: validate, log in, consent, issue the code.

Requests that need the login or consent page are parked as a pending authorization bound to the
browser, so nothing of the request travels through the pages and back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from sqlalchemy import Table, bindparam
from sqlalchemy.orm import Session

from app import attributes
from app.db import now, on_conflict_insert
from app.mfa.challenges import open_challenge
from app.mfa.factors import FactorService
from app.mfa.policy import MfaPolicy
from app.oidc.acr import ACR_PHISHING_RESISTANT, required_acr, satisfies
from app.oidc.http import HttpRequest
from app.oidc.keys import TokenInvalid
from app.oidc.models import ClientInfo
from app.oidc.server import OIDCProvider
from app.signon.outcomes import FlowOutcome, Redirect, ShowConsent, ShowError, ShowLogin, ShowSecondFactor
from app.signon.pending import Params, drop, param, park, parked
from app.store.driver_sql import DriverStatement
from app.store.models import Consent, SessionClient
from app.store.sessions import ActiveSession

# Once per code issued (app/store/driver_sql.py: compiled once, run on the driver connection).
_session_clients: Table = cast(Table, SessionClient.__table__)
JOIN_SESSION = DriverStatement(on_conflict_insert(_session_clients).values(
    sid=bindparam("sid"), client_id=bindparam("client_id")).on_conflict_do_nothing(index_elements=["sid", "client_id"]))


class AuthorizationFlow:
    def __init__(self, provider: Callable[[Session], OIDCProvider], issuer: str, factors: FactorService,
                 mfa_policy: MfaPolicy, pending_ttl: int) -> None:
        self.provider, self.issuer, self.factors = provider, issuer, factors
        self.mfa_policy, self.pending_ttl = mfa_policy, pending_ttl

    # --- entry points --------------------------------------------------------------------------
    def start(self, session: Session, params: Params, browser_id: str, sso: ActiveSession | None) -> FlowOutcome:
        return self._evaluate(session, params, browser_id, sso, fresh_login=False, consented=False)

    def after_login(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession,
                    new_session: bool = True) -> FlowOutcome:
        """Resume a parked request once the official has logged in (new_session: False after a step-up)."""
        params = self._pending(session, pending_id, browser_id)
        if params is None:
            return ShowError("invalid_request", "This sign-in request has expired. Go back to the application "
                                                "and start again.")
        return self._evaluate(session, params, browser_id, sso, fresh_login=True, consented=False,
                              pending_id=pending_id)

    def after_consent(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession | None,
                      approved: bool) -> FlowOutcome:
        params = self._pending(session, pending_id, browser_id)
        if params is None or sso is None:
            return ShowError("invalid_request", "This sign-in request has expired. Go back to the application "
                                                "and start again.")
        if not approved:
            return self._deny(session, params, pending_id)
        return self._evaluate(session, params, browser_id, sso, fresh_login=True, consented=True,
                              pending_id=pending_id)

    # --- the decision ----------------------------------------------------------------------------
    def _evaluate(self, session: Session, params: Params, browser_id: str, sso: ActiveSession | None, *,
                  fresh_login: bool, consented: bool, pending_id: str | None = None) -> FlowOutcome:
        provider = self.provider(session)
        request = self._request(params)
        prompts = set(param(params, "prompt").split())
        try:
            user = self._acceptable_session(provider, params, sso, prompts, fresh_login)
        except ValueError as exc:
            return self._error_outcome(provider, params, "invalid_request", str(exc))
        try:
            grant = provider.get_consent_grant(request, end_user=user.context if user else None)
        except OAuth2Error as error:
            return self._oauth_error(provider, grant_request=request, error=error)
        except ValueError:
            # Authlib refuses to echo control characters or quotes in an error description.
            return ShowError("invalid_request", "The request contains characters that are not allowed.")
        client: ClientInfo = grant.request.client
        if user is None:
            return ShowLogin(self._park(session, params, browser_id, pending_id), client.name,
                             param(params, "login_hint"), param(params, "ui_locales"),
                             (param(params, "idp_hint") or param(params, "kc_idp_hint"))[:40])
        if client.allowed_units or client.allowed_groups:
            subject = provider.storage.get_subject(user.official_id)
            if subject is None or not attributes.admits(subject, client.allowed_units, client.allowed_groups):
                return self._error_outcome(provider, params, "access_denied",
                                           "The official's unit or groups may not use this application.")
        step_up = self._step_up(session, params, client, user, browser_id, pending_id, prompts)
        if step_up is not None:
            return step_up
        scopes = tuple((grant.request.scope or "").split())
        if not consented and self._needs_consent(session, client, user.official_id, scopes, prompts):
            if "none" in prompts:
                return self._error_outcome(provider, params, "consent_required",
                                           "The official has not yet consented to this application.")
            return ShowConsent(self._park(session, params, browser_id, pending_id), client.name, scopes,
                               param(params, "ui_locales"))
        if consented:
            self._remember_consent(session, client.client_id, user.official_id, scopes)
        response = provider.create_authorization_response(request, grant_user=user.context, grant=grant)
        if pending_id:
            drop(session, pending_id)
        location = response.location
        if not location:
            return ShowError("server_error", "The authorization could not be completed.", 500)
        if "code=" in location:
            JOIN_SESSION.rowcount(session, {"sid": user.sid, "client_id": client.client_id})
        return Redirect(add_params_to_uri(location, [("iss", self.issuer)]))

    def _step_up(self, session: Session, params: Params, client: ClientInfo, user: ActiveSession,
                 browser_id: str, pending_id: str | None, prompts: set[str]) -> FlowOutcome | None:
        """A second factor when the client, the official's unit or acr_values ask for more than the session has."""
        required = required_acr(param(params, "acr_values"), client.require_mfa,
                                self.mfa_policy.requires_mfa(session, user.official_id))
        if satisfies(user.acr, required):
            return None
        provider = self.provider(session)
        if "none" in prompts:
            return self._error_outcome(provider, params, "interaction_required",
                                       "A stronger authentication is required.")
        factors = self.factors.factors(session, user.official_id)
        if required == ACR_PHISHING_RESISTANT and not factors.passkeys:
            return self._error_outcome(provider, params, "unmet_authentication_requirements",
                                       "This application needs a passkey; register one on the account page.")
        pending = self._park(session, params, browser_id, pending_id)
        return ShowSecondFactor(open_challenge(session, browser_id, user.official_id, "step_up", pending,
                                               user.amr, user.sid))

    def _acceptable_session(self, provider: OIDCProvider, params: Params, sso: ActiveSession | None,
                            prompts: set[str], fresh_login: bool) -> ActiveSession | None:
        """The SSO session if it satisfies prompt, max_age and id_token_hint; else None (log in again)."""
        max_age_raw = param(params, "max_age")
        if max_age_raw and not (max_age_raw.isdigit() and len(max_age_raw) < 10):
            raise ValueError("max_age must be a non-negative number of seconds")
        hint_sub = self._hint_subject(provider, param(params, "id_token_hint"))
        if sso is None:
            return None
        if fresh_login:
            return sso
        if "login" in prompts:
            return None
        if max_age_raw and time.time() - sso.auth_time > int(max_age_raw):
            return None
        if hint_sub and hint_sub != sso.official_id:
            return None
        return sso

    @staticmethod
    def _hint_subject(provider: OIDCProvider, hint: str) -> str | None:
        if not hint:
            return None
        try:
            # An expired ID token is still a fine hint of who the client thinks is logged in.
            claims = provider.keys.verify(hint, now())
        except TokenInvalid as exc:
            raise ValueError("id_token_hint is not an ID token issued by this provider") from exc
        if claims.get("iss") != provider.policy.issuer:
            raise ValueError("id_token_hint was issued by another provider")
        return str(claims.get("sub"))

    def _needs_consent(self, session: Session, client: ClientInfo, official_id: str, scopes: tuple[str, ...],
                       prompts: set[str]) -> bool:
        if client.first_party:
            return False
        if "consent" in prompts:
            return True
        consent = session.get(Consent, (official_id, client.client_id))
        return consent is None or not set(scopes) <= set(consent.scopes or [])

    @staticmethod
    def _remember_consent(session: Session, client_id: str, official_id: str, scopes: tuple[str, ...]) -> None:
        consent = session.get(Consent, (official_id, client_id))
        if consent is None:
            session.add(Consent(official_id=official_id, client_id=client_id, scopes=sorted(scopes),
                                granted_at=now()))
        else:
            consent.scopes = sorted(set(consent.scopes or []) | set(scopes))
            consent.granted_at = now()

    def _deny(self, session: Session, params: Params, pending_id: str) -> FlowOutcome:
        drop(session, pending_id)
        provider = self.provider(session)
        return self._error_outcome(provider, params, "access_denied", "The official declined the request.")

    # --- helpers ---------------------------------------------------------------------------------
    def _request(self, params: Params) -> HttpRequest:
        # The parameters travel as pairs: Authlib reads only the scheme of the URL, so it carries no query.
        return HttpRequest("GET", f"{self.issuer}/oauth2/authorize", {}, query=params)

    def _error_outcome(self, provider: OIDCProvider, params: Params, error: str, description: str) -> FlowOutcome:
        """An error for a request whose client and redirect URI may or may not be valid."""
        client = provider.query_client(param(params, "client_id"))
        redirect_uri = param(params, "redirect_uri")
        if client is None or not client.check_redirect_uri(redirect_uri):
            return ShowError(error, description)
        reply = [("error", error), ("error_description", description)]
        if param(params, "state"):
            reply.append(("state", param(params, "state")))
        reply.append(("iss", self.issuer))
        return Redirect(add_params_to_uri(redirect_uri, reply))

    def _oauth_error(self, provider: OIDCProvider, grant_request: HttpRequest, error: OAuth2Error) -> FlowOutcome:
        # Authlib sets redirect_uri on the error only once client and redirect URI have been validated.
        if not error.redirect_uri:
            return ShowError(error.error or "invalid_request", error.get_error_description() or "Invalid request.")
        status, _body, headers = error()
        location = next((v for k, v in headers if k.lower() == "location"), None)
        if not location:
            return ShowError(error.error, error.get_error_description())
        return Redirect(add_params_to_uri(location, [("iss", self.issuer)]))

    def _park(self, session: Session, params: Params, browser_id: str, pending_id: str | None) -> str:
        return park(session, "oidc", params, browser_id, self.pending_ttl, pending_id)

    @staticmethod
    def _pending(session: Session, pending_id: str, browser_id: str) -> Params | None:
        request = parked(session, pending_id, browser_id)
        return request.params if request is not None and request.protocol == "oidc" else None
