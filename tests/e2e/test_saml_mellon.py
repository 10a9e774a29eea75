"""A real SAML service provider, Apache mod_auth_mellon (lasso), signing in through the live broker."""

from __future__ import annotations

import os
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


@pytest.fixture(params=[[], ["--no-sign-response"], ["--encrypt-assertions"]],
                ids=["response-and-assertion-signed", "assertion-signed", "assertion-encrypted"])
def mellon(live_broker: LiveBroker, request: pytest.FixtureRequest) -> Iterator[str]:
    run_cli(live_broker.settings, ["user", "add", "hieund", "--name", "Nguyễn Đình Hiếu", "--email",
                                   "hieund@bacninh.gov.vn", "--password", PASSWORD])
    port = free_port()
    directory = f"/tmp/sso-broker-mellon-{port}"  # Apache's workers (www-data) must reach it
    env = {**os.environ, "APACHE_MELLON_DIR": directory, "APACHE_MELLON_PORT": str(port),
           "IDP_METADATA": f"{live_broker.issuer}/saml/metadata", "MELLON_DIAG": os.environ.get("MELLON_DIAG", "0")}
    done = subprocess.run(["bash", str(SCRIPTS / "apache-mellon-start.sh")], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    run_cli(live_broker.settings, ["saml", "add", "mellon", "--name", "Cổng thông tin", "--metadata",
                                   f"{directory}/sp/sp-metadata.xml", "--attribute", "mail",
                                   "--attribute", "displayName", *request.param])
    yield f"http://127.0.0.1:{port}"
    subprocess.run(["bash", str(SCRIPTS / "apache-mellon-stop.sh")], env=env, capture_output=True, timeout=30)


def test_mod_auth_mellon_signs_in_with_a_signed_response_and_its_logout_ends_the_session(
        mellon: str, live_broker: LiveBroker) -> None:
    with httpx.Client(timeout=30) as browser:
        page = browser_login(browser, f"{mellon}/protected/whoami.html", f"{mellon}/protected/")
        assert "MELLON_mail=hieund@bacninh.gov.vn" in page.text
        assert "MELLON_displayName=Nguyễn Đình Hiếu" in page.text
        assert "MELLON_IDP=http://127.0.0.1:" in page.text  # the broker's entity ID
        again = browser.get(f"{mellon}/protected/whoami.html")
        assert again.status_code == 200  # mellon's own session now
        # SP-initiated single logout: mellon's signed LogoutRequest, the broker's signed LogoutResponse
        response = browser.get(f"{mellon}/mellon/logout", params={"ReturnTo": f"{mellon}/"})
        visited: list[str] = []
        while response.status_code in (302, 303) and len(visited) < 6:
            visited.append(response.headers["location"])
            response = browser.get(urljoin(str(response.url), response.headers["location"]))
        assert any(v.startswith(f"{live_broker.issuer}/saml/slo?SAMLRequest=") for v in visited), visited
        assert response.status_code == 200 and str(response.url) == f"{mellon}/"
        assert browser.get(f"{mellon}/protected/whoami.html").status_code in (302, 303)  # mellon's session is gone
        assert 'name="password"' in browser.get(f"{live_broker.issuer}/cas/login").text  # and the broker's
