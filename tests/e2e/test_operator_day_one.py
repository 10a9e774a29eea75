"""Day one for a province, as its operator would do it (issue #11): a fresh PostgreSQL database and only the
public interface (the `sso-broker` command, HTTP and the protocols). No fixture writes a row.

migrate → directory added and synced from a real slapd → first admin → a SCIM target (a real scim2-server)
configured with its token on stdin → a relying party → the worker provisions → an official logs in and gets
tokens → the official is deleted in slapd → the worker's next pass disables the account at the target and the
official's tokens are refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.conftest import SCIM_TOKEN, _drop_pg, _pg_database
from tests.directory_kit import ADMIN_PW, PASSWORD, Slapd
from tests.e2e.conftest import free_port, start_server
from tests.kit import form_fields, pkce_pair

REDIRECT = "https://portal.bacgiang.gov.vn/callback"


class Operator:
    """The person at the server's terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *argv: str, stdin: str = "") -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli", *argv], env=self.env, input=stdin, text=True,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, f"sso-broker {' '.join(argv)}: {done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    def json(self, *argv: str, stdin: str = "") -> Any:
        return json.loads(self.run(*argv, "--json", stdin=stdin))

    def refused(self, *argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli", *argv], env=self.env, text=True, capture_output=True,
                              timeout=120)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done
        return done.stderr


