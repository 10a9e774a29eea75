"""Discovery, JWKS, signing-key rotation and encryption of keys at rest."""

from __future__ import annotations

import time

from sqlalchemy import delete, select

from app.store.models import SigningKey
from tests.kit import Flow, Kit, jose_verify


def test_discovery_document(kit: Kit) -> None:
    doc = kit.http.get("/.well-known/openid-configuration").json()
    issuer = kit.settings.issuer
    assert doc["issuer"] == issuer and doc["jwks_uri"] == f"{issuer}/oauth2/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["backchannel_logout_supported"] and doc["end_session_endpoint"] == f"{issuer}/oauth2/logout"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert {"openid", "profile", "email", "phone", "offline_access"} <= set(doc["scopes_supported"])


def test_jwks_publishes_public_keys_only(kit: Kit) -> None:
    keys = kit.http.get("/oauth2/jwks").json()["keys"]
    assert {k["alg"] for k in keys} >= {"RS256", "ES256"}
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private material in the JWKS"


def test_private_keys_are_sealed_at_rest(kit: Kit) -> None:
    with kit.broker.db.session() as s:
        rows = s.scalars(select(SigningKey)).all()
        assert rows
        for row in rows:
            assert row.private_jwk_sealed.startswith("v1.") and '"d"' not in row.private_jwk_sealed


def _restore_keys(kit: Kit) -> None:
    with kit.broker.db.session() as s:
        s.execute(delete(SigningKey))
    kit.broker.keys.invalidate()
    kit.broker.keys.ensure()


def test_rotation_publishes_before_signing_and_keeps_the_old_key(kit: Kit) -> None:
    kit.official()
    client = kit.client(first_party=True)
    try:
        before = kit.tokens(Flow(client))
        from jose import jwt as jose_jwt

        old_kid = jose_jwt.get_unverified_header(before["id_token"])["kid"]
        result = kit.broker.keys.rotate("RS256", immediately=False, publish_ahead=3600)
        published = {k["kid"] for k in kit.http.get("/oauth2/jwks").json()["keys"]}
        assert result.kid in published and old_kid in published
        during = kit.tokens(Flow(client), prompt="login")

        assert jose_jwt.get_unverified_header(during["id_token"])["kid"] == old_kid  # not signing yet
        now_result = kit.broker.keys.rotate("RS256", immediately=True)
        time.sleep(max(0.0, now_result.active_from - time.time()) + 0.01)
        after = kit.tokens(Flow(client), prompt="login")
        assert jose_jwt.get_unverified_header(after["id_token"])["kid"] == now_result.kid
        # tokens signed before the rotation still verify
        assert jose_verify(kit, before["id_token"], "app")["sub"]
        assert now_result.previous_retire_after and now_result.previous_retire_after > time.time()
    finally:
        _restore_keys(kit)


def test_wrong_master_key_is_a_clear_error(kit: Kit, settings) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from app.crypto import MasterKeyError, generate_master_key
    from app.main import create_app

    with pytest.raises(MasterKeyError, match="master key"):
        create_app(settings.model_copy(update={"master_key": generate_master_key()}))
