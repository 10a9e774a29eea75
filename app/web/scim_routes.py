"""/scim/v2: discovery, Users and Groups. A client_credentials token with the `scim` scope, issued to a
client registered with a unit (`scim_unit_id`), reads and writes that unit's subtree only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from app.scim import schemas
from app.scim.filters import InvalidFilter, parse
from app.scim.patch import PatchError, apply
from app.scim.service import ScimDirectory, ScimError
from app.store.models import Client
from app.web.common import broker_of, client_ip

router = APIRouter(prefix="/scim/v2", tags=["scim"])
ALWAYS = {"schemas", "id", "meta"}


def error(status: int, detail: str, scim_type: str | None = None) -> JSONResponse:
    return JSONResponse(schemas.error_body(status, detail, scim_type), status_code=status,
                        media_type=schemas.MEDIA_TYPE)


def ok(body: Any, status: int = 200, version: str | None = None) -> JSONResponse:
    headers = {"ETag": version} if version else None
    return JSONResponse(body, status_code=status, media_type=schemas.MEDIA_TYPE, headers=headers)


def base_url(request: Request) -> str:
    return f"{broker_of(request).issuer}/scim/v2"


async def _call(request: Request, work: Callable[[ScimDirectory], Response]) -> Response:
    broker = broker_of(request)
    auth = request.headers.get("authorization", "")

    def run() -> Response:
        with broker.db.session() as s:
            claims = broker.provider(s).read_access_token(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
            if not claims or "scim" not in str(claims.get("scope", "")).split():
                return error(401, "send a client_credentials access token with the scim scope")
            client = s.get(Client, str(claims.get("client_id")))
            if client is None or not client.enabled or not client.scim_unit_id:
                return error(403, "this client is not allowed to provision through SCIM (no unit assigned)")
            try:
                return work(ScimDirectory(s, client.client_id, client.scim_unit_id, base_url(request),
                                          client_ip(request)))
            except ScimError as exc:
                s.rollback()
                return error(exc.status, exc.detail, exc.scim_type)

    return await run_in_threadpool(run)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except ValueError as exc:
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from exc
    if not isinstance(data, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    return data


def project(resource: dict[str, Any], request: Request) -> dict[str, Any]:
    """attributes= / excludedAttributes= (RFC 7644 §3.4.2.5)."""
    wanted = [a.strip() for a in request.query_params.get("attributes", "").split(",") if a.strip()]
    excluded = [a.strip() for a in request.query_params.get("excludedAttributes", "").split(",") if a.strip()]

    def top(name: str) -> str:
        return name.rsplit(":", 1)[-1].split(".")[0].lower()

    if wanted:
        keep = {top(a) for a in wanted} | ALWAYS
        resource = {k: v for k, v in resource.items() if k.lower() in keep}
    if excluded:
        drop = {top(a) for a in excluded} - ALWAYS
        resource = {k: v for k, v in resource.items() if k.lower() not in drop}
    return resource


PINNED = re.compile(r'^\s*(userName|externalId)\s+eq\s+"([^"\\]*)"\s*$', re.IGNORECASE)


def pinned(text: str) -> tuple[str, str] | None:
    """The lookup a provisioning client makes before each write (`userName eq "x"`), for SQL to narrow;
    the filter itself is still applied to what comes back, so the answer is the same."""
    match = PINNED.match(text)
    return (match.group(1).lower(), match.group(2)) if match else None


def list_response(request: Request, resources: list[dict[str, Any]]) -> Response:
    params = request.query_params
    try:
        predicate = parse(params["filter"]) if params.get("filter") else None
        start = max(1, int(params.get("startIndex", "1")))
        count = max(0, min(1000, int(params.get("count", "100"))))
    except InvalidFilter as exc:
        return error(400, f"filter: {exc}", "invalidFilter")
    except ValueError:
        return error(400, "startIndex and count must be integers", "invalidValue")
    matched = [r for r in resources if predicate is None or predicate(r)]
    page = matched[start - 1:start - 1 + count]
    return ok({"schemas": [schemas.LIST], "totalResults": len(matched), "startIndex": start,
               "itemsPerPage": len(page), "Resources": [project(r, request) for r in page]})


def check_etag(request: Request, version: str) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted.strip() != "*" and wanted.strip() != version:
        raise ScimError(412, "the resource changed since you read it (If-Match)")


# --- discovery -------------------------------------------------------------------------------------------
@router.get("/ServiceProviderConfig")
async def service_provider_config(request: Request) -> Response:
    return ok(schemas.service_provider_config(base_url(request), f"{broker_of(request).issuer}/docs/scim"))


@router.get("/ResourceTypes")
async def resource_types(request: Request) -> Response:
    items = schemas.resource_types(base_url(request))
    return ok({"schemas": [schemas.LIST], "totalResults": len(items), "startIndex": 1, "itemsPerPage": len(items),
               "Resources": items})


@router.get("/ResourceTypes/{name}")
async def resource_type(request: Request, name: str) -> Response:
    found = [r for r in schemas.resource_types(base_url(request)) if r["id"] == name]
    return ok(found[0]) if found else error(404, f"no resource type {name}")


@router.get("/Schemas")
async def all_schemas(request: Request) -> Response:
    items = [schemas.USER_SCHEMA, schemas.GROUP_SCHEMA]
    return ok({"schemas": [schemas.LIST], "totalResults": 2, "startIndex": 1, "itemsPerPage": 2, "Resources": items})


@router.get("/Schemas/{schema_id}")
async def one_schema(request: Request, schema_id: str) -> Response:
    found = [s for s in (schemas.USER_SCHEMA, schemas.GROUP_SCHEMA) if s["id"] == schema_id]
    return ok(found[0]) if found else error(404, f"no schema {schema_id}")


@router.post("/.search")
async def search_everything(request: Request) -> Response:
    """Query by POST at the root (RFC 7644 §3.4.3): Users and Groups together."""
    return await _search(request, None)


@router.post("/{resource_type}/.search")
async def search(request: Request, resource_type: str) -> Response:
    """Query by POST (RFC 7644 §3.4.3): the same parameters as GET, in the body."""
    if resource_type not in ("Users", "Groups"):
        return error(404, f"no resource type {resource_type}")
    return await _search(request, resource_type)


async def _search(request: Request, resource_type: str | None) -> Response:
    data = await body_of(request)
    params = {k: str(v) if not isinstance(v, list) else ",".join(map(str, v)) for k, v in data.items()
              if k in ("filter", "startIndex", "count", "attributes", "excludedAttributes")}
    request.scope["query_string"] = urlencode(params).encode()
    request._query_params = QueryParams(request.scope["query_string"])  # re-read from the body's values

    def everything(d: ScimDirectory) -> list[dict[str, Any]]:
        users = [d.user_resource(o) for o in d.users()] if resource_type in (None, "Users") else []
        return users + ([d.group_resource(g) for g in d.groups()] if resource_type in (None, "Groups") else [])

    return await _call(request, lambda d: list_response(request, everything(d)))


# --- Users and Groups: one set of routes, the differences in a descriptor -----------------------------
@dataclass(frozen=True)
class Kind:
    schema: str
    listed: Callable[[ScimDirectory, tuple[str, str] | None], list[Any]]
    one: Callable[[ScimDirectory, str], Any]
    resource: Callable[[ScimDirectory, Any], dict[str, Any]]
    create: Callable[[ScimDirectory, dict[str, Any]], Any]
    replace: Callable[[ScimDirectory, Any, dict[str, Any]], Any]
    delete: Callable[[ScimDirectory, Any], None]


KINDS = {
    "Users": Kind(schemas.USER, ScimDirectory.users, ScimDirectory.user, ScimDirectory.user_resource,
                  ScimDirectory.create_user, ScimDirectory.replace_user, ScimDirectory.delete_user),
    "Groups": Kind(schemas.GROUP, ScimDirectory.groups, ScimDirectory.group, ScimDirectory.group_resource,
                   ScimDirectory.create_group, ScimDirectory.replace_group, ScimDirectory.delete_group),
}
DISCOVERY = ("ServiceProviderConfig", "ResourceTypes", "Schemas")


def kind_of(request: Request, kind_name: str) -> Kind:
    """Dependency: the resource kind a path names (Users or Groups), or the SCIM error that says why not."""
    if kind_name in KINDS:
        return KINDS[kind_name]
    if kind_name in DISCOVERY:
        raise ScimError(405, f"{request.method} is not allowed on /scim/v2/{kind_name}")
    raise ScimError(404, f"/scim/v2/{kind_name} is not a SCIM endpoint here")


async def body_of(request: Request) -> dict[str, Any]:
    """Dependency: the request's JSON object (a SCIM error otherwise)."""
    return await _body(request)


