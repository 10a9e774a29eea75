"""The generic REST connector against a document-management-style users API served on loopback.

The API is a stand-in written for the test (no such system runs here): users under /api/users, a 409 on a
duplicate, lock/unlock actions, and a switch that makes it answer 503 for a while.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request

from app.provisioning.engine import ProvisioningEngine, RetryPolicy, wait_for_tasks
from connectors.base import Account
from connectors.rest import RestConfig, RestConnector, fill
from tests.asgi_server import serving
from tests.integration.test_provisioning import hire
from tests.kit import Kit, leave


def users_api() -> tuple[FastAPI, dict[str, Any]]:
    state: dict[str, Any] = {"users": {}, "ids": itertools.count(100), "failures": 0, "garbage": 0, "slow": 0,
                             "calls": 0}
    api = FastAPI()

    @api.middleware("http")
    async def outage(request: Request, call_next: Any) -> Any:
        state["calls"] += 1
        if request.headers.get("authorization") != "Bearer dms-token":
            from fastapi.responses import JSONResponse

            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if state["slow"] > 0:  # slower than the connector waits: a timeout
            state["slow"] -= 1
            import asyncio

            await asyncio.sleep(1.5)
        if state["failures"] > 0:
            state["failures"] -= 1
            from fastapi.responses import JSONResponse

            return JSONResponse({"error": "busy"}, status_code=503)
        if state["garbage"] > 0:  # a proxy's error page where JSON was expected
            state["garbage"] -= 1
            from fastapi.responses import HTMLResponse

            return HTMLResponse("<html><body>Gateway maintenance</body></html>", status_code=200)
        return await call_next(request)

    @api.get("/api/users")
    def search(username: str | None = None) -> dict[str, Any]:
        items = [u for u in state["users"].values() if username is None or u["username"] == username]
        return {"items": items}

    @api.post("/api/users", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        body = await request.json()
        if any(u["username"] == body["username"] for u in state["users"].values()):
            raise HTTPException(409, "username taken")
        user = {**body, "id": next(state["ids"]), "active": True}
        state["users"][user["id"]] = user
        return user

    @api.put("/api/users/{user_id}")
    async def replace(user_id: int, request: Request) -> dict[str, Any]:
        if user_id not in state["users"]:
            raise HTTPException(404)
        state["users"][user_id].update(await request.json())
        return state["users"][user_id]

    @api.post("/api/users/{user_id}/{action}")
    def lock(user_id: int, action: str) -> dict[str, Any]:
        state["users"][user_id]["active"] = action == "unlock"
        return state["users"][user_id]

    return api, state


@pytest.fixture
def dms() -> Iterator[tuple[str, dict[str, Any]]]:
    api, state = users_api()
    with serving(api) as url:
        yield url, state


def config(url: str) -> dict[str, Any]:
    return {
        "base_url": url, "headers": {"Authorization": "Bearer dms-token"}, "items_field": "items",
        "attributes": {"full_name": "fullName", "email": "email"},
        "get": {"path": "/api/users?username={key}"},
        "create": {"method": "POST", "path": "/api/users",
                   "body": {"username": "{key}", "fullName": "{full_name}", "email": "{email}"}},
        "update": {"method": "PUT", "path": "/api/users/{id}", "body": {"fullName": "{full_name}", "email": "{email}"}},
        "disable": {"method": "POST", "path": "/api/users/{id}/lock"},
        "enable": {"method": "POST", "path": "/api/users/{id}/unlock"},
        "list": {"path": "/api/users"},
    }


def test_templates_keep_types_and_escape_paths() -> None:
    assert fill({"a": "{n}", "b": "x-{n}", "c": ["{flag}"]}, {"n": 3, "flag": True}) == {"a": 3, "b": "x-3",
                                                                                        "c": [True]}


def test_connector_against_the_api(dms: tuple[str, dict[str, Any]]) -> None:
    url, state = dms
    rest = RestConnector(RestConfig.model_validate(config(url)))
    target_id = rest.create(Account(key="hieund", attributes={"full_name": "Nguyễn Đình Hiếu"}))
    found = rest.get("hieund")
    assert found is not None and found.target_id == target_id and found.attributes["full_name"] == "Nguyễn Đình Hiếu"
    assert rest.get("hieund&username=maitt") is None  # the key is one query value, never two
    rest.disable(target_id)
    assert rest.get("hieund").enabled is False  # type: ignore[union-attr]
    assert [a.key for a in rest.list()] == ["hieund"]


def test_engine_through_rest_with_an_outage(kit: Kit, dms: tuple[str, dict[str, Any]]) -> None:
    url, state = dms
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box, RetryPolicy(max_attempts=6, base_delay=0, max_delay=0))
    with kit.broker.db.session() as s:
        engine.save_instance(s, "mot-cua", "rest", {**config(url), "timeout": 0.5}, {"all": True},
                             {"full_name": "{display_name}", "email": "{email}"})
    state["slow"] = 1  # the target first times out,
    state["failures"] = 3  # then answers 503 three times, then recovers
    state["garbage"] = 2  # ... then an HTML page twice where JSON was expected
    hire(kit, "hieund", "Nguyễn Đình Hiếu", "Hiếu", "Nguyễn", "Đình")
    wait_for_tasks(engine, 30)
    users = list(state["users"].values())
    assert len(users) == 1 and users[0]["username"] == "hieund" and users[0]["fullName"] == "Nguyễn Đình Hiếu"
    leave(kit.settings, "hieund")
    wait_for_tasks(engine, 30)
    assert users[0]["active"] is False
