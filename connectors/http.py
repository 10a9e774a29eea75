"""The one request function every HTTP connector's calls pass through (authentik's approach): transport errors
and timeouts, and the mapping of an answer's status to what the engine does next.

  409            AlreadyExists    correlate with the account that is there, never create a second one
  404            NotFound         the object is not there (a look-up turns it into "none")
  408, 429, 5xx  TransientError   retried; the target's Retry-After is kept for the engine
  other 4xx      PermanentError   dead-lettered and shown to the admin

The transport is an `httpx.Client` the connector is given (the engine's, or a test's) or makes itself. Dry runs
do not happen here: the engine records writes at the connector's edge (`DryRun`), for every kind of target
alike, HTTP or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from connectors.base import AlreadyExists, NotFound, PermanentError, TransientError, retry_after

Detail = Callable[[httpx.Response], str]


def _text(response: httpx.Response) -> str:
    return response.text[:200]


class HttpTarget:
    """One target's address and credentials over a transport that may be shared (so no base URL in it)."""

    def __init__(self, client: httpx.Client, label: str, base_url: str = "",
                 headers: dict[str, str] | None = None) -> None:
        self.client, self.label = client, label
        self.base_url, self.headers = base_url.rstrip("/"), headers or {}

    def send(self, method: str, path: str, what: str | None = None, **kw: Any) -> httpx.Response:
        """The request, with transport failures as TransientError; the answer's status is not judged."""
        what = what or f"{self.label} {method} {path}"
        headers = {**self.headers, **kw.pop("headers", {})}
        try:
            return self.client.request(method, self.base_url + path, headers=headers, **kw)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{what} timed out") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"{what} failed: {exc}") from exc

    def request(self, method: str, path: str, what: str | None = None, detail: Detail = _text,
                **kw: Any) -> httpx.Response:
        """The request, and an error for any status of 400 and above (the table above)."""
        what = what or f"{self.label} {method} {path}"
        response = self.send(method, path, what, **kw)
        if response.status_code >= 400:
            raise status_error(response, what, detail(response))
        return response

    def json(self, response: httpx.Response, what: str) -> Any:
        """The answer's JSON; something else from a target that should answer JSON is transient (a proxy's
        error page, say)."""
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(f"{what}: the answer is not JSON: {response.text[:100]!r}") from exc


def status_error(response: httpx.Response, what: str, detail: str) -> Exception:
    message = f"{what} answered {response.status_code}" + (f": {detail}" if detail else "")
    status = response.status_code
    if status == 409:
        return AlreadyExists(message)
    if status == 404:
        return NotFound(message)
    if status in (408, 429) or status >= 500:
        return TransientError(message, retry_after(response.headers.get("retry-after")))
    return PermanentError(message)
