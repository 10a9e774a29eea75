"""Generic REST/webhook connector: templated requests and response mapping, for document-management and
one-stop-shop systems that offer a REST API. Each operation is a request template; `{key}`, `{id}` and the
account's attributes fill it in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import Account, Connector, NotFound, Operation, PermanentError, TransientError
from connectors.http import HttpTarget


class RequestTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str = "GET"
    path: str
    body: dict[str, Any] | None = None


class RestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="e.g. Authorization: Bearer …")
    timeout: float = Field(10.0, gt=0, le=120)
    id_field: str = "id"
    key_field: str = "username"
    enabled_field: str | None = "active"
    attributes: dict[str, str] = Field(default_factory=dict, description="account attribute -> response field")
    items_field: str | None = Field(None, description="where a list answer keeps its items, e.g. 'items'")
    get: RequestTemplate
    create: RequestTemplate
    update: RequestTemplate | None = None
    disable: RequestTemplate | None = None
    enable: RequestTemplate | None = None
    delete: RequestTemplate | None = None
    list: RequestTemplate | None = None


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: Any, values: dict[str, Any]) -> Any:
    """A JSON template filled in: "{x}" alone keeps x's type (true, 3), inside text it is formatted."""
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1].isidentifier():
            return values.get(template[1:-1], "")
        return template.format_map(_Values(values))
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


class RestConnector(Connector):
    Config = RestConfig
    # What a fully configured target offers; each instance narrows it to the requests it was given.
    operations = frozenset({Operation.GET, Operation.CREATE, Operation.UPDATE, Operation.DISABLE, Operation.ENABLE,
                            Operation.DELETE, Operation.LIST})

    def __init__(self, config: BaseModel, http: httpx.Client | None = None) -> None:
        super().__init__(config, http)
        assert isinstance(config, RestConfig)
        self.cfg = config
        self.target = HttpTarget(self.http_client(timeout=config.timeout), "REST", config.base_url,
                                 {k: v.get_secret_value() for k, v in config.headers.items()})
        ops = {Operation.GET, Operation.CREATE}
        ops |= {op for op, t in ((Operation.UPDATE, config.update), (Operation.DISABLE, config.disable),
                                 (Operation.ENABLE, config.enable), (Operation.DELETE, config.delete),
                                 (Operation.LIST, config.list)) if t is not None}
        self.operations = frozenset(ops)  # type: ignore[misc]  # narrowed per instance

    def _send(self, template: RequestTemplate | None, values: dict[str, Any], what: str) -> httpx.Response:
        if template is None:
            raise PermanentError(f"this REST target has no {what} request configured")
        # Values go into the path percent-encoded: a username never adds a path segment or a query.
        path = template.path.format_map(_Values({k: quote(str(v), safe="") for k, v in values.items()}))
        body = fill(template.body, values) if template.body is not None else None
        return self.target.request(template.method, path, f"{what}: {template.method} {path}", json=body)

    def _json(self, response: httpx.Response, what: str) -> Any:
        return self.target.json(response, what)

    def _account(self, item: dict[str, Any]) -> Account:
        enabled = True if not self.cfg.enabled_field else bool(item.get(self.cfg.enabled_field, True))
        return Account(key=str(item.get(self.cfg.key_field, "")), enabled=enabled,
                       target_id=str(item.get(self.cfg.id_field)),
                       attributes={attr: item.get(field) for attr, field in self.cfg.attributes.items()})

    def _items(self, data: Any) -> list[dict[str, Any]]:
        if self.cfg.items_field and isinstance(data, dict):
            data = data.get(self.cfg.items_field, [])
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) and data else []
        return [i for i in items if isinstance(i, dict)]

    def _values(self, account: Account | None = None, target_id: str = "") -> dict[str, Any]:
        values: dict[str, Any] = dict(account.attributes) if account else {}
        values.update(key=account.key if account else "", id=target_id,
                      enabled=account.enabled if account else True)
        return values

    def get(self, key: str) -> Account | None:
        try:
            response = self._send(self.cfg.get, {"key": key}, "get")
        except NotFound:
            return None
        found = [i for i in self._items(self._json(response, "get"))
                 if str(i.get(self.cfg.key_field, "")).lower() == key.lower()]
        return self._account(found[0]) if found else None

    def create(self, account: Account) -> str:
        data = self._json(self._send(self.cfg.create, self._values(account), "create"), "create")
        if not isinstance(data, dict) or data.get(self.cfg.id_field) is None:
            raise TransientError(f"create: the answer has no {self.cfg.id_field}")
        return str(data[self.cfg.id_field])

    def update(self, target_id: str, account: Account) -> None:
        self._send(self.cfg.update, self._values(account, target_id), "update")

    def disable(self, target_id: str) -> None:
        self._send(self.cfg.disable, {"id": target_id, "enabled": False}, "disable")

    def enable(self, target_id: str) -> None:
        self._send(self.cfg.enable, {"id": target_id, "enabled": True}, "enable")

    def delete(self, target_id: str) -> None:
        self._send(self.cfg.delete, {"id": target_id}, "delete")

    def list(self) -> Iterator[Account]:
        data = self._json(self._send(self.cfg.list, {}, "list"), "list")
        for item in self._items(data):
            yield self._account(item)
