"""Fixtures: every database test runs on SQLite and on PostgreSQL (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import create_engine, text

from app import installation as _installation  # noqa: F401
from app.admin import models as _admin_models  # noqa: F401
from app.audit import models as _audit_models  # noqa: F401
from app.auth import models as _auth_models  # noqa: F401
from app.crypto import generate_master_key
from app.db import Base
from app.mfa import models as _mfa_models  # noqa: F401
from app.migrate import upgrade
from app.provisioning import models as _provisioning_models  # noqa: F401
from app.settings import Settings
from app.upstream import models as _upstream_models  # noqa: F401
from tests.directory_kit import Slapd, generate
from tests.kit import Kit

PG_ADMIN_URL = os.environ.get("SSO_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("SSO_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
ISSUER = "https://sso.test"
KEEP = {"alembic_version", "signing_keys"}


def _pg_database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database of each backend, shared by the tests of a session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'broker.db'}"
        upgrade(url)
        yield url
        return
    name = f"sso_test_{uuid.uuid4().hex[:10]}"
    url = _pg_database(name)
    upgrade(url)
    yield url
    _drop_pg(name)


@pytest.fixture(scope="session")
def master_key() -> str:
    return generate_master_key()


@pytest.fixture
def settings(database_url: str, master_key: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, master_key=master_key, issuer=ISSUER, data_dir=tmp_path,
                    client_cache_ttl=0, rate_limit_auth_per_minute=100000)


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table after a database test; signing keys stay (RSA generation is slow)."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    engine = create_engine(url)
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in KEEP]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def kit(settings: Settings) -> Iterator[Kit]:
    k = Kit(settings)
    yield k
    k.http.close()
    k.broker.db.dispose()


@pytest.fixture(scope="session")
def slapd_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Slapd]]:
    """Two province directories (Bắc Giang and the Bắc Ninh it merged into), with overlapping usernames."""
    from tests.e2e.conftest import free_port

    base = tmp_path_factory.mktemp("ldap")
    servers = {
        "bacgiang": Slapd("bacgiang", "dc=bacgiang,dc=gov,dc=vn", free_port(), base / "bg",
                          generate(base, "bacgiang", 300), ldaps_port=free_port()),
        "bacninh": Slapd("bacninh", "dc=bacninh,dc=gov,dc=vn", free_port(), base / "bn",
                         generate(base, "bacninh", 200)),
    }
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def directories(slapd_servers: dict[str, Slapd]) -> dict[str, Slapd]:
    """Both directories as loaded from their LDIF: reloaded only when an earlier test changed one."""
    for server in slapd_servers.values():
        if server.dirty:
            server.start()
    return slapd_servers


SCIM_TOKEN = "scim-test-token"


def start_scim2_server(log: Path, token: str = SCIM_TOKEN) -> tuple[subprocess.Popen[bytes], str]:
    """A real SCIM 2.0 server (scim2-server) on a free loopback port, ready when this returns."""
    from tests.e2e.conftest import free_port

    port = free_port()
    binary = Path(sys.executable).parent / "scim2-server"
    proc = subprocess.Popen([str(binary), "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", token],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/Users", headers={"Authorization": f"Bearer {token}"}, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


@pytest.fixture
def scim_server(tmp_path: Path) -> Iterator[str]:
    proc, url = start_scim2_server(tmp_path / "scim.log")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


class _Receiver(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append(parse_qs(body)["logout_token"][0])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A relying party's back-channel logout endpoint, listening on loopback."""
    received: list[str] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/backchannel", received
    server.shutdown()


class Outbox:
    """Mail received by a real SMTP server (aiosmtpd) on loopback."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []  # (to, body)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        import email

        message = email.message_from_bytes(envelope.content)  # type: ignore[attr-defined]
        body = message.get_payload(decode=True).decode()
        for to in envelope.rcpt_tos:  # type: ignore[attr-defined]
            self.messages.append((to, body))
        return "250 OK"


@pytest.fixture
def smtp_outbox() -> Iterator[tuple[int, Outbox]]:
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outbox = Outbox()
    controller = Controller(outbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, outbox
    controller.stop()
