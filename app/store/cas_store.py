"""SQLAlchemy implementation of the CAS protocol's storage, and the registry of CAS services behind it."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.cache import TtlCache
from app.cas.models import LoginContext, TicketRecord
from app.cas.services import ServiceInfo
from app.cas.tickets import PROXY_GRANTING_TICKET, PROXY_TICKET, SERVICE_TICKET
from app.db import now
from app.oidc.models import Subject
from app.store.models import CasService, CasTicket, SsoSession
from app.store.oidc_store import SqlOIDCStorage

ServiceCache = TtlCache[list[ServiceInfo]]


def service_info(row: CasService) -> ServiceInfo:
    return ServiceInfo(
        id=row.id, name=row.name, match=row.match, pattern=row.pattern,
        release=tuple((str(a), str(b)) for a, b in row.release or ()), allow_proxy=row.allow_proxy,
        proxy_pattern=row.proxy_pattern, logout_url=row.logout_url, single_logout=row.single_logout,
        require_mfa=row.require_mfa, allowed_units=tuple(row.allowed_units or ()),
        allowed_groups=tuple(row.allowed_groups or ()), enabled=row.enabled, evaluation_order=row.evaluation_order,
    )


def registered_services(session: Session, cache: ServiceCache) -> list[ServiceInfo]:
    """Every enabled service in evaluation order, cached for seconds per process."""
    hit, services = cache.get("all")
    if hit and services is not None:
        return services
    rows = session.scalars(select(CasService).where(CasService.enabled.is_(True))
                           .order_by(CasService.evaluation_order, CasService.id))
    services = [service_info(row) for row in rows]
    cache.put("all", services)
    return services


def _record(row: CasTicket) -> TicketRecord:
    login = LoginContext(row.official_id, row.sid, row.auth_time, row.acr, tuple(row.amr or ()), row.from_new_login)
    return TicketRecord(row.digest, row.kind, row.service_id, row.service_url, login, row.expires_at,
                        tuple(row.proxies or ()))


class SqlCasStorage:
    def __init__(self, session: Session, services: ServiceCache, subjects: SqlOIDCStorage) -> None:
        self.session, self.services, self.subjects = session, services, subjects

    def service_for(self, url: str) -> ServiceInfo | None:
        return next((s for s in registered_services(self.session, self.services) if s.matches(url)), None)

    def save_ticket(self, record: TicketRecord) -> None:
        if secrets.randbelow(100) == 0:  # sweep expired tickets now and then, not on every login
            self.session.execute(delete(CasTicket).where(CasTicket.expires_at < now() - 60))
        login = record.login
        self.session.add(CasTicket(
            digest=record.digest, kind=record.kind, service_id=record.service_id, service_url=record.service_url,
            official_id=login.official_id, sid=login.sid, auth_time=login.auth_time, acr=login.acr,
            amr=list(login.amr), from_new_login=login.from_new_login, proxies=list(record.proxies),
            expires_at=record.expires_at))
        self.session.flush()

    def consume_ticket(self, digest: str) -> TicketRecord | None:
        claimed = self.session.execute(
            update(CasTicket).where(CasTicket.digest == digest, CasTicket.consumed_at.is_(None),
                                    CasTicket.kind.in_((SERVICE_TICKET, PROXY_TICKET)))
            .values(consumed_at=now()).returning(CasTicket.digest)).scalar_one_or_none()
        if claimed is None:
            return None
        row = self.session.get(CasTicket, digest)
        return _record(row) if row is not None else None

    def granting_ticket(self, digest: str) -> TicketRecord | None:
        row = self.session.get(CasTicket, digest)
        return _record(row) if row is not None and row.kind == PROXY_GRANTING_TICKET else None

    def session_alive(self, sid: str) -> bool:
        found = self.session.scalar(select(SsoSession.sid).where(
            SsoSession.sid == sid, SsoSession.ended_at.is_(None), SsoSession.expires_at > now()))
        return found is not None

    def get_subject(self, official_id: str) -> Subject | None:
        return self.subjects.get_subject(official_id)
