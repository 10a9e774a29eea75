"""Authentication context classes, weakest first, and whether a session meets what a request asks.

`acr_values` lists classes the client would accept; we take the weakest of those we know as the floor
(a client asking for "mfa phr" is content with mfa). Unknown values are ignored, as OIDC Core §3.1.2.1
makes acr_values a voluntary claim unless it is essential.
"""

from __future__ import annotations

ACR_PASSWORD = "urn:sso-broker:acr:pwd"
ACR_MFA = "urn:sso-broker:acr:mfa"
# A passkey: the credential is bound to our origin, so a phishing site cannot replay it.
ACR_PHISHING_RESISTANT = "urn:sso-broker:acr:phr"
ACR_LEVELS = (ACR_PASSWORD, ACR_MFA, ACR_PHISHING_RESISTANT)


def level(acr: str | None) -> int:
    return ACR_LEVELS.index(acr) if acr in ACR_LEVELS else 0


def required_acr(acr_values: str, client_requires_mfa: bool, policy_requires_mfa: bool) -> str:
    """The weakest class this request may be served with."""
    known = [value for value in acr_values.split() if value in ACR_LEVELS]
    floor = min((level(v) for v in known), default=0)
    if client_requires_mfa or policy_requires_mfa:
        floor = max(floor, level(ACR_MFA))
    return ACR_LEVELS[floor]


def satisfies(session_acr: str | None, required: str) -> bool:
    return level(session_acr) >= level(required)


def acr_for(amr: tuple[str, ...]) -> str:
    """The class an authentication earned, from its methods (RFC 8176 names)."""
    if "hwk" in amr or "swk" in amr:
        return ACR_PHISHING_RESISTANT
    if "mfa" in amr:
        return ACR_MFA
    return ACR_PASSWORD
