"""SCIM 2.0 (RFC 7643/7644) Users: look-up by userName filter, create, PUT updates, PATCH active, paged list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import Account, Connector, Operation, PermanentError, TransientError
from connectors.http import HttpTarget

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


class ScimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. https://app.example.gov.vn/scim/v2")
    token: SecretStr | None = Field(None, description="bearer token")
    timeout: float = Field(10.0, gt=0, le=120)
    page_size: int = Field(100, ge=1, le=1000)


def _scim_detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or "")
    except (ValueError, AttributeError):
        return response.text[:200]


class ScimConnector(Connector):
    Config = ScimConfig
    operations = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DISABLE, Operation.ENABLE,
                            Operation.DELETE, Operation.GET, Operation.LIST, Operation.GROUPS,
                            Operation.FIND_EXTERNAL})
    default_mapping = {"display_name": "{display_name}", "given_name": "{given_name}", "family_name": "{family_name}",
                       "middle_name": "{middle_name}", "email": "{email}", "title": "{title}", "external_id": "{sub}"}

    def __init__(self, config: BaseModel, http: httpx.Client | None = None) -> None:
        super().__init__(config, http)
        assert isinstance(config, ScimConfig)
        self.cfg = config
        headers = {"Accept": SCIM_JSON}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        self.target = HttpTarget(self.http_client(timeout=config.timeout), "SCIM", config.base_url, headers)

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.target.request(method, path, detail=_scim_detail, **kw)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        data = self.target.json(response, "SCIM")
        if not isinstance(data, dict):
            raise TransientError("SCIM answered JSON that is not an object")
        return data

    @staticmethod
    def _resource(account: Account) -> dict[str, Any]:
        a = account.attributes
        resource: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": account.key, "active": account.enabled}
        if a.get("display_name"):
            resource["displayName"] = a["display_name"]
        name = {k: a[f] for k, f in (("formatted", "display_name"), ("familyName", "family_name"),
                                     ("givenName", "given_name"), ("middleName", "middle_name")) if a.get(f)}
        if name:
            resource["name"] = name
        if a.get("email"):
            resource["emails"] = [{"value": a["email"], "primary": True, "type": "work"}]
        if a.get("title"):
            resource["title"] = a["title"]
        if a.get("external_id"):
            resource["externalId"] = a["external_id"]
        return resource

    @staticmethod
    def _account(resource: dict[str, Any]) -> Account:
        emails = resource.get("emails") or []
        attributes = {"display_name": resource.get("displayName"), "title": resource.get("title"),
                      "email": next((e.get("value") for e in emails if e.get("primary")), None)
                      or (emails[0].get("value") if emails else None),
                      "family_name": (resource.get("name") or {}).get("familyName"),
                      "given_name": (resource.get("name") or {}).get("givenName"),
                      "middle_name": (resource.get("name") or {}).get("middleName"),
                      "external_id": resource.get("externalId")}
        return Account(key=str(resource.get("userName")), attributes={k: v for k, v in attributes.items() if v},
                       enabled=bool(resource.get("active", True)), target_id=str(resource.get("id")))

    def validate(self) -> None:
        if not self.cfg.base_url.startswith(("https://", "http://")):
            raise PermanentError(f"base_url: {self.cfg.base_url!r} is not an http(s) address")

    def test(self) -> None:
        # /Users, not /ServiceProviderConfig: discovery endpoints may answer without the token.
        self._json(self._call("GET", "/Users", params={"count": 1}))

    def _find(self, attribute: str, value: str) -> Account | None:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')  # RFC 7644 §3.4.2.2 string literal
        data = self._json(self._call("GET", "/Users", params={"filter": f'{attribute} eq "{escaped}"'}))
        found = [r for r in data.get("Resources", []) if str(r.get(attribute, "")).lower() == value.lower()]
        return self._account(found[0]) if found else None

    def get(self, key: str) -> Account | None:
        return self._find("userName", key)

    def find_external(self, external_id: str) -> Account | None:
        return self._find("externalId", external_id)

    def create(self, account: Account) -> str:
        data = self._json(self._call("POST", "/Users", json=self._resource(account),
                                     headers={"Content-Type": SCIM_JSON}))
        if not data.get("id"):
            raise TransientError("SCIM create answered without an id")
        return str(data["id"])

    def update(self, target_id: str, account: Account) -> None:
        self._call("PUT", f"/Users/{target_id}", json=self._resource(account), headers={"Content-Type": SCIM_JSON})

    def _set_active(self, target_id: str, active: bool) -> None:
        body = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": active}]}
        self._call("PATCH", f"/Users/{target_id}", json=body, headers={"Content-Type": SCIM_JSON})

    def disable(self, target_id: str) -> None:
        self._set_active(target_id, False)

    def enable(self, target_id: str) -> None:
        self._set_active(target_id, True)

    def delete(self, target_id: str) -> None:
        self._call("DELETE", f"/Users/{target_id}")

    def list(self) -> Iterator[Account]:
        start = 1
        while True:
            data = self._json(self._call("GET", "/Users", params={"startIndex": start,
                                                                 "count": self.cfg.page_size}))
            resources = data.get("Resources", [])
            for resource in resources:
                yield self._account(resource)
            start += len(resources)
            if not resources or start > int(data.get("totalResults", 0)):
                return

    def sync_group(self, name: str, member_ids: Sequence[str]) -> str:
        """Find the group by displayName; create it, or PATCH its members to exactly these."""
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        data = self._json(self._call("GET", "/Groups", params={"filter": f'displayName eq "{escaped}"'}))
        found = [g for g in data.get("Resources", []) if g.get("displayName") == name]
        members = [{"value": m} for m in sorted(member_ids)]
        if not found:
            created = self._json(self._call("POST", "/Groups", headers={"Content-Type": SCIM_JSON}, json={
                "schemas": [GROUP_SCHEMA], "displayName": name, "members": members}))
            return str(created.get("id"))
        group = found[0]
        current = sorted(str(m.get("value")) for m in group.get("members") or [])
        if current != sorted(member_ids):
            self._call("PATCH", f"/Groups/{group['id']}", headers={"Content-Type": SCIM_JSON}, json={
                "schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "members", "value": members}]})
        return str(group["id"])
