"""Which services may ask for tickets: registered by URL prefix or by an anchored pattern (the Apereo service
registry style), never by a catch-all, because a service URL that matches too much is the classic open
redirect: the ticket, and with it the official's session, goes wherever the pattern lets it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app import attributes
from app.oidc.models import Subject

PREFIX = "prefix"
PATTERN = "regex"
# URLs no registered service may match: a pattern that accepts one of them accepts a stranger's site.
_FOREIGN = ("https://attacker.invalid/", "https://attacker.invalid/cas?service=x", "http://attacker.invalid/",
            "https://127.0.0.1.attacker.invalid/", "https://attacker.invalid:8443/app/", "imaps://attacker.invalid/")


class ServiceError(ValueError):
    """A service definition that cannot be accepted, naming the field."""


def attribute_named(name: str) -> str:
    try:
        return attributes.attribute_named(name)
    except attributes.UnknownAttribute as exc:
        raise ServiceError(f"attributes: {exc}") from exc


@dataclass(frozen=True)
class ServiceInfo:
    """A registered CAS service as the protocol sees it. `release` maps the name the service receives to our
    attribute (mod_auth_cas cannot pass names with `_` to CGI: the names are the service's choice)."""

    id: str
    name: str
    match: str
    pattern: str
    release: tuple[tuple[str, str], ...] = ()
    allow_proxy: bool = False
    proxy_pattern: str | None = None
    logout_url: str | None = None
    single_logout: bool = True
    require_mfa: bool = False
    allowed_units: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    enabled: bool = True
    evaluation_order: int = 100
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, url: str) -> bool:
        if not self.enabled or not url or len(url) > 2000:
            return False
        if self.match == PREFIX:
            return url.startswith(self.pattern)
        compiled = self._compiled or re.compile(self.pattern)
        return compiled.fullmatch(url) is not None

    def admits(self, subject: Subject) -> bool:
        return attributes.admits(subject, self.allowed_units, self.allowed_groups)

    def accepts_proxy_callback(self, url: str) -> bool:
        return self.allow_proxy and bool(self.proxy_pattern) and re.fullmatch(str(self.proxy_pattern), url) is not None


def check_prefix(prefix: str, allow_http_loopback: bool = True) -> None:
    """A prefix names a scheme, a host and a path, so that no other host can extend it: `https://a.gov.vn`
    would also match `https://a.gov.vn.attacker.invalid`."""
    parts = urlsplit(prefix)
    if parts.scheme not in ("https", "http") or not parts.hostname or not parts.path.startswith("/"):
        raise ServiceError(f"service: {prefix!r} must be an absolute URL with a path, e.g. https://app.gov.vn/")
    if parts.username or parts.password:
        raise ServiceError(f"service: {prefix!r} must not carry a user name or password")
    if parts.scheme == "http" and not (allow_http_loopback and _loopback(parts.hostname)):
        raise ServiceError(f"service: {prefix!r} must use https (http only for loopback addresses)")


def check_pattern(pattern: str, name: str = "serviceId") -> re.Pattern[str]:
    """An anchored regular expression that matches no stranger's URL."""
    if not pattern.startswith("^"):
        raise ServiceError(f"{name}: the pattern {pattern!r} must be anchored with ^ at the start")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ServiceError(f"{name}: {pattern!r} is not a regular expression: {exc}") from exc
    foreign = next((url for url in _FOREIGN if compiled.fullmatch(url)), None)
    if foreign is not None:
        raise ServiceError(f"{name}: the pattern {pattern!r} matches any site (it accepts {foreign}); "
                           "name the host, e.g. ^https://app\\.gov\\.vn/.*")
    return compiled


def check(service: ServiceInfo) -> ServiceInfo:
    """The definition, validated, with its pattern compiled once."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{2,100}", service.id):
        raise ServiceError("id: letters, digits, '.', '_' and '-', 2 to 100 characters")
    if service.match == PREFIX:
        check_prefix(service.pattern)
        compiled = None
    elif service.match == PATTERN:
        compiled = check_pattern(service.pattern)
    else:
        raise ServiceError(f"match: {service.match!r} is neither {PREFIX!r} nor {PATTERN!r}")
    if service.allow_proxy and service.proxy_pattern:
        check_pattern(service.proxy_pattern, "proxy_pattern")
    for _, ours in service.release:
        attribute_named(ours)
    if service.logout_url:
        check_prefix(service.logout_url)
    return ServiceInfo(**{**service.__dict__, "_compiled": compiled})


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.endswith(".localhost")
