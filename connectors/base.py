"""The connector contract: what a target system can do, in a few operations the engine plans around.

Mapping, dry-run, retries, ordering and idempotency live in the engine (app/provisioning), not here.
A connector raises the error that tells the engine what to do next.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel


class Operation(StrEnum):
    CREATE = "create"
    CREATE_MANY = "create_many"  # several accounts made in one request, all or none (a multi-row INSERT)
    UPDATE = "update"
    UPDATE_MANY = "update_many"  # several accounts changed in one request (a reorganisation's movers)
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"
    GET = "get"
    GET_MANY = "get_many"  # several accounts read by key in one request (a batch's new accounts)
    LIST = "list"
    SET_PASSWORD = "set_password"
    GROUPS = "groups"  # the target keeps groups of accounts: sync_group
    FIND_EXTERNAL = "find_external"  # accounts can be looked up by the externalId we gave them
    ALIASES = "aliases"  # the target keeps extra addresses of an account (attribute "aliases")
    SCHEMA = "schema"


class Account(BaseModel):
    """What the engine asks a target to hold, or what the target says it holds."""

    key: str  # correlation value in the target (username, e-mail, externalId)
    attributes: dict[str, Any] = {}
    enabled: bool = True
    target_id: str | None = None  # the target's own id, once known


class ConnectorError(Exception):
    """Base of what a connector raises; the message is shown to admins, so plain words, no secrets."""


class TransientError(ConnectorError):
    """Try again later (timeouts, 5xx, refused connections); `retry_after` is the target's own word (seconds)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying will not help (bad configuration, rejected data): dead-letter, show the admin."""


class NotFound(PermanentError):
    """The object is not in the target (HTTP 404): a look-up means "none", a write cannot be done."""


class Conflict(PermanentError):
    """The target holds an account under our key that belongs to someone else (another externalId):
    never taken over; an admin decides."""


def retry_after(value: str | None, limit: float = 3600.0) -> float | None:
    """Seconds from an HTTP Retry-After header (delay-seconds or an HTTP-date, RFC 9110 §10.2.3), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), limit)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, min(when - time.time(), limit))


class AlreadyExists(ConnectorError):
    """The account is there already: correlate with it, never create a second one."""


class Connector(ABC):  # noqa: B024 - every operation is optional; `operations` says which exist
    Config: ClassVar[type[BaseModel]]
    operations: ClassVar[frozenset[Operation]]
    # Account attribute -> template over the official, used when an instance configures no mapping.
    default_mapping: ClassVar[dict[str, str]] = {"display_name": "{display_name}", "email": "{email}"}
    # When set, a new account's key is this mapped attribute's value (when it has one and it is free) instead of
    # a username made by the naming rule: a mailbox's key is the official's e-mail address.
    key_attribute: ClassVar[str | None] = None

    def __init__(self, config: BaseModel, http: httpx.Client | None = None) -> None:
        """`http`: the transport for connectors that speak HTTP (the engine's or a test's); others ignore it."""
        self.config = config
        self._http = http

    def http_client(self, **options: Any) -> httpx.Client:
        """The transport given to this connector, or one made with these options (base_url, headers, timeout)."""
        if self._http is not None:
            return self._http
        return httpx.Client(**options)

    def validate(self) -> None:  # noqa: B027 - optional; the typed Config has been validated already
        """Offline checks of the configuration, beyond its types: never connects (ConnId's validate).
        Raise ConnectorError('plain words') naming what is wrong."""

    def test(self) -> None:  # noqa: B027 - optional; a connector without a check is assumed usable
        """Connect and check that the target is usable (ConnId's test); raise ConnectorError('plain words')."""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """What an instance can be told: its configuration's JSON schema, its operations, the account
        attributes it maps by default."""
        return {"config": cls.Config.model_json_schema(), "operations": sorted(cls.operations),
                "attributes": sorted(cls.default_mapping)}

    def as_held(self, account: Account) -> Account:
        """The account as the target will hold it (defaults it fills in, say): what a write makes, and what
        reconcile compares a read with, so the two agree by construction."""
        return account

    def get(self, key: str) -> Account | None:
        raise NotImplementedError

    def get_many(self, keys: Sequence[str]) -> dict[str, Account]:
        """The accounts held under these keys, by key; a key with no account is left out."""
        raise NotImplementedError

    def find_external(self, external_id: str) -> Account | None:
        """The account that carries this externalId (the official's sub), whatever its key."""
        raise NotImplementedError

    def create(self, account: Account) -> str:
        """Returns the target's id for the new account."""
        raise NotImplementedError

    def create_many(self, accounts: Sequence[Account]) -> dict[str, str]:
        """Make all these accounts or none; returns the target's id of each, by key. AlreadyExists when one is
        there already: nothing was made, and the engine makes them one at a time."""
        raise NotImplementedError

    def update(self, target_id: str, account: Account) -> None:
        raise NotImplementedError

    def update_many(self, accounts: Mapping[str, Account]) -> None:
        """Change these accounts (by the target's id) in one request. On a ConnectorError (one of them is not there,
        the target refused) the engine updates each on its own: an update done twice does no harm."""
        raise NotImplementedError

    def disable(self, target_id: str) -> None:
        raise NotImplementedError

    def enable(self, target_id: str) -> None:
        raise NotImplementedError

    def delete(self, target_id: str) -> None:
        raise NotImplementedError

    def list(self) -> Iterator[Account]:
        raise NotImplementedError

    def sync_group(self, name: str, member_ids: Sequence[str]) -> str:
        """Make the group `name` exist with exactly these members (target ids); returns the group's id."""
        raise NotImplementedError
