"""Where a unit sits: its path from the province down, as tokens, provisioning and policy all read it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.identity.models import Unit
from app.oidc.models import UnitInfo


def unit_info(session: Session, unit_id: str | None) -> UnitInfo | None:
    if not unit_id:
        return None
    chain: list[Unit] = []
    current = session.get(Unit, unit_id)
    while current is not None and len(chain) < 32:
        chain.append(current)
        current = session.get(Unit, current.parent_id) if current.parent_id else None
    if not chain:
        return None
    path = tuple({"id": u.id, "code": u.code, "name": u.name} for u in reversed(chain))
    return UnitInfo(id=chain[0].id, name=chain[0].name, code=chain[0].code, path=path)
