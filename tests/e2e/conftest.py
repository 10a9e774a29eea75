"""A live broker (uvicorn in a subprocess) on each database, for relying parties that speak real HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.broker import Broker
from app.settings import Settings

NODE_DIR = Path(__file__).parent / "node"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveBroker:
    issuer: str
    settings: Settings
    broker: Broker
    log: Path


def start_server(env: dict[str, str], port: int, log: Path, workers: int = 1,
                 log_level: str = "warning") -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", log_level],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    # Ready, not merely alive: a loaded CI machine may take long to import and migrate-check; the bound is
    # generous because a broker that exits is reported at once anyway.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"broker was not ready within 180 s: {log.read_text()[-2000:]}")


def _serve_broker(database_url: str, master_key: str, data_dir: Path, host: str) -> Iterator[LiveBroker]:
    port = free_port()
    issuer = f"http://{host}:{port}"
    env = {**os.environ, "SSO_DATABASE_URL": database_url, "SSO_MASTER_KEY": master_key,
           "SSO_DATA_DIR": str(data_dir), "SSO_ISSUER": issuer, "SSO_CLIENT_CACHE_TTL": "0",
           "SSO_RATE_LIMIT_AUTH_PER_MINUTE": "100000", "SSO_CAS_ALLOW_HTTP_PROXY_CALLBACKS": "true",
           "SSO_UPSTREAM_ALLOW_HTTP_LOOPBACK": "true"}
    log = data_dir / "broker.log"
    proc = start_server(env, port, log)
    settings = Settings(database_url=database_url, master_key=master_key, issuer=issuer, data_dir=data_dir,
                        client_cache_ttl=0)
    broker = Broker(settings)
    yield LiveBroker(issuer, settings, broker, log)
    broker.db.dispose()
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_broker(database_url: str, master_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    yield from _serve_broker(database_url, master_key, tmp_path_factory.mktemp("live"), "127.0.0.1")


@pytest.fixture(scope="session")
def node_rp() -> Path:
    script = NODE_DIR / "rp_check.mjs"
    if not (NODE_DIR / "node_modules" / "openid-client").is_dir():
        raise RuntimeError(f"npm packages missing: run `npm install` in {NODE_DIR} (the test command does)")
    return script


@pytest.fixture(scope="module")
def localhost_broker(database_url: str, master_key: str, tmp_path_factory: pytest.TempPathFactory,
                     ) -> Iterator[LiveBroker]:
    """Served as http://localhost:PORT: WebAuthn needs a secure context and a domain name as its RP ID."""
    yield from _serve_broker(database_url, master_key, tmp_path_factory.mktemp("browser"), "localhost")


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is missing: the test command installs it (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, localhost_broker: LiveBroker):  # type: ignore[no-untyped-def]
    context = chromium.new_context(locale="vi-VN", base_url=localhost_broker.issuer)
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab
    context.close()
