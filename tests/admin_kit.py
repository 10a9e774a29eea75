"""A province with two communes and an admin of each kind, for the admin API and console tests."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from app.admin.models import RoleGrant
from app.broker import Broker
from app.identity.models import Group, Official, Unit
from app.identity.service import NewOfficial, add_official, ensure_unit
from app.oidc.acr import ACR_MFA, ACR_PASSWORD
from tests.kit import Kit

ROLE_OF = {"prov": ("province_admin", "root"), "admin_a": ("unit_admin", "A"), "help_a": ("helpdesk", "A"),
           "audit_a": ("auditor", "A"), "plain_a": (None, "A")}


@dataclass
class Province:
    kit: Kit | None
    units: dict[str, str] = field(default_factory=dict)  # root, A, B -> id
    officials: dict[str, str] = field(default_factory=dict)  # name -> id
    groups: dict[str, str] = field(default_factory=dict)  # A, B -> id

    def client_for(self, who: str, acr: str = ACR_MFA) -> TestClient:
        """A browser signed in as `who` (with a second factor unless told), its CSRF token in every request."""
        assert self.kit is not None
        broker = self.kit.broker
        with broker.db.session() as s:
            cookie, _ = broker.sessions.start(s, self.officials[who], acr, ("pwd", "otp", "mfa"), "127.0.0.1", "t")
        bid = secrets.token_urlsafe(24)
        http = TestClient(self.kit.app, base_url=self.kit.settings.issuer, follow_redirects=False,
                          headers={"X-CSRF-Token": broker.csrf_token(bid)})
        http.cookies.set("__Host-sso_session", cookie, domain="sso.test")
        http.cookies.set("__Host-sso_browser", bid, domain="sso.test")
        return http

    def version(self, model: Any, object_id: str) -> str:
        assert self.kit is not None
        with self.kit.broker.db.session() as s:
            return f'"{s.get(model, object_id).version}"'


def build_province(kit: Kit) -> Province:
    p = Province(kit)
    seed_province(kit.broker, p)
    return p


def seed_province(broker: Broker, p: Province) -> None:
    """Province bac-ninh with communes A and B; an official per role of ROLE_OF; a target and a group in each."""
    with broker.db.session() as s:
        p.units["root"] = ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province").id
        p.units["A"] = ensure_unit(s, "xa-a", "Xã Hiệp Hòa", "bac-ninh", "commune").id
        p.units["B"] = ensure_unit(s, "xa-b", "Xã Tiên Du", "bac-ninh", "commune").id
        for name, (role, unit) in ROLE_OF.items():
            o = add_official(s, NewOfficial(name.replace("_", ""), f"Cán bộ {name}", "Mật-khẩu-2025x",
                                            unit_code="bac-ninh" if unit == "root" else f"xa-{unit.lower()}"))
            p.officials[name] = o.id
            if role:
                s.add(RoleGrant(id=str(uuid.uuid4()), official_id=o.id, role=role, unit_id=p.units[unit],
                                granted_by="test"))
        for unit in ("A", "B"):
            o = add_official(s, NewOfficial(f"target{unit.lower()}", f"Nguyễn Văn {unit}", None,
                                            f"target{unit.lower()}@bacninh.gov.vn", unit_code=f"xa-{unit.lower()}"))
            p.officials[f"target_{unit}"] = o.id
            group = Group(id=str(uuid.uuid4()), name=f"nhom-{unit.lower()}", unit_id=p.units[unit])
            s.add(group)
            p.groups[unit] = group.id


__all__ = ["ACR_PASSWORD", "Official", "Province", "Unit", "build_province"]
