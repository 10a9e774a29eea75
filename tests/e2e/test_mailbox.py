"""Mailboxes on a real Dovecot: provisioned by the engine, opened with the broker's access token (XOAUTH2 and
OAUTHBEARER through Dovecot's oauth2 passdb at our introspection endpoint), closed when the official leaves."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import imaplib
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from app.applications.clients import ClientService, ClientSpec
from app.identity.service import NewOfficial, add_official
from app.provisioning.engine import ProvisioningEngine, wait_for_tasks
from tests.e2e.conftest import LiveBroker, free_port
from tests.kit import leave

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"
PASSWORD = "Mật-khẩu@2025"
ADDRESS = "hieund@bacninh.gov.vn"


@pytest.fixture
def mail(live_broker: LiveBroker) -> Iterator[dict[str, object]]:
    with live_broker.broker.db.session() as s:
        add_official(s, NewOfficial("hieund", "Nguyễn Đình Hiếu", PASSWORD, ADDRESS, given_name="Hiếu",
                                    family_name="Nguyễn", middle_name="Đình"))
        clients = ClientService(live_broker.broker.clients)
        _, dovecot_secret = clients.add(s, ClientSpec(client_id="dovecot", grant_types=["client_credentials"],
                                                      scopes=["profile"]))
        _, webmail_secret = clients.add(s, ClientSpec(client_id="webmail", first_party=True,
                                                      redirect_uris=["https://mail.bacninh.gov.vn/cb"]))
    port = free_port()
    directory = Path(f"/tmp/sso-broker-dovecot-{port}")  # dovecot's users must reach it, unlike pytest's tmp
    host = urlsplit(live_broker.issuer).netloc
    env = {**os.environ, "DOVECOT_DIR": str(directory), "DOVECOT_PORT": str(port),
           "DOVECOT_INTROSPECTION_URL": f"http://dovecot:{dovecot_secret}@{host}/oauth2/introspect"}
    # Output to a file, not a pipe: the daemon inherits it and would keep a pipe open forever.
    with open(f"{directory}.log", "w") as log:
        subprocess.run(["bash", str(SCRIPTS / "dovecot-start.sh")], env=env, check=True, stdout=log,
                       stderr=subprocess.STDOUT, timeout=120)
    engine = ProvisioningEngine(live_broker.broker.db, live_broker.broker.box)
    with live_broker.broker.db.session() as s:
        engine.save_instance(s, "mail", "dovecot_mailbox", {"users_file": str(directory / "users"),
                                                            "domain": "bacninh.gov.vn"}, {"all": True}, {})
    yield {"port": port, "engine": engine, "users": directory / "users", "webmail_secret": webmail_secret}
    subprocess.run(["bash", str(SCRIPTS / "dovecot-stop.sh")], env=env, capture_output=True, timeout=60)
    subprocess.run(["rm", "-rf", str(directory), f"{directory}.log"], check=False)


def access_token(live: LiveBroker, secret: str) -> str:
    """A real login through the broker's pages, then the code exchange: the token a webmail would hold."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": "webmail", "redirect_uri": "https://mail.bacninh.gov.vn/cb",
                       "scope": "openid email", "state": "s", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    with httpx.Client(timeout=20) as http:
        response = http.get(f"{live.issuer}/oauth2/authorize?{query}")
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text))
        done = http.post(f"{live.issuer}/login", data={**fields, "username": "hieund", "password": PASSWORD})
        code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
        tokens = http.post(f"{live.issuer}/oauth2/token", auth=("webmail", secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": "https://mail.bacninh.gov.vn/cb",
            "code_verifier": verifier}).json()
    return str(tokens["access_token"])


def xoauth2(port: int, user: str, token: str) -> str:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        status, _ = imap.authenticate("XOAUTH2", lambda _: f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
        imap.select("INBOX")
        return str(status)
    except imaplib.IMAP4.error as exc:
        return f"refused: {exc}"
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


def oauthbearer(port: int, user: str, token: str) -> str:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        payload = f"n,a={user},\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {token}\x01\x01"
        return str(imap.authenticate("OAUTHBEARER", lambda _: payload.encode())[0])
    except imaplib.IMAP4.error as exc:
        return f"refused: {exc}"
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


def test_mail_with_a_broker_token_and_no_mail_password(live_broker: LiveBroker, mail: dict[str, object]) -> None:
    port, engine = int(str(mail["port"])), mail["engine"]
    assert isinstance(engine, ProvisioningEngine)
    wait_for_tasks(engine, 30)
    assert f"{ADDRESS}::::::" in Path(str(mail["users"])).read_text()
    token = access_token(live_broker, str(mail["webmail_secret"]))
    assert xoauth2(port, ADDRESS, token) == "OK"
    assert oauthbearer(port, ADDRESS, token) == "OK"
    assert xoauth2(port, ADDRESS, "not-a-token").startswith("refused")
    assert xoauth2(port, "someone.else@bacninh.gov.vn", token).startswith("refused")  # token is hieund's
    imap = imaplib.IMAP4("127.0.0.1", port)
    with pytest.raises(imaplib.IMAP4.error):
        imap.login(ADDRESS, "any-password")  # there is no mail password to steal or to phish
    imap.logout()
    # the official leaves: tokens revoked, mailbox closed (mail kept)
    leave(live_broker.settings, "hieund")
    wait_for_tasks(engine, 30)
    assert f"#disabled#{ADDRESS}::::::" in Path(str(mail["users"])).read_text()
    assert xoauth2(port, ADDRESS, token).startswith("refused")
