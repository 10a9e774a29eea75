"""The identity provider's decisions: an AuthnRequest is accepted only from a registered SP, signed when the SP
declares it signs, addressed to us, fresh, never seen before, asking for an ACS its metadata lists; the
Response says who signed in, how (AuthnContextClassRef from our acr), to exactly that SP."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from app import attributes
from app.oidc.acr import ACR_LEVELS, ACR_MFA, ACR_PASSWORD, ACR_PHISHING_RESISTANT, satisfies
from app.saml import messages as m
from app.saml.bindings import POST, REDIRECT, RedirectMessage, read_post, signed_redirect, verify_redirect
from app.saml.metadata import EMAIL, PERSISTENT, TRANSIENT, UNSPECIFIED, SpInfo
from app.saml.storage import SamlStorage
from app.saml.xml import SamlError, parse, q


@dataclass(frozen=True)
class SigningMaterial:
    key_pem: str
    cert_pem: str


@dataclass(frozen=True)
class AcceptedRequest:
    """What is kept of an accepted AuthnRequest while the official signs in."""

    sp_id: str
    request_id: str | None  # None: IdP-initiated (from the portal's launcher)
    acs_url: str
    relay_state: str
    force_authn: bool = False
    is_passive: bool = False
    nameid_format: str | None = None
    wants_mfa: bool = False
    requested_classes: str = ""  # space-separated AuthnContextClassRefs the SP asked for


@dataclass(frozen=True)
class SignedInAs:
    official_id: str
    sid: str
    auth_time: int
    acr: str


class SamlIdentityProvider:
    def __init__(self, storage: SamlStorage, entity_id: str, sso_url: str, slo_url: str,
                 material: Callable[[], SigningMaterial], now: Callable[[], int]) -> None:
        self.storage, self.entity_id, self.sso_url, self.slo_url = storage, entity_id, sso_url, slo_url
        self.material, self.now = material, now

    # --- requests ---------------------------------------------------------------------------------------
    def accept_redirect(self, message: RedirectMessage) -> AcceptedRequest:
        root = parse(message.xml)
        info = m.read_authn_request(root)
        sp = self._sp(info.issuer)
        if (sp.authn_requests_signed or message.signature is not None) and \
                not verify_redirect(message, sp.signing_certs):
            raise SamlError("the AuthnRequest's signature is missing or does not verify with the SP's certificate")
        return self._accept(sp, info, message.relay_state)

    def accept_post(self, saml_request: str, relay_state: str) -> AcceptedRequest:
        root = parse(read_post(saml_request))
        signed = root.find(q("ds", "Signature")) is not None
        info = m.read_authn_request(root)
        sp = self._sp(info.issuer)
        if sp.authn_requests_signed or signed:
            info = m.read_authn_request(m.verified_post_request(root, sp.signing_certs))
        return self._accept(sp, info, relay_state)

    def initiated(self, sp_id: str, relay_state: str = "") -> AcceptedRequest:
        sp = self.storage.sp(sp_id)
        endpoint = sp.acs_for(None, None) if sp is not None and sp.enabled else None
        if sp is None or endpoint is None:
            raise SamlError("no such service provider")
        return AcceptedRequest(sp.id, None, endpoint.location, relay_state)

    def _sp(self, issuer: str) -> SpInfo:
        sp = self.storage.sp_by_entity(issuer)
        if sp is None or not sp.enabled:
            raise SamlError(f"the service provider {issuer[:200]!r} is not registered")
        return sp

    def _accept(self, sp: SpInfo, info: m.AuthnRequestInfo, relay_state: str) -> AcceptedRequest:
        if info.destination and info.destination != self.sso_url:
            raise SamlError(f"the AuthnRequest is addressed to {info.destination[:200]!r}, not to this server")
        if abs(info.issue_instant - self.now()) > m.SKEW:
            raise SamlError("the AuthnRequest's IssueInstant is too far from now (clock skew, or a replay)")
        if info.protocol_binding and info.protocol_binding != POST:
            raise SamlError("only the HTTP-POST binding is offered for responses")
        endpoint = sp.acs_for(info.acs_url, info.acs_index)
        if endpoint is None:
            raise SamlError("the AssertionConsumerService is not one the SP's metadata lists")
        if not self.storage.first_use_of_request(sp.entity_id, info.id, self.now() + 2 * m.SKEW + 300):
            raise SamlError("this AuthnRequest was seen before (a replay)")
        if len(relay_state) > 512:
            raise SamlError("RelayState is longer than 512 characters")
        wants_mfa = any(c in (m.MFA_CLASS, ACR_MFA) for c in info.requested_classes)
        return AcceptedRequest(sp.id, info.id, endpoint.location, relay_state, info.force_authn, info.is_passive,
                               info.nameid_format, wants_mfa, " ".join(info.requested_classes)[:500])

    # --- responses --------------------------------------------------------------------------------------
    def respond(self, request: AcceptedRequest, login: SignedInAs) -> bytes:
        sp = self.storage.sp(request.sp_id)
        subject = self.storage.get_subject(login.official_id)
        if sp is None or subject is None:
            raise SamlError("the service provider or the official is no longer there", m.RESPONDER)
        fmt = request.nameid_format if request.nameid_format not in (None, UNSPECIFIED) else sp.nameid_format
        nameid = self._nameid(sp, subject.email, login.official_id, fmt or PERSISTENT)
        assertion = m.Assertion(
            issuer=self.entity_id, audience=sp.entity_id, acs_url=request.acs_url,
            in_response_to=request.request_id, nameid=nameid[1], nameid_format=nameid[0],
            session_index=login.sid, authn_instant=login.auth_time,
            class_ref=class_ref(login.acr, request.requested_classes.split()),
            attributes=attributes.released(subject, sp.release),
            friendly_names={name: ours for name, ours in sp.release if name.startswith(("urn:", "http"))})
        material = self.material()
        self.storage.record_participant(login.sid, sp.id, nameid[1], nameid[0])
        encrypt_for = sp.encryption_certs[0] if sp.encrypt_assertions and sp.encryption_certs else None
        if sp.encrypt_assertions and encrypt_for is None:
            raise SamlError("the SP wants encrypted assertions but its metadata has no encryption key", m.RESPONDER)
        return m.response(assertion, material.key_pem, material.cert_pem, sign_assertion=sp.want_assertions_signed
                          or not sp.sign_response, sign_response=sp.sign_response, encrypt_for=encrypt_for)

    def _nameid(self, sp: SpInfo, email: str | None, official_id: str, fmt: str) -> tuple[str, str]:
        if fmt == EMAIL and email:
            return EMAIL, email
        if fmt == TRANSIENT:
            return TRANSIENT, "_" + secrets.token_hex(16)
        return PERSISTENT, self.storage.persistent_id(sp.id, official_id)

    # --- single logout --------------------------------------------------------------------------------
    def accept_logout(self, message: RedirectMessage) -> tuple[m.LogoutRequestInfo, SpInfo]:
        """An SP's LogoutRequest: it must be signed (SAML profiles §4.4.4.1) by the SP that sends it."""
        info = m.read_logout_request(parse(message.xml))
        sp = self._sp(info.issuer)
        if not verify_redirect(message, sp.signing_certs):
            raise SamlError("the LogoutRequest's signature is missing or does not verify with the SP's certificate")
        if info.destination and info.destination != self.slo_url:
            raise SamlError("the LogoutRequest is addressed to another server")
        return info, sp

    def logout_requests(self, sid: str, skip_sp: str | None = None) -> list[str]:
        """Signed LogoutRequest URLs (HTTP-Redirect) for every other SP of the session: the browser carries
        them, because the SPs' own sessions live in the browser's cookies."""
        urls: list[str] = []
        for sp_id, nameid, fmt in self.storage.participants(sid):
            sp = self.storage.sp(sp_id) if sp_id != skip_sp else None
            endpoint = sp.slo_endpoint() if sp is not None else None
            if sp is None or endpoint is None or endpoint.binding != REDIRECT:
                continue
            xml = m.logout_request(self.entity_id, endpoint.location, nameid, fmt, sp.entity_id, sid)
            # The key only when there is something to sign: most logouts have no SAML SP in them.
            urls.append(signed_redirect(endpoint.location, "SAMLRequest", xml, "", self.material().key_pem))
        return urls

    def logout_response_url(self, sp: SpInfo, request_id: str, relay_state: str) -> str | None:
        endpoint = sp.slo_endpoint()
        if endpoint is None or endpoint.binding != REDIRECT:
            return None
        xml = m.logout_response(self.entity_id, endpoint.location, request_id)
        return signed_redirect(endpoint.location, "SAMLResponse", xml, relay_state, self.material().key_pem)

    def refusal(self, request: AcceptedRequest, status: str) -> bytes:
        return m.error_response(self.entity_id, request.acs_url, request.request_id, status)


CLASS_LEVELS = {m.PASSWORD_CLASS: ACR_PASSWORD, m.MFA_CLASS: ACR_MFA, ACR_PASSWORD: ACR_PASSWORD, ACR_MFA: ACR_MFA,
                 ACR_PHISHING_RESISTANT: ACR_PHISHING_RESISTANT}


def requested_acr(requested: list[str]) -> str:
    """The classes an SP asked for in our terms (space-separated acr URIs), unknown ones left out: the weakest
    of them is the floor (a RequestedAuthnContext lists what the SP accepts)."""
    return " ".join(CLASS_LEVELS[c] for c in requested if c in CLASS_LEVELS)


def class_ref(acr: str, requested: list[str] | None = None) -> str:
    """Our acr as SAML says it: the class the SP asked for when the sign-in meets it (so an exact comparison
    holds), else a password or more than one factor (REFEDS MFA); our own acr URIs may be asked for too."""
    met = [c for c in requested or [] if c in CLASS_LEVELS and satisfies(acr, CLASS_LEVELS[c])]
    if met:
        return max(met, key=lambda c: ACR_LEVELS.index(CLASS_LEVELS[c]))
    return m.MFA_CLASS if satisfies(acr, ACR_MFA) else m.PASSWORD_CLASS
