"""Which claims each scope releases."""

from __future__ import annotations

from typing import Any

from app.oidc.models import Subject

# `profile` also carries what the province's systems asked for: the official's unit and title.
SCOPES_SUPPORTED = ("openid", "profile", "email", "phone", "groups", "offline_access", "admin", "scim")
CLAIMS_SUPPORTED = (
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
    "name", "given_name", "family_name", "middle_name", "preferred_username", "updated_at",
    "email", "email_verified", "phone_number", "phone_number_verified",
    "title", "unit", "groups",
)


def scope_claims(subject: Subject, scopes: set[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": subject.id}
    if "profile" in scopes:
        claims.update(
            name=subject.display_name,
            given_name=subject.given_name or None,
            family_name=subject.family_name or None,
            middle_name=subject.middle_name or None,
            preferred_username=subject.username,
            updated_at=subject.updated_at,
            title=subject.title,
        )
        if subject.unit:
            claims["unit"] = {
                "id": subject.unit.id,
                "code": subject.unit.code,
                "name": subject.unit.name,
                "path": [dict(p) for p in subject.unit.path],
            }
    if "email" in scopes and subject.email:
        # Addresses come from the province's directory or its admins, never from the official.
        claims.update(email=subject.email, email_verified=True)
    if "phone" in scopes and subject.phone:
        claims.update(phone_number=subject.phone, phone_number_verified=False)
    if "groups" in scopes:
        claims["groups"] = list(subject.groups)
    return {k: v for k, v in claims.items() if v is not None}
