"""The demo directory and demo relying party that `sso-broker demo` installs."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.models import RoleGrant
from app.applications.clients import ClientService, ClientSpec
from app.identity.service import NewOfficial, add_official, ensure_unit, find_official
from app.store.models import Client

DEMO_PASSWORD = "Demo@12345"
DEMO_CLIENT_ID = "demo-app"
# The demo's province admin: signs in to /admin with DEMO_PASSWORD and sets up an authenticator app there
# (admin roles always need a second factor).
DEMO_ADMIN = "quantri"

UNITS = [
    ("bac-ninh", "Tỉnh Bắc Ninh", None, "province"),
    ("so-tc", "Sở Tài chính", "bac-ninh", "department"),
    ("so-ttt", "Sở Thông tin và Truyền thông", "bac-ninh", "department"),
    ("so-gd", "Sở Giáo dục và Đào tạo", "bac-ninh", "department"),
    ("so-nv", "Sở Nội vụ", "bac-ninh", "department"),
    ("viet-yen", "Thị xã Việt Yên", "bac-ninh", "district"),
    ("xa-tang-tien", "Phường Tăng Tiến", "viet-yen", "commune"),
    ("xa-hiep-hoa", "Xã Hiệp Hòa", "bac-ninh", "commune"),
]

OFFICIALS = [
    NewOfficial("hieund", "Nguyễn Đình Hiếu", DEMO_PASSWORD, "hieund@bacninh.gov.vn", "+84912000001",
                "Chuyên viên", "so-ttt", "Hiếu", "Nguyễn", "Đình", ("cb-so-ttt",)),
    NewOfficial("maitt", "Trần Thị Mai", DEMO_PASSWORD, "maitt@bacninh.gov.vn", "+84912000002",
                "Phó Chủ tịch UBND phường", "xa-tang-tien", "Mai", "Trần", "Thị", ("cb-tang-tien",)),
    NewOfficial("hunglv", "Lê Văn Hùng", DEMO_PASSWORD, "hunglv@bacninh.gov.vn", "+84912000003",
                "Kế toán viên", "so-tc", "Hùng", "Lê", "Văn", ("cb-so-tc",)),
    NewOfficial("anhpt", "Phạm Tuấn Anh", DEMO_PASSWORD, "anhpt@bacninh.gov.vn", None,
                "Giáo viên", "so-gd", "Anh", "Phạm", "Tuấn", ("cb-so-gd",)),
    NewOfficial(DEMO_ADMIN, "Đỗ Thị Quản Trị", DEMO_PASSWORD, "quantri@bacninh.gov.vn", None,
                "Quản trị hệ thống", "so-ttt", "Trị", "Đỗ", "Thị Quản", ()),
]


def install_demo(session: Session, clients: ClientService, base_url: str) -> str | None:
    """Idempotent: returns the demo client's secret when it was created now, else None."""
    for code, name, parent, kind in UNITS:
        ensure_unit(session, code, name, parent, kind)
    for official in OFFICIALS:
        if find_official(session, official.username) is None:
            add_official(session, official)
    admin, province = find_official(session, DEMO_ADMIN), ensure_unit(session, *UNITS[0])
    assert admin is not None
    if session.scalars(select(RoleGrant).where(RoleGrant.official_id == admin.id)).first() is None:
        session.add(RoleGrant(id=str(uuid.uuid4()), official_id=admin.id, role="province_admin", unit_id=province.id,
                              granted_by="demo"))
    existing = session.get(Client, DEMO_CLIENT_ID)
    callback = f"{base_url}/demo-app/callback"
    if existing is not None:
        existing.launch_url = f"{base_url}/demo-app"  # in the portal's launcher, at the address served now
        if callback not in existing.redirect_uris:
            existing.redirect_uris = [*existing.redirect_uris, callback]
            existing.post_logout_redirect_uris = [*existing.post_logout_redirect_uris, f"{base_url}/demo-app"]
            clients.cache.clear()
        return None
    _, secret = clients.add(session, ClientSpec(
        client_id=DEMO_CLIENT_ID, name="Ứng dụng minh họa (Demo app)", redirect_uris=[callback],
        post_logout_redirect_uris=[f"{base_url}/demo-app"], first_party=True, launch_url=f"{base_url}/demo-app",
    ))
    return secret
