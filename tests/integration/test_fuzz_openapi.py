"""Schemathesis over the OpenAPI description of every JSON API: generated and mutated requests, no 5xx."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.kit import Kit

# Per operation and mode: 15 keeps the default run within its time; SSO_FUZZ_EXAMPLES=200 for a deeper pass.
EXAMPLES = int(os.environ.get("SSO_FUZZ_EXAMPLES", "15"))


def test_no_json_api_answers_with_a_server_error(kit: Kit) -> None:
    kit.official()
    kit.client("fuzz", first_party=True, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", kit.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation, mode in [(op, m) for op in operations for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            response = case.call()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")

        try:
            fuzz()
        except Unsatisfiable:
            continue  # nothing negative to generate for an operation without parameters
    assert failures == []
    assert sum(statuses.values()) >= 250 and any(400 <= code < 500 for code in statuses), statuses


def test_the_schema_lists_every_json_api(kit: Kit) -> None:
    paths = set(kit.http.get("/openapi.json").json()["paths"])
    assert {"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/userinfo", "/account/api/password",
            "/login/passkey/options", "/readyz", "/metrics"} <= paths
    assert "/login" not in paths and "/account" not in paths  # browser pages are not APIs
