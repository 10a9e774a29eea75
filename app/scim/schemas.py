"""What /scim/v2 publishes about itself: the attributes it really keeps, nothing it would drop."""

from __future__ import annotations

from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
MEDIA_TYPE = "application/scim+json"


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    """An error as SCIM answers it (RFC 7644 §3.12)."""
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def _attr(name: str, type_: str = "string", *, required: bool = False, multi: bool = False,
          mutability: str = "readWrite", uniqueness: str = "none", sub: list[dict[str, Any]] | None = None,
          returned: str = "default", case_exact: bool = False, refs: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": type_, "multiValued": multi, "description": name,
                           "required": required, "caseExact": case_exact, "mutability": mutability,
                           "returned": returned, "uniqueness": uniqueness}
    if sub is not None:
        out["subAttributes"] = sub
    if refs is not None:
        out["referenceTypes"] = refs
    return out


def _multi(name: str) -> dict[str, Any]:
    return _attr(name, "complex", multi=True, sub=[_attr("value"), _attr("type"), _attr("primary", "boolean")])


USER_SCHEMA = {
    "schemas": [SCHEMA], "id": USER, "name": "User", "description": "An official",
    "attributes": [
        _attr("userName", required=True, uniqueness="server"),
        _attr("name", "complex", sub=[_attr("formatted"), _attr("familyName"), _attr("givenName"),
                                      _attr("middleName")]),
        _attr("displayName"),
        _attr("title"),
        _attr("active", "boolean"),
        _multi("emails"),
        _multi("phoneNumbers"),
    ],
    "meta": {"resourceType": "Schema", "location": f"/scim/v2/Schemas/{USER}"},
}
GROUP_SCHEMA = {
    "schemas": [SCHEMA], "id": GROUP, "name": "Group", "description": "A group of officials",
    "attributes": [
        _attr("displayName", required=True),
        _attr("members", "complex", multi=True, sub=[
            _attr("value", mutability="immutable"),
            _attr("$ref", "reference", mutability="immutable", refs=["User"]),
        ]),
    ],
    "meta": {"resourceType": "Schema", "location": f"/scim/v2/Schemas/{GROUP}"},
}


def resource_types(base: str) -> list[dict[str, Any]]:
    return [{"schemas": [RESOURCE_TYPE], "id": name, "name": name, "endpoint": f"/{name}s", "schema": schema,
             "description": description,
             "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{name}"}}
            for name, schema, description in (("User", USER, "Officials"), ("Group", GROUP, "Groups"))]


def service_provider_config(base: str, docs: str) -> dict[str, Any]:
    return {
        "schemas": [SPC], "documentationUri": docs,
        "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 1000}, "changePassword": {"supported": False},
        "sort": {"supported": False}, "etag": {"supported": True},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
                                   "description": "A client_credentials access token with the scim scope"}],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }
