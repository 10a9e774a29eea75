"""Who must use a second factor whatever the client asks: officials of listed units (subtrees)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import installation
from app.identity.models import Official
from app.identity.units import unit_info


def required_units(session: Session, configured: list[str]) -> list[str]:
    """Units whose officials always use a second factor: from the settings and from declarative configuration."""
    return sorted(set(configured) | set(installation.read(session, installation.MFA_REQUIRED_UNITS, [])))


def policy_requires_mfa(session: Session, official_id: str, unit_codes: list[str]) -> bool:
    if not unit_codes:  # the usual case, on every login and authorization: no query at all
        return False
    official = session.get(Official, official_id)
    if official is None or not official.unit_id:
        return False
    unit = unit_info(session, official.unit_id)
    return unit is not None and any(part["code"] in unit_codes for part in unit.path)


def unit_policy_requires_mfa(session: Session, official_id: str, configured: list[str]) -> bool:
    """The one question every login and authorization asks of the policy: must this official use a second
    factor, whatever the client asks? (Units from the settings and from the configuration file.)"""
    return policy_requires_mfa(session, official_id, required_units(session, configured))
