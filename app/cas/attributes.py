"""An official's attributes by the names a CAS service asked for (the service's release map)."""

from __future__ import annotations

from app.oidc.models import Subject


def _values(subject: Subject) -> dict[str, list[str]]:
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
    """Only what the service's release map names; empty values are left out, as CAS servers do."""
    values = _values(subject)
    out: dict[str, list[str]] = {}
    for name, ours in release:
        if values.get(ours):
            out[name] = values[ours]
    return out