@router.get("/{kind_name}")
async def list_resources(request: Request, kind: Kind = Depends(kind_of)) -> Response:
    narrow = pinned(request.query_params.get("filter", ""))
    return await _call(request, lambda d: list_response(request, [kind.resource(d, x)
                                                                  for x in kind.listed(d, narrow)]))


@router.post("/{kind_name}")
async def create_resource(request: Request, kind: Kind = Depends(kind_of),
                          data: dict[str, Any] = Depends(body_of)) -> Response:

    def work(d: ScimDirectory) -> Response:
        resource = kind.resource(d, kind.create(d, data))
        return ok(resource, 201, resource["meta"]["version"])
    return await _call(request, work)


@router.get("/{kind_name}/{resource_id}")
async def get_resource(request: Request, resource_id: str, kind: Kind = Depends(kind_of)) -> Response:

    def work(d: ScimDirectory) -> Response:
        resource = kind.resource(d, kind.one(d, resource_id))
        return ok(project(resource, request), version=resource["meta"]["version"])
    return await _call(request, work)


@router.put("/{kind_name}/{resource_id}")
@router.patch("/{kind_name}/{resource_id}")
async def change_resource(request: Request, resource_id: str, kind: Kind = Depends(kind_of),
                          data: dict[str, Any] = Depends(body_of)) -> Response:
    """PUT replaces; PATCH applies its operations to the current resource, then replaces with the result."""

    def work(d: ScimDirectory) -> Response:
        current = kind.one(d, resource_id)
        before = kind.resource(d, current)
        check_etag(request, before["meta"]["version"])
        wanted = _patched(before, data, kind.schema) if request.method == "PATCH" else data
        resource = kind.resource(d, kind.replace(d, current, wanted))
        return ok(resource, version=resource["meta"]["version"])
    return await _call(request, work)


