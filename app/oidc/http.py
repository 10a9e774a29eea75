"""Framework-neutral request and response, and their Authlib request adapter."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError


class Headers(dict[str, str]):
    """Header names compare case-insensitively, as HTTP says and as Authlib's lookups assume."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__({k.lower(): v for k, v in (items or {}).items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ProtocolResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


def _first(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data = _first(pairs)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in pairs:
            self._datalist[k].append(v)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


@lru_cache(maxsize=256)
def _require_secure_transport(url: str) -> None:
    InsecureTransportError.check(url)


class BrokerOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: HttpRequest) -> None:
        # Authlib's OAuth2Request.__init__, with its check that the URL is https (or loopback) made once per URL:
        # the URL is the issuer's and one of a few paths, and parsing it (an IP address, say) on every request was a
        # few percent of a client_credentials grant. tests/unit/test_oidc_http.py compares the attributes with
        # Authlib's.
        _require_secure_transport(request.url)
        self.method, self.uri, self.headers = request.method, request.url, Headers(request.headers)
        self._body: Any = None
        self.client: Any = None
        self.auth_method: Any = None
        self.user: Any = None
        self.authorization_code: Any = None
        self.refresh_token: Any = None
        self.credential: Any = None
        self._scope: Any = None
        self._args = _first(request.query)
        self._form = _first(request.form)
        self.payload = _Payload(request.query + request.form)
        self.issued: Any = None
        self.saved = False

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
