"""Who must use a second factor whatever the client asks: officials of listed units (subtrees)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import installation
from app.cache import TtlCache
from app.identity.models import Official
from app.identity.units import unit_info


def policy_requires_mfa(session: Session, official_id: str, unit_codes: list[str]) -> bool:
    if not unit_codes:  # the usual case, on every login and authorization: no query at all
        return False
    official = session.get(Official, official_id)
    if official is None or not official.unit_id:
        return False
    unit = unit_info(session, official.unit_id)
    return unit is not None and any(part["code"] in unit_codes for part in unit.path)


class MfaPolicy:
    """The one question every login and authorization asks of the policy: must this official use a second
    factor, whatever the client asks? Units come from the settings and from the configuration file; the file's
    are cached per process like clients (`ttl`), so the usual login and authorization make no query for them."""

    def __init__(self, configured: list[str], ttl: float) -> None:
        self.configured = configured  # the settings' own list: what they say is what applies
        self._stored: TtlCache[list[str]] = TtlCache(ttl)

    def units(self, session: Session) -> list[str]:
        hit, stored = self._stored.get(installation.MFA_REQUIRED_UNITS)
        if not hit:
            stored = list(installation.read(session, installation.MFA_REQUIRED_UNITS, []))
            self._stored.put(installation.MFA_REQUIRED_UNITS, stored)
        return sorted(set(self.configured) | set(stored or []))

    def requires_mfa(self, session: Session, official_id: str) -> bool:
        return policy_requires_mfa(session, official_id, self.units(session))