@router.delete("/{kind_name}/{resource_id}")
async def delete_resource(request: Request, resource_id: str, kind: Kind = Depends(kind_of)) -> Response:

    def work(d: ScimDirectory) -> Response:
        current = kind.one(d, resource_id)
        check_etag(request, kind.resource(d, current)["meta"]["version"])
        kind.delete(d, current)
        return Response(status_code=204)
    return await _call(request, work)


@router.api_route("/{anything:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown(request: Request, anything: str) -> Response:
    first = anything.split("/")[0]
    if first in DISCOVERY or first in ("Users", "Groups"):
        return error(405, f"{request.method} is not allowed on /scim/v2/{anything}")
    return error(404, f"/scim/v2/{anything} is not a SCIM endpoint here")


# --- helpers -------------------------------------------------------------------------------------------
def _patched(current: dict[str, Any], data: dict[str, Any], schema: str) -> dict[str, Any]:
    if schemas.PATCH not in (data.get("schemas") or []) or not isinstance(data.get("Operations"), list):
        raise ScimError(400, f"a PATCH body has schemas [{schemas.PATCH}] and a list of Operations", "invalidSyntax")
    try:
        return apply(current, data["Operations"], [schema])
    except PatchError as exc:
        raise ScimError(400, str(exc), exc.scim_type) from exc
