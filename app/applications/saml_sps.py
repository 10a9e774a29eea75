"""Registering SAML service providers from their metadata (a file or a URL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import attributes
from app.saml.metadata import EMAIL, PERSISTENT, TRANSIENT, read_sp_metadata
from app.saml.xml import SamlError
from app.store.models import SamlServiceProvider
from app.store.saml_store import sp_info

NAMEID = {"persistent": PERSISTENT, "transient": TRANSIENT, "email": EMAIL}


@dataclass
class SpSpec:
    id: str
    metadata: bytes
    metadata_url: str | None = None
    name: str = ""
    release: list[tuple[str, str]] = field(default_factory=list)
    nameid: str | None = None
    sign_response: bool = True
    encrypt_assertions: bool = False
    require_mfa: bool = False
    allowed_units: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)
    launch_url: str | None = None


def fetch_metadata(url: str) -> bytes:
    if not url.startswith("https://") and not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise SamlError("metadata URL: https only (http for loopback addresses)")
    try:
        reply = httpx.get(url, timeout=10, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SamlError(f"metadata URL: cannot fetch {url}: {type(exc).__name__}") from exc
    if reply.status_code != 200:
        raise SamlError(f"metadata URL: {url} answered HTTP {reply.status_code}")
    return reply.content


def _release(pairs: list[tuple[str, str]]) -> list[list[str]]:
    try:
        return [[name, attributes.attribute_named(ours)] for name, ours in pairs]
    except attributes.UnknownAttribute as exc:
        raise SamlError(f"attributes: {exc}") from exc


class SamlRegistry:
    @staticmethod
    def add(session: Session, spec: SpSpec, replace: bool = False) -> SamlServiceProvider:
        parsed = read_sp_metadata(spec.metadata, spec.id)  # refuses what cannot be served, naming why
        if spec.nameid and spec.nameid not in NAMEID:
            raise SamlError(f"nameid: one of {', '.join(NAMEID)}")
        row = session.get(SamlServiceProvider, spec.id)
        clash = session.scalars(select(SamlServiceProvider).where(
            SamlServiceProvider.entity_id == parsed.entity_id)).one_or_none()
        if (row is not None and not replace) or (clash is not None and clash.id != spec.id):
            raise SamlError(f"a service provider {spec.id!r} or {parsed.entity_id!r} is already registered")
        if row is None:
            row = SamlServiceProvider(id=spec.id)
            session.add(row)
        row.entity_id, row.name = parsed.entity_id, spec.name or spec.id
        row.metadata_xml, row.metadata_url = spec.metadata.decode(), spec.metadata_url
        row.release, row.nameid_format = _release(spec.release), NAMEID.get(spec.nameid or "")
        if spec.encrypt_assertions and not parsed.encryption_certs:
            raise SamlError("encrypt_assertions: the SP's metadata has no encryption certificate")
        row.sign_response, row.require_mfa, row.launch_url = spec.sign_response, spec.require_mfa, spec.launch_url
        row.encrypt_assertions = spec.encrypt_assertions
        row.allowed_units, row.allowed_groups = spec.allowed_units, spec.allowed_groups
        session.flush()
        return row

    @staticmethod
    def remove(session: Session, sp_id: str) -> None:
        row = session.get(SamlServiceProvider, sp_id)
        if row is None:
            raise SamlError(f"no SAML service provider {sp_id!r}")
        session.delete(row)

    @staticmethod
    def list(session: Session) -> list[SamlServiceProvider]:
        return list(session.scalars(select(SamlServiceProvider).order_by(SamlServiceProvider.id)))


def describe(row: SamlServiceProvider) -> dict[str, Any]:
    info = sp_info(row)
    return {"id": info.id, "entity_id": info.entity_id, "name": info.name,
            "acs": [e.location for e in info.acs], "authn_requests_signed": info.authn_requests_signed,
            "nameid_format": info.nameid_format, "attributes": dict(info.release), "sign_response": info.sign_response,
            "want_assertions_signed": info.want_assertions_signed,
            "encrypt_assertions": info.encrypt_assertions, "require_mfa": info.require_mfa,
            "allowed_units": list(info.allowed_units), "allowed_groups": list(info.allowed_groups),
            "launch_url": row.launch_url}
