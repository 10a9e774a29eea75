"""An official's attributes by name, the one vocabulary every protocol releases from: CAS attributes, gateway
headers (and SAML attributes to come) name these; aliases are the names Apereo and LDAP configurations use."""

from __future__ import annotations

from app.oidc.models import Subject

ATTRIBUTES = ("username", "displayName", "givenName", "familyName", "mail", "phone", "title", "unitId",
              "unitCode", "unitName", "unitPath", "groups")
ALIASES = {"uid": "username", "user": "username", "cn": "displayName", "name": "displayName",
           "sn": "familyName", "given_name": "givenName", "family_name": "familyName", "email": "mail",
           "telephoneNumber": "phone", "memberOf": "groups", "ou": "unitName", "unit": "unitName"}


class UnknownAttribute(ValueError):
    """A configuration names an attribute there is not."""


def attribute_named(name: str) -> str:
    """Our attribute for a name a configuration uses, or UnknownAttribute listing the ones there are."""
    if name in ATTRIBUTES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise UnknownAttribute(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTES)}")


def values_of(subject: Subject) -> dict[str, list[str]]:
    unit = subject.unit
    values = {
        "username": [subject.username], "displayName": [subject.display_name],
        "givenName": [subject.given_name], "familyName": [subject.family_name],
        "mail": [subject.email or ""], "phone": [subject.phone or ""], "title": [subject.title or ""],
        "unitId": [unit.id if unit else ""], "unitCode": [unit.code if unit else ""],
        "unitName": [unit.name if unit else ""],
        # From the province down, one value per level, so a client can match any level it knows.
        "unitPath": [p["code"] for p in unit.path] if unit else [],
        "groups": list(subject.groups),
    }
    return {name: [v for v in found if v] for name, found in values.items()}


def released(subject: Subject, release: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """Only what the application's release map names, under the names it asked for; empty values are left
    out, as CAS servers do."""
    values = values_of(subject)
    return {name: values[ours] for name, ours in release if values.get(ours)}


def admits(subject: Subject, allowed_units: tuple[str, ...], allowed_groups: tuple[str, ...]) -> bool:
    """The access rule of every application: no lists means every official; otherwise a unit on the official's
    path (their unit or one above it) or one of their groups must be listed."""
    if not allowed_units and not allowed_groups:
        return True
    path = {p["code"] for p in subject.unit.path} if subject.unit else set()
    return bool(path & set(allowed_units)) or bool(set(subject.groups) & set(allowed_groups))
