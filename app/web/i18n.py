"""Vietnamese and English strings for the pages, and choosing between them."""

from __future__ import annotations

LOCALES = ("vi", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "vi": {
        "title.login": "Đăng nhập",
        "title.consent": "Cấp quyền truy cập",
        "title.error": "Không thể tiếp tục",
        "title.logout": "Đăng xuất",
        "title.account": "Tài khoản của tôi",
        "product": "Cổng đăng nhập một lần",
        "login.heading": "Đăng nhập một lần cho mọi hệ thống",
        "login.to_app": "để tiếp tục vào {app}",
        "login.username": "Tên đăng nhập",
        "login.password": "Mật khẩu",
        "login.submit": "Đăng nhập",
        "login.failed": "Tên đăng nhập hoặc mật khẩu không đúng.",
        "login.locked": "Đăng nhập tạm thời bị khóa do nhập sai nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "login.disabled": "Tài khoản đã bị vô hiệu hóa hoặc bị khóa. Vui lòng liên hệ quản trị viên đơn vị.",
        "login.conflict": "Tài khoản cần được quản trị viên xác nhận trước khi đăng nhập. Vui lòng liên hệ quản trị viên đơn vị.",
        "login.ambiguous": "Tên đăng nhập này có ở nhiều thư mục. Hãy nhập kèm tên thư mục, ví dụ hieund@bacgiang.",
        "login.unavailable": "Không kết nối được thư mục cán bộ. Vui lòng thử lại sau ít phút.",
        "login.csrf": "Phiên làm việc của trang đã hết hạn. Vui lòng đăng nhập lại.",
        "consent.heading": "{app} muốn truy cập tài khoản của bạn",
        "consent.intro": "Ứng dụng sẽ được phép:",
        "consent.allow": "Đồng ý",
        "consent.deny": "Từ chối",
        "scope.openid": "Xác nhận danh tính của bạn",
        "scope.profile": "Xem họ tên, chức danh và đơn vị công tác",
        "scope.email": "Xem địa chỉ thư điện tử công vụ",
        "scope.phone": "Xem số điện thoại",
        "scope.groups": "Xem các nhóm bạn tham gia",
        "scope.offline_access": "Duy trì truy cập khi bạn không trực tuyến",
        "error.heading": "Yêu cầu không hợp lệ",
        "error.back": "Hãy quay lại ứng dụng và thử lại.",
        "logout.confirm": "Bạn có muốn đăng xuất khỏi tất cả các hệ thống?",
        "logout.submit": "Đăng xuất",
        "logout.done": "Bạn đã đăng xuất.",
        "account.signed_in_as": "Đang đăng nhập: {name}",
        "account.unit": "Đơn vị",
        "account.consents": "Ứng dụng đã được cấp quyền",
        "account.no_consents": "Chưa cấp quyền cho ứng dụng nào.",
        "account.revoke": "Thu hồi",
        "account.logout": "Đăng xuất",
        "lang.switch": "English",
        "skip": "Bỏ qua đến nội dung chính",
    },
    "en": {
        "title.login": "Sign in",
        "title.consent": "Grant access",
        "title.error": "Cannot continue",
        "title.logout": "Sign out",
        "title.account": "My account",
        "product": "Single sign-on",
        "login.heading": "One sign-in for every system",
        "login.to_app": "to continue to {app}",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.failed": "Wrong username or password.",
        "login.locked": "Sign-in is temporarily locked after repeated failures. Try again in {minutes} minutes.",
        "login.disabled": "This account is disabled or locked. Please contact your unit's administrator.",
        "login.conflict": "This account needs an administrator's confirmation before it can sign in. Please contact your unit's administrator.",
        "login.ambiguous": "This username exists in several directories. Add the directory, e.g. hieund@bacgiang.",
        "login.unavailable": "The officials' directory cannot be reached. Try again in a few minutes.",
        "login.csrf": "This page has expired. Please sign in again.",
        "consent.heading": "{app} wants to access your account",
        "consent.intro": "It will be allowed to:",
        "consent.allow": "Allow",
        "consent.deny": "Deny",
        "scope.openid": "Confirm who you are",
        "scope.profile": "See your name, title and unit",
        "scope.email": "See your official e-mail address",
        "scope.phone": "See your phone number",
        "scope.groups": "See the groups you belong to",
        "scope.offline_access": "Keep access while you are offline",
        "error.heading": "Invalid request",
        "error.back": "Go back to the application and try again.",
        "logout.confirm": "Do you want to sign out of every system?",
        "logout.submit": "Sign out",
        "logout.done": "You are signed out.",
        "account.signed_in_as": "Signed in as {name}",
        "account.unit": "Unit",
        "account.consents": "Applications you have granted access",
        "account.no_consents": "No application has been granted access.",
        "account.revoke": "Revoke",
        "account.logout": "Sign out",
        "lang.switch": "Tiếng Việt",
        "skip": "Skip to main content",
    },
}


def choose_locale(ui_locales: str | None, cookie: str | None, accept_language: str | None,
                  default: str = "vi") -> str:
    for candidate in (ui_locales or "").split():
        base = candidate.split("-")[0].lower()
        if base in LOCALES:
            return base
    if cookie in LOCALES:
        return str(cookie)
    for part in (accept_language or "").split(","):
        base = part.split(";")[0].strip().split("-")[0].lower()
        if base in LOCALES:
            return base
    return default if default in LOCALES else "vi"


class Translator:
    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._messages = MESSAGES[locale]

    def __call__(self, key: str, **values: str) -> str:
        text = self._messages.get(key) or MESSAGES["en"].get(key) or key
        return text.format(**values) if values else text
