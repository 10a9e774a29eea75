"""The demo directory and demo relying party that `sso-broker demo` installs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.identity.service import NewOfficial, add_official, ensure_unit, find_official
from app.services.clients import ClientService, ClientSpec
from app.store.models import Client

DEMO_PASSWORD = "Demo@12345"
DEMO_CLIENT_ID = "demo-app"

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
]


def install_demo(session: Session, clients: ClientService, base_url: str) -> str | None:
    """Idempotent: returns the demo client's secret when it was created now, else None."""
    for code, name, parent, kind in UNITS:
        ensure_unit(session, code, name, parent, kind)
    for official in OFFICIALS:
        if find_official(session, official.username) is None:
            add_official(session, official)
    existing = session.get(Client, DEMO_CLIENT_ID)
    callback = f"{base_url}/demo-app/callback"
    if existing is not None:
        if callback not in existing.redirect_uris:
            existing.redirect_uris = [*existing.redirect_uris, callback]
            existing.post_logout_redirect_uris = [*existing.post_logout_redirect_uris, f"{base_url}/demo-app"]
            clients.cache.clear()
        return None
    _, secret = clients.add(session, ClientSpec(
        client_id=DEMO_CLIENT_ID, name="Ứng dụng minh họa (Demo app)", redirect_uris=[callback],
        post_logout_redirect_uris=[f"{base_url}/demo-app"], first_party=True,
    ))
    return secret
