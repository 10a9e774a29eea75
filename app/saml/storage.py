"""The few storage methods the SAML identity provider needs; `app.store.saml_store.SqlSamlStorage` implements
them."""

from __future__ import annotations

from typing import Protocol

from app.oidc.models import Subject
from app.saml.metadata import SpInfo


class SamlStorage(Protocol):
    def sp_by_entity(self, entity_id: str) -> SpInfo | None: ...

    def sp(self, sp_id: str) -> SpInfo | None: ...

    def first_use_of_request(self, issuer: str, request_id: str, expires_at: int) -> bool:
        """Record an AuthnRequest's ID; False when it was seen before (a replay)."""
        ...

    def persistent_id(self, sp_id: str, official_id: str) -> str:
        """The official's opaque, stable NameID at this SP (made on first use, never reused at another)."""
        ...

    def get_subject(self, official_id: str) -> Subject | None: ...

    def record_participant(self, sid: str, sp_id: str, nameid: str, nameid_format: str) -> None:
        """The SP received an assertion in this SSO session: single logout must reach it."""
        ...

    def participants(self, sid: str) -> list[tuple[str, str, str]]:
        """(sp_id, nameid, nameid_format) of every SP of the session."""
        ...
