"""A real nginx with `auth_request` in front of a small app, asking the live broker on every request."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.e2e.conftest import LiveBroker, free_port
from tests.e2e.test_relying_parties import PASSWORD, browser_login
from tests.kit import form_fields, run_cli

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


@pytest.fixture
def nginx(live_broker: LiveBroker, tmp_path: Path) -> Iterator[str]:
    for name, display, group in (("hieund", "Nguyễn Đình Hiếu", "cb-so-ttt"), ("maitt", "Trần Thị Mai", "cb-khac")):
        run_cli(live_broker.settings, ["user", "add", name, "--name", display, "--email", f"{name}@bacninh.gov.vn",
                                       "--group", group, "--password", PASSWORD])
    port, upstream = free_port(), free_port()
    run_cli(live_broker.settings, ["gateway", "add", "hoso", "--name", "Hồ sơ", "--prefix",
                                   f"http://127.0.0.1:{port}/app/", "--group", "cb-so-ttt"])
    env = {**os.environ, "NGINX_FA_DIR": str(tmp_path / "nginx"), "NGINX_FA_PORT": str(port),
           "NGINX_FA_UPSTREAM_PORT": str(upstream), "AUTH_URL": f"{live_broker.issuer}/gateway/verify",
           "LOGIN_URL": f"{live_broker.issuer}/gateway/start", "CALLBACK_URL": f"{live_broker.issuer}/gateway/"}
    done = subprocess.run(["bash", str(SCRIPTS / "nginx-forward-auth-start.sh")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    yield f"http://127.0.0.1:{port}"
    subprocess.run(["bash", str(SCRIPTS / "nginx-forward-auth-stop.sh")], env=env, capture_output=True, timeout=30)


def test_nginx_auth_request_gives_the_app_the_official_and_refuses_other_groups(
        nginx: str, live_broker: LiveBroker) -> None:
    page = f"{nginx}/app/ho-so?x=1&y=2"
    with httpx.Client(timeout=30) as browser:
        answer = browser_login(browser, page, f"{nginx}/app/")
        echoed = json.loads(answer.text)
        assert echoed["path"] == "/app/ho-so?x=1&y=2"  # back where it started, query whole
        headers = {k.lower(): v for k, v in echoed["headers"].items()}
        assert headers["x-remote-user"] == "hieund" and unquote(headers["x-remote-name"]) == "Nguyễn Đình Hiếu"
        spoofed = browser.get(page, headers={"X-Remote-User": "admin"}).json()["headers"]
        assert {k.lower(): v for k, v in spoofed.items()}["x-remote-user"] == "hieund"  # the proxy replaces it
        browser.get(f"{live_broker.issuer}/cas/logout")  # one logout, from any side
        again = browser.get(page)
        assert again.status_code == 302 and again.headers["location"].startswith(f"{live_broker.issuer}/gateway/start")
    with httpx.Client(timeout=30) as other:
        refused = other.get(page)
        for _ in range(10):
            if refused.status_code in (302, 303):
                refused = other.get(httpx.URL(str(refused.url)).join(refused.headers["location"]))
            elif 'name="password"' in refused.text:
                refused = other.post(f"{live_broker.issuer}/login", data={
                    **form_fields(refused.text), "username": "maitt", "password": PASSWORD})
            else:
                break
        assert refused.status_code == 403  # signed in, but not of a group the app admits
