"""The connector contract: what a target system can do, in a few operations the engine plans around.

Mapping, dry-run, retries, ordering and idempotency live in the engine (app/provisioning), not here.
A connector raises the error that tells the engine what to do next.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"
    GET = "get"
    LIST = "list"
    SET_PASSWORD = "set_password"
    GROUPS = "groups"  # the target keeps groups of accounts: sync_group
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
    """Try again later (timeouts, 5xx, refused connections)."""


class PermanentError(ConnectorError):
    """Retrying will not help (bad configuration, rejected data): dead-letter, show the admin."""


class AlreadyExists(ConnectorError):
    """The account is there already: correlate with it, never create a second one."""


class Connector(ABC):  # noqa: B024 - every operation is optional; `operations` says which exist
    Config: ClassVar[type[BaseModel]]
    operations: ClassVar[frozenset[Operation]]
    # Account attribute -> template over the official, used when an instance configures no mapping.
    default_mapping: ClassVar[dict[str, str]] = {"display_name": "{display_name}", "email": "{email}"}

    def __init__(self, config: BaseModel) -> None:
        self.config = config

    def test(self) -> None:  # noqa: B027 - optional; a connector without a check is assumed usable
        """Raise ConnectorError('plain words') if the target is unusable."""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """What an instance can be told: its configuration's JSON schema, its operations, the account
        attributes it maps by default."""
        return {"config": cls.Config.model_json_schema(), "operations": sorted(cls.operations),
                "attributes": sorted(cls.default_mapping)}

    def get(self, key: str) -> Account | None:
        raise NotImplementedError

    def create(self, account: Account) -> str:
        """Returns the target's id for the new account."""
        raise NotImplementedError

    def update(self, target_id: str, account: Account) -> None:
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
