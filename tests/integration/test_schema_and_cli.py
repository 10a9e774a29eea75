"""The schema gate and the `sso-broker` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.broker import NotMigrated
from app.cli import main
from app.crypto import generate_master_key
from app.main import create_app
from app.settings import Settings


def test_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", master_key=generate_master_key(),
                        data_dir=tmp_path)
    with pytest.raises(NotMigrated, match="run `sso-broker migrate`"):
        create_app(settings)


@pytest.fixture
def cli_env(database_url: str, master_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSO_DATABASE_URL", database_url)
    monkeypatch.setenv("SSO_MASTER_KEY", master_key)
    monkeypatch.setenv("SSO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SSO_ISSUER", "https://sso.test")
    return tmp_path


def test_client_lifecycle_as_json(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "add", "docs", "--redirect-uri", "https://docs.example.gov.vn/cb",
                 "--first-party", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["client_id"] == "docs" and len(created["client_secret"]) >= 40
    assert created["redirect_uris"] == ["https://docs.example.gov.vn/cb"] and created["issuer"] == "https://sso.test"
    assert main(["client", "rotate-secret", "docs", "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["client_secret"] != created["client_secret"]
    assert main(["client", "list", "--json"]) == 0
    assert [c["client_id"] for c in json.loads(capsys.readouterr().out)] == ["docs"]
    assert main(["client", "remove", "docs"]) == 0
    capsys.readouterr()
    assert main(["client", "remove", "docs"]) == 2
    assert "no client with client_id 'docs'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["client", "add", "xy", "--redirect-uri", "http://evil.example/cb"], "must use https"),
    (["client", "add", "xy", "--redirect-uri", "https://a.example/*"], "wildcards"),
    (["client", "add", "xy"], "redirect_uris: at least one"),
    (["client", "add", "xy", "--auth-method", "private_key_jwt", "--redirect-uri", "https://a.example/cb"], "jwks"),
    (["user", "add", "a b", "--name", "X", "--password", "long-enough-1"], "username"),
    (["user", "add", "hieund", "--name", "X", "--password", "short"], "at least 8"),
    (["user", "disable", "nobody"], "no single official is called"),
])
def test_cli_errors_are_plain_words(cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                    message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_users_and_keys(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "hieund", "--name", "Nguyễn Đình Hiếu", "--password", "Test@12345",
                 "--email", "hieund@bacninh.gov.vn", "--json"]) == 0
    user = json.loads(capsys.readouterr().out)
    assert user["username"] == "hieund" and user["name"] == "Nguyễn Đình Hiếu"
    assert main(["user", "add", "HIEUND", "--name", "X", "--password", "Test@12345"]) == 2
    assert "already taken" in capsys.readouterr().err
    assert main(["user", "disable", "hieund"]) == 0
    assert main(["user", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.split("\n", 1)[1])[0]["enabled"] is False
    assert main(["keys", "rotate", "--alg", "ES256", "--now"]) == 0  # a key that signs, also when run alone
    capsys.readouterr()
    assert main(["keys", "rotate", "--alg", "ES256", "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated[0]["alg"] == "ES256" and rotated[0]["previous_kid"]
    from sqlalchemy import create_engine, delete

    from app.store.models import SigningKey

    engine = create_engine(os.environ["SSO_DATABASE_URL"].replace("postgresql+psycopg", "postgresql+psycopg"))
    with engine.begin() as conn:  # restore one key per algorithm for the tests that follow
        conn.execute(delete(SigningKey))
    engine.dispose()
    assert main(["migrate"]) == 0


def test_unmigrated_database_from_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "SSO_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SSO_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "app.cli", "client", "list"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "run `sso-broker migrate`" in result.stderr and "Traceback" not in result.stderr


def test_invalid_settings_are_named(tmp_path: Path) -> None:
    env = {**os.environ, "SSO_ACCESS_TOKEN_TTL": "soon", "SSO_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "app.cli", "client", "list"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "SSO_ACCESS_TOKEN_TTL" in result.stderr


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: sso-broker" in result.stdout  # the installed entry point itself
    for argv in (["serve", "--help"], ["demo", "--help"], ["client", "add", "--help"], ["user", "add", "--help"],
                 ["keys", "rotate", "--help"], ["migrate", "--help"], ["services", "import", "--help"],
                 ["saml", "add", "--help"], ["gateway", "add", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0 and "usage: sso-broker" in capsys.readouterr().out, argv
