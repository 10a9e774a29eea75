"""The few storage methods the CAS protocol needs; `app.store.cas_store.SqlCasStorage` implements them."""

from __future__ import annotations

from typing import Protocol

from app.cas.models import TicketRecord
from app.cas.services import ServiceInfo
from app.oidc.models import Subject


class CasStorage(Protocol):
    def service_for(self, url: str) -> ServiceInfo | None:
        """The registered service whose pattern matches url first, by evaluation order."""
        ...

    def save_ticket(self, record: TicketRecord) -> None: ...

    def consume_ticket(self, digest: str) -> TicketRecord | None:
        """Mark a service or proxy ticket used and return it; None if unknown or used before (single use,
        decided by one conditional UPDATE, so two validations at once cannot both win)."""
        ...

    def granting_ticket(self, digest: str) -> TicketRecord | None:
        """A proxy-granting ticket (used many times, for the life of its SSO session)."""
        ...

    def session_alive(self, sid: str) -> bool: ...

    def get_subject(self, official_id: str) -> Subject | None: ...
