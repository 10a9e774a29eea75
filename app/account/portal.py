"""What the portal shows an official: their systems, their accounts there, their sessions, their factors."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import attributes
from app.admin.models import RoleGrant
from app.identity.models import Group, GroupMember, Official
from app.identity.units import unit_info
from app.mfa.factors import Factors, FactorService
from app.oidc.models import Subject, UnitInfo
from app.provisioning.models import AccountLink, ConnectorInstance
from app.store.models import CasService, Client, Consent, GatewayApp, SamlServiceProvider, TokenGrant
from app.store.sessions import SessionService
from app.upstream.links import LinkedIdentity, links_of


@dataclass(frozen=True)
class App:
    name: str
    url: str
    initial: str


@dataclass(frozen=True)
class LinkedAccount:
    system: str
    kind: str
    username: str
    state: str
    changed_at: int


@dataclass(frozen=True)
class SessionRow:
    sid: str
    device: str
    ip: str
    started_at: int
    last_seen_at: int
    current: bool


@dataclass(frozen=True)
class OfflineGrant:
    """An application that keeps access while the official is away (offline_access)."""

    client_id: str
    name: str
    since: int


@dataclass(frozen=True)
class Portal:
    official: Official
    unit_path: str
    apps: list[App]
    accounts: list[LinkedAccount]
    sessions: list[SessionRow]
    consents: list[tuple[str, str]]
    offline_grants: list[OfflineGrant]
    factors: Factors
    admin: bool = False
    identities: list[LinkedIdentity] = field(default_factory=list)  # upstream providers' (VNeID...)


def device_of(user_agent: str | None) -> str:
    """A short readable name for a browser: enough to tell one's phone from one's office PC."""
    ua = user_agent or ""
    browser = next((b for b in ("Edg", "Firefox", "Chrome", "Safari") if b in ua), "")
    system = next((name for key, name in (("Android", "Android"), ("iPhone", "iPhone"), ("Windows", "Windows"),
                                          ("Mac OS", "macOS"), ("Linux", "Linux")) if key in ua), "")
    browser = {"Edg": "Edge"}.get(browser, browser)
    return " · ".join(p for p in (browser, system) if p) or (ua[:40] or "?")


def launcher(session: Session, official: Official, unit: UnitInfo | None, active: set[str]) -> list[App]:
    """Every application with a launcher entry, whatever it speaks, that this official may use: OIDC clients
    (only once their account exists, when provisioned), CAS services, SAML SPs (IdP-initiated unless they name
    a page) and gateway apps."""
    groups = session.scalars(select(Group.name).join(GroupMember, GroupMember.group_id == Group.id)
                             .where(GroupMember.official_id == official.id)).all()
    who = Subject(official.id, official.username, official.display_name, unit=unit, groups=tuple(groups))
    entries: list[tuple[str, str | None, list[str] | None, list[str] | None]] = []
    for c in session.scalars(select(Client).where(Client.launch_url.is_not(None), Client.enabled.is_(True))):
        if c.connector is None or c.connector in active:
            entries.append((c.name, c.launch_url, c.allowed_units, c.allowed_groups))
    for s in session.scalars(select(CasService).where(CasService.launch_url.is_not(None), CasService.enabled)):
        entries.append((s.name, s.launch_url, s.allowed_units, s.allowed_groups))
    for sp in session.scalars(select(SamlServiceProvider).where(SamlServiceProvider.enabled.is_(True))):
        entries.append((sp.name, sp.launch_url or f"/saml/init?sp={sp.id}", sp.allowed_units, sp.allowed_groups))
    for g in session.scalars(select(GatewayApp).where(GatewayApp.enabled.is_(True))):
        entries.append((g.name, g.launch_url or g.prefix, g.allowed_units, g.allowed_groups))
    return sorted((App(name, str(url), name[:1].upper()) for name, url, units, groups_ in entries
                   if attributes.admits(who, tuple(units or ()), tuple(groups_ or ()))), key=lambda a: a.name)


def build_portal(session: Session, official: Official, current_sid: str, sessions: SessionService,
                 factors: FactorService) -> Portal:
    links = session.execute(
        select(AccountLink, ConnectorInstance.kind).join(ConnectorInstance, ConnectorInstance.name ==
                                                         AccountLink.connector)
        .where(AccountLink.official_id == official.id).order_by(AccountLink.connector)).all()
    active = {link.connector for link, _ in links if link.state == "active"}
    unit = unit_info(session, official.unit_id)
    apps = launcher(session, official, unit, active)
    consents = session.execute(
        select(Client.client_id, Client.name).join(Consent, Consent.client_id == Client.client_id)
        .where(Consent.official_id == official.id).order_by(Client.name)).all()
    offline = session.execute(
        select(Client.client_id, Client.name, func.min(TokenGrant.created_at))
        .join(TokenGrant, TokenGrant.client_id == Client.client_id)
        .where(TokenGrant.official_id == official.id, TokenGrant.offline.is_(True), TokenGrant.revoked_at.is_(None))
        .group_by(Client.client_id, Client.name).order_by(Client.name)).all()
    return Portal(
        official=official,
        unit_path=" › ".join(p["name"] for p in unit.path) if unit else "",
        apps=apps,
        accounts=[LinkedAccount(link.connector, kind, link.key, link.state, link.updated_at)
                  for link, kind in links],
        sessions=[SessionRow(r.sid, device_of(r.user_agent), r.ip or "", r.created_at, r.last_seen_at,
                             r.sid == current_sid) for r in sessions.active_for(session, official.id)],
        consents=[(c, n) for c, n in consents],
        offline_grants=[OfflineGrant(c, n, since) for c, n, since in offline],
        factors=factors.factors(session, official.id),
        admin=session.scalars(select(RoleGrant.id).where(RoleGrant.official_id == official.id)).first() is not None,
        identities=links_of(session, official.id),
    )
