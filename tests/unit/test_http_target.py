"""The one request function of HTTP connectors: status mapping, Retry-After, transport errors, an injected
transport (httpx.MockTransport here, as the engine or a test would hand one in)."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import AlreadyExists, NotFound, PermanentError, TransientError
from connectors.http import HttpTarget
from connectors.rest import RestConfig, RestConnector
from connectors.scim import ScimConfig, ScimConnector


def target(status: int, headers: dict[str, str] | None = None) -> HttpTarget:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, text="no"))
    return HttpTarget(httpx.Client(transport=transport), "T", "https://t.example")


@pytest.mark.parametrize(("status", "error"), [(409, AlreadyExists), (404, NotFound), (408, TransientError),
                                               (429, TransientError), (503, TransientError), (400, PermanentError),
                                               (401, PermanentError), (403, PermanentError)])
def test_status_mapping(status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        target(status).request("GET", "/x")
    assert type(raised.value) is error
    assert f"answered {status}" in str(raised.value)


def test_retry_after_is_kept() -> None:
    with pytest.raises(TransientError) as raised:
        target(429, {"Retry-After": "7"}).request("GET", "/x")
    assert raised.value.retry_after == 7


def test_transport_errors_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    broken = HttpTarget(httpx.Client(transport=httpx.MockTransport(refuse)), "T", "https://t.example")
    with pytest.raises(TransientError, match="failed: refused"):
        broken.request("GET", "/x")


def test_connectors_use_the_transport_they_are_given() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url} {request.headers.get('authorization')}")
        return httpx.Response(200, json={"Resources": [], "totalResults": 0})

    shared = httpx.Client(transport=httpx.MockTransport(answer))
    scim = ScimConnector(ScimConfig(base_url="https://a.example/scim/v2", token="t1"), shared)
    rest = RestConnector(RestConfig(base_url="https://b.example/api", get={"path": "/users/{key}"},
                                    create={"method": "POST", "path": "/users"}), shared)
    assert scim.get("hieund") is None and rest.get("hieund") is None
    assert seen[0].startswith("GET https://a.example/scim/v2/Users?filter=") and seen[0].endswith("Bearer t1")
    assert seen[1] == "GET https://b.example/api/users/hieund None"  # one transport, each its own address


def test_a_rest_lookup_of_a_missing_account_is_none_and_a_write_to_it_is_not_found() -> None:
    missing = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(404)))
    rest = RestConnector(RestConfig(base_url="https://b.example", get={"path": "/users/{key}"},
                                    create={"method": "POST", "path": "/users"},
                                    update={"method": "PUT", "path": "/users/{id}"}), missing)
    assert rest.get("hieund") is None
    from connectors.base import Account

    with pytest.raises(NotFound):
        rest.update("7", Account(key="hieund"))
