"""A gateway application: the URLs it owns, the headers it is given, who may reach it.

Header values are UTF-8, percent-encoded (RFC 3986; letters, digits and `@ . - _ ~` stay as they are): a
name like `Nguyễn Đình Hiếu` cannot travel in an HTTP/1.1 header as latin-1, and raw UTF-8 bytes are read
as latin-1 by most servers. One decode call gives it back (`urllib.parse.unquote`, `decodeURIComponent`,
`rawurldecode`); user names and addresses, being ASCII, arrive unchanged. Multiple values (groups) are
joined with `,` after encoding, so a comma inside a value cannot split it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from app import attributes
from app.oidc.models import Subject

CALLBACK_PATH = "/.sso-broker/callback"  # on the app's own host, proxied to the broker's /gateway/callback
DEFAULT_HEADERS = (("X-Remote-User", "username"), ("X-Remote-Name", "displayName"), ("X-Remote-Email", "mail"),
                   ("X-Remote-Unit", "unitName"), ("X-Remote-Groups", "groups"))
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,60}$")


class GatewayError(ValueError):
    """A gateway application that cannot be accepted, naming the field."""


@dataclass(frozen=True)
class GatewayAppInfo:
    id: str
    name: str
    prefix: str
    headers: tuple[tuple[str, str], ...] = DEFAULT_HEADERS
    require_mfa: bool = False
    allowed_units: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    enabled: bool = True

    def owns(self, url: str) -> bool:
        return self.enabled and url.startswith(self.prefix)

    def admits(self, subject: Subject) -> bool:
        return attributes.admits(subject, self.allowed_units, self.allowed_groups)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.prefix)
        return f"{parts.scheme}://{parts.netloc}"


def check(app: GatewayAppInfo) -> GatewayAppInfo:
    if not re.fullmatch(r"[A-Za-z0-9._-]{2,100}", app.id):
        raise GatewayError("id: letters, digits, '.', '_' and '-', 2 to 100 characters")
    parts = urlsplit(app.prefix)
    if parts.scheme not in ("https", "http") or not parts.hostname or not parts.path.startswith("/"):
        raise GatewayError(f"prefix: {app.prefix!r} must be an absolute URL with a path, e.g. https://app.gov.vn/")
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme == "http" and not loopback:
        raise GatewayError(f"prefix: {app.prefix!r} must use https (http only for loopback addresses): the "
                           "app's cookie would travel in clear")
    for name, ours in app.headers:
        if not HEADER_NAME.match(name):
            raise GatewayError(f"headers: {name!r} is not a header name")
        try:
            attributes.attribute_named(ours)
        except attributes.UnknownAttribute as exc:
            raise GatewayError(f"headers: {exc}") from exc
    return app


def encode(value: str) -> str:
    return quote(value, safe="@.-_~")


def identity_headers(app: GatewayAppInfo, subject: Subject) -> list[tuple[str, str]]:
    values = attributes.values_of(subject)
    return [(name, ",".join(encode(v) for v in values.get(attributes.attribute_named(ours), [])))
            for name, ours in app.headers]
