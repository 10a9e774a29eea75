"""Master-key rotation re-seals every secret at rest; signing keys rotate on a schedule; tokens issued
before either rotation keep validating."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jose import jwt
from sqlalchemy import create_engine, delete

from app.admin.master_key import census, reseal
from app.crypto import SecretBox, generate_master_key
from app.directory.sources import parse_config
from app.identity.service import find_official
from app.mfa import totp
from app.settings import Settings
from app.store.models import SigningKey
from tests.kit import Flow, Kit, jose_verify


@pytest.fixture
def own_signing_keys(database_url: str) -> Iterator[None]:
    """These tests re-seal or add signing keys: start from none and leave none, for the tests after."""
    engine = create_engine(database_url)

    def wipe() -> None:
        with engine.begin() as conn:
            conn.execute(delete(SigningKey))

    wipe()
    yield
    wipe()
    engine.dispose()


def enrol_totp(kit: Kit, username: str = "hieund") -> str:
    with kit.broker.db.session() as s:
        official = find_official(s, username)
        assert official is not None
        secret, _ = kit.broker.factors.totp_begin(s, official)
        kit.broker.factors.totp_confirm(s, official.id, totp.code_at(secret, int(time.time() // 30)))
    return secret


def test_rotate_master_with_a_key_file(database_url: str, tmp_path: Path, own_signing_keys: None,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    settings = Settings(database_url=database_url, issuer="https://sso.test", data_dir=tmp_path,
                        client_cache_ttl=0)
    kit = Kit(settings)
    kit.official()
    client = kit.client(first_party=True)
    tokens = kit.tokens(Flow(client))
    kit.official("lanpt", display_name="Phạm Thị Lan")
    enrol_totp(kit, "lanpt")
    with kit.broker.db.session() as s:
        kit.broker.directories.save(s, parse_config({"name": "bacgiang", "urls": ["ldap://127.0.0.1:9"],
                                                     "bind_dn": "cn=svc", "people_base": "dc=x"}), "bind-secret")
    saml_metadata = kit.http.get("/saml/metadata").text  # makes the SAML IdP's sealed key
    with kit.broker.db.session() as s:  # an upstream provider with a secret, and one with our private key
        kit.broker.upstream_providers.save(s, {"name": "vneid", "issuer": "https://vneid.example.vn",
                                               "client_id": "c", "display_name": "VNeID"}, "upstream-secret")
        _, public_jwk = kit.broker.upstream_providers.save(
            s, {"name": "moha", "issuer": "https://moha.example.vn", "client_id": "c", "display_name": "Bộ Nội vụ",
                "client_auth": "private_key_jwt"}, None)
    old_id = kit.broker.box.key_id
    key_file = tmp_path / "master.key"
    old_key = key_file.read_text().strip()

    for name, value in (("SSO_DATABASE_URL", database_url), ("SSO_DATA_DIR", str(tmp_path)),
                        ("SSO_ISSUER", "https://sso.test")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SSO_MASTER_KEY", raising=False)
    assert main(["secrets", "rotate-master"]) == 0
    out = capsys.readouterr().out
    assert "signing_keys: 2 re-sealed" in out and "mfa_totp: 1 re-sealed" in out
    assert "installation_settings: 1 re-sealed" in out
    assert "identity_providers.client_secret_sealed: 1 re-sealed" in out
    assert "identity_providers.private_key_sealed: 1 re-sealed" in out
    new_key = key_file.read_text().strip()
    assert new_key != old_key and (tmp_path / "master.key.previous").read_text().strip() == old_key
    new_id = SecretBox(new_key).key_id
    assert all(set(counts) <= {new_id} for counts in census(kit.broker.db).values())
    assert main(["secrets", "rotate-master", "--json"]) == 0  # again: a new key, nothing left behind
    capsys.readouterr()

    # Only the newest key now: everything opens, and a token from before still validates.
    (tmp_path / "master.key.previous").unlink()
    after = Kit(settings)
    assert after.broker.box.key_id not in (old_id, new_id)
    claims = jose_verify(after, tokens["id_token"], client.client_id)
    assert claims["sub"]
    with after.broker.db.session() as s:
        assert after.broker.directories.client(s, "bacgiang") is not None
        official = find_official(s, "lanpt")
        assert after.broker.factors.factors(s, official.id).totp
    assert after.http.get("/saml/metadata").text == saml_metadata  # the SAML key opens: same certificate
    with after.broker.db.session() as s:
        assert after.broker.upstream_providers.relying_party(s, "vneid").client_secret == "upstream-secret"
        assert after.broker.upstream_providers.public_key(s, "moha") == public_jwk
    fresh = after.tokens(Flow(client))
    assert jose_verify(after, fresh["access_token"], client.client_id)
    for k in (kit, after):
        k.http.close()
        k.broker.db.dispose()


def test_reseal_under_the_environment_key_keeps_the_old_key_readable_until_done(
        kit: Kit, own_signing_keys: None) -> None:
    kit.official()
    kit.broker.keys.ensure()
    enrol_totp(kit)
    new = generate_master_key()
    box = SecretBox(new, [kit.settings.master_key])  # SSO_MASTER_KEY=new, SSO_MASTER_KEY_PREVIOUS=[old]
    report = reseal(kit.broker.db, box)
    assert report.resealed["signing_keys"] == 2 and report.resealed["mfa_totp"] == 1
    assert reseal(kit.broker.db, box).resealed == {t: 0 for t in report.resealed}  # idempotent
    with pytest.raises(Exception, match="sealed under master key"):
        kit.broker.keys._private.clear()
        kit.broker.keys.invalidate()
        kit.broker.keys.ring()  # the old key alone no longer opens anything


def test_signing_keys_rotate_on_schedule_and_old_tokens_still_validate(kit: Kit, own_signing_keys: None) -> None:
    kit.broker.keys.ensure()
    kit.official()
    client = kit.client(first_party=True)
    before = kit.tokens(Flow(client))
    assert kit.broker.keys.rotate_due(max_age=86400, publish_ahead=0) == []  # keys are fresh: nothing due
    time.sleep(1.1)
    rotated = kit.broker.keys.rotate_due(max_age=1, publish_ahead=0)
    assert {r.alg for r in rotated} == {"RS256", "ES256"}
    kit.broker.keys.invalidate()
    after = kit.tokens(Flow(client))
    assert jose_verify(kit, before["id_token"], client.client_id)["sub"]  # the old key is still published
    new_header_kid = jwt.get_unverified_header(after["id_token"])["kid"]
    assert new_header_kid in {r.kid for r in rotated}