def scim_users(url: str) -> dict[str, dict[str, Any]]:
    reply = httpx.get(f"{url}/Users", params={"count": 1000}, headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
    return {u["userName"]: u for u in reply.json().get("Resources", [])}


def log_in(issuer: str, client_id: str, secret: str, username: str, browser: httpx.Client | None = None,
           scope: str = "openid profile") -> dict[str, Any]:
    """The authorization code flow as a browser and a relying party do it, over real HTTP."""
    verifier, challenge = pkce_pair()
    http = browser or httpx.Client(base_url=issuer, follow_redirects=False, timeout=30)
    try:
        page = http.get("/oauth2/authorize?" + urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
            "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}))
        assert page.status_code == 200 and 'name="password"' in page.text
        answer = http.post("/login", data={**form_fields(page.text), "username": username, "password": PASSWORD})
        assert answer.status_code == 303, answer.text[:300]
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    finally:
        if browser is None:
            http.close()  # a browser handed in stays open: the test goes on with its cookies
    tokens = httpx.post(f"{issuer}/oauth2/token", auth=(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    return dict(tokens.json())


@pytest.fixture
def fresh_database() -> Any:
    name = f"sso_day_one_{os.getpid()}"
    url = _pg_database(name)
    yield url
    _drop_pg(name)


def test_a_province_from_a_fresh_install_to_a_leaver_disabled(
        fresh_database: str, directories: dict[str, Slapd], scim_server: str, tmp_path: Path) -> None:
    bg = directories["bacgiang"]
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    key = subprocess.run([sys.executable, "-m", "app.cli", "secrets", "new-key"], capture_output=True, text=True,
                         check=True).stdout.strip()
    env = {**os.environ, "SSO_DATABASE_URL": fresh_database, "SSO_MASTER_KEY": key, "SSO_DATA_DIR": str(tmp_path),
           "SSO_ISSUER": issuer}
    op = Operator(env)
    op.run("migrate")

    # the central directory
    source = bg.source_config()
    op.refused("directory", "add", "bacgiang", "--url", str(source["urls"][0]),  # type: ignore[index]
               "--bind-dn", str(source["bind_dn"]), "--bind-password", ADMIN_PW, "--people-base",
               str(source["people_base"]), "--ca-file", str(tmp_path / "missing.pem"))
    op.run("directory", "add", "bacgiang", "--url", str(source["urls"][0]),  # type: ignore[index]
           "--bind-dn", str(source["bind_dn"]), "--bind-password-stdin", "--people-base", str(source["people_base"]),
           "--units-base", str(source["units_base"]), "--groups-base", str(source["groups_base"]), stdin=ADMIN_PW)
    assert "ok:" in op.run("directory", "test", "bacgiang")
    synced = op.json("directory", "sync", "bacgiang", "--full")
    assert synced["created"] == len(bg.uids()) and synced["errors"] == 0

    # the first admin
    units = op.json("admin", "units")
    root = next(u for u in units if u["parent_id"] is None)
    first_admin, leaver = bg.uids()[0], bg.uids()[3]
    op.run("admin", "grant", f"{first_admin}@bacgiang", "--role", "province_admin", "--unit", root["code"])
    granted = [(g["official"], g["role"]) for g in op.json("admin", "list")]
    assert granted == [(f"{first_admin}@bacgiang", "province_admin")]

    # a target system, its token on stdin, sealed at rest, never shown
    config = tmp_path / "dao-tao.toml"
    config.write_text(f'base_url = "{scim_server}"\ntimeout = 10\n')
    op.run("connectors", "add", "dao-tao", "--kind", "scim", "--config", str(config), "--secret", "token", "--all",
           "--map", "display_name={display_name}", "--map", "email={email}", "--map", "external_id={sub}",
           stdin=SCIM_TOKEN + "\n")
    shown = op.json("connectors", "show", "dao-tao")
    assert shown["config"]["token"] == "********" and shown["rules"] == {"all": True}
    assert SCIM_TOKEN not in op.run("audit", "export", "--format", "json")
    assert "answers" in op.run("connectors", "test", "dao-tao")

    # a relying party
    client = op.json("client", "add", "portal", "--redirect-uri", REDIRECT, "--first-party")
    helpdesk = Operator({k: v for k, v in env.items() if k != "SSO_ISSUER"})  # a shell without SSO_ISSUER
    assert "not known yet" in helpdesk.refused("user", "reset-link", f"{first_admin}@bacgiang")
    server = start_server(env, port, tmp_path / "broker.log")
    try:
        # the server stored the address it answers at: links from the command line point there
        assert helpdesk.run("user", "reset-link", f"{first_admin}@bacgiang").startswith(f"{issuer}/reset/")
        op.run("worker", "--once")
        accounts = scim_users(scim_server)
        assert len(accounts) == len(bg.uids()) and accounts[leaver]["active"] is True
        tokens = log_in(issuer, "portal", client["client_secret"], f"{leaver}@bacgiang")

        # a machine client, made from the command line while the server runs: a token of its own
        machine = op.json("client", "add", "bao-cao", "--grant-type", "client_credentials", "--scope", "profile")
        issued = httpx.post(f"{issuer}/oauth2/token", auth=("bao-cao", machine["client_secret"]),
                            data={"grant_type": "client_credentials", "scope": "profile"})
        assert issued.status_code == 200, issued.text
        own = httpx.post(f"{issuer}/oauth2/introspect", auth=("bao-cao", machine["client_secret"]),
                         data={"token": issued.json()["access_token"]}).json()
        assert own["active"] is True and own["client_id"] == "bao-cao" and own["scope"] == "profile"

        # another official signs out everywhere on the portal: the offline grant the portal held ends too
        stayer = bg.uids()[5]
        browser = httpx.Client(base_url=issuer, follow_redirects=False, timeout=30)
        offline = log_in(issuer, "portal", client["client_secret"], f"{stayer}@bacgiang", browser,
                         "openid offline_access")
        account = browser.get("/account", headers={"Accept-Language": "en"})
        assert account.status_code == 200 and 'id="offline-grants"' in account.text
        ended = browser.post("/account/sessions/end-all", data={"csrf_token": form_fields(account.text)["csrf_token"]})
        assert ended.status_code == 303 and ended.headers["location"] == "/login"
        browser.close()
        again = httpx.post(f"{issuer}/oauth2/token", auth=("portal", client["client_secret"]),
                           data={"grant_type": "refresh_token", "refresh_token": offline["refresh_token"]})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

        # the official leaves: deleted in the directory
        conn = bg.admin()
        assert conn.delete(bg.dn_of(leaver)), conn.result
        conn.unbind()
        op.run("worker", "--once")
        assert scim_users(scim_server)[leaver]["active"] is False
        seen = httpx.post(f"{issuer}/oauth2/introspect", auth=("portal", client["client_secret"]),
                          data={"token": tokens["access_token"]}).json()
        assert seen == {"active": False}
        refreshed = httpx.post(f"{issuer}/oauth2/token", auth=("portal", client["client_secret"]),
                               data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        assert httpx.get(f"{issuer}/oauth2/userinfo",
                         headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=20)
    trail = op.run("audit", "export", "--format", "json")
    assert '"role.granted"' in trail and '"connector.saved"' in trail and '"directory.saved"' in trail
    assert "audit trail intact" in op.run("audit", "verify")
