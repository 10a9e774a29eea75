"""One sign-in, four applications that speak four ways, one logout (issue #13): a CAS app (Apache
mod_auth_cas), a SAML app (Apache mod_auth_mellon), an OIDC app (Apache mod_auth_openidc) and an app behind
nginx's auth_request open with one password; one logout at the broker signs the official out of all four,
each checked at the application itself."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.e2e.conftest import LiveBroker, free_port
from tests.e2e.test_relying_parties import PASSWORD, browser_login
from tests.kit import run_cli

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


def _cli_json(live: LiveBroker, *argv: str) -> dict[str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_cli(live.settings, [*argv, "--json"])
    return dict(json.loads(out.getvalue()))


def _start(script: str, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", str(SCRIPTS / script)], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture
def four_apps(live_broker: LiveBroker) -> Iterator[dict[str, str]]:
    issuer = live_broker.issuer
    run_cli(live_broker.settings, ["user", "add", "hieund", "--name", "Nguyễn Đình Hiếu", "--email",
                                   "hieund@bacninh.gov.vn", "--password", PASSWORD])
    cas, saml, oidc, gateway, upstream = (free_port() for _ in range(5))
    envs = {
        "apache-cas": {"APACHE_CAS_DIR": f"/tmp/sso-broker-one-cas-{cas}", "APACHE_CAS_PORT": str(cas),
                       "CAS_LOGIN_URL": f"{issuer}/cas/login", "CAS_VALIDATE_URL": f"{issuer}/cas/p3/serviceValidate"},
        "apache-mellon": {"APACHE_MELLON_DIR": f"/tmp/sso-broker-one-saml-{saml}", "APACHE_MELLON_PORT": str(saml),
                          "IDP_METADATA": f"{issuer}/saml/metadata"},
        "nginx-forward-auth": {"NGINX_FA_DIR": f"/tmp/sso-broker-one-gw-{gateway}", "NGINX_FA_PORT": str(gateway),
                               "NGINX_FA_UPSTREAM_PORT": str(upstream), "AUTH_URL": f"{issuer}/gateway/verify",
                               "LOGIN_URL": f"{issuer}/gateway/start", "CALLBACK_URL": f"{issuer}/gateway/"},
    }
    run_cli(live_broker.settings, ["services", "add", "van-ban", "--prefix", f"http://127.0.0.1:{cas}/protected/"])
    run_cli(live_broker.settings, ["gateway", "add", "ho-so", "--prefix", f"http://127.0.0.1:{gateway}/app/"])
    redirect = f"http://127.0.0.1:{oidc}/protected/redirect_uri"
    client = _cli_json(live_broker, "client", "add", "cong-dvc", "--redirect-uri", redirect, "--first-party",
                       "--backchannel-logout-uri", f"{redirect}?logout=backchannel")
    envs["apache-oidc"] = {"APACHE_OIDC_DIR": f"/tmp/sso-broker-one-oidc-{oidc}", "APACHE_OIDC_PORT": str(oidc),
                           "OIDC_PROVIDER_METADATA_URL": f"{issuer}/.well-known/openid-configuration",
                           "OIDC_CLIENT_ID": "cong-dvc", "OIDC_CLIENT_SECRET": client["client_secret"],
                           "OIDC_REDIRECT_URI": redirect, "OIDC_REMOTE_USER_CLAIM": "preferred_username"}
    for name, env in envs.items():
        _start(f"{name}-start.sh", env)
    run_cli(live_broker.settings, ["saml", "add", "cong-tt", "--metadata",
                                   f"/tmp/sso-broker-one-saml-{saml}/sp/sp-metadata.xml"])
    yield {"cas": f"http://127.0.0.1:{cas}/protected/", "saml": f"http://127.0.0.1:{saml}/protected/",
           "oidc": f"http://127.0.0.1:{oidc}/protected/whoami.html", "gateway": f"http://127.0.0.1:{gateway}/app/"}
    stopping = [subprocess.Popen(["bash", str(SCRIPTS / f"{name}-stop.sh")], env={**os.environ, **env},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, env in envs.items()]
    for stop in stopping:  # at once: each waits for its server's children to end
        stop.wait(timeout=30)


def _signed_out(browser: httpx.Client, url: str, issuer: str) -> bool:
    """The application itself sends the browser to the broker (directly, or through its own login hop)."""
    response = browser.get(url)
    for _ in range(3):
        if response.status_code not in (302, 303):
            return False
        target = urljoin(str(response.url), response.headers["location"])
        if target.startswith(issuer):
            return True
        response = browser.get(target)
    return False


def test_one_sign_in_four_applications_one_logout(four_apps: dict[str, str], live_broker: LiveBroker) -> None:
    issuer = live_broker.issuer
    with httpx.Client(timeout=30) as browser:
        first = browser_login(browser, four_apps["cas"], four_apps["cas"])
        assert "user: hieund" in first.text
        for name in ("saml", "oidc", "gateway"):  # no password again: the session carries them
            page = browser_login(browser, four_apps[name], four_apps[name], password="not-asked-for")
            assert page.status_code == 200, name
        bye = browser.get(f"{issuer}/cas/logout")
        assert bye.status_code == 200
        for frame in re.findall(r'<iframe class="frontchannel" src="([^"]+)"', bye.text):  # as a browser would
            response = browser.get(frame.replace("&amp;", "&"))
            for _ in range(5):
                if response.status_code not in (302, 303):
                    break
                response = browser.get(urljoin(str(response.url), response.headers["location"]))
        for name, url in four_apps.items():
            assert _signed_out(browser, url, issuer), f"{name} still has a session"
