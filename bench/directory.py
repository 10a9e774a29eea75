"""Directory benchmarks against a real slapd: full sync of 20,000 officials on PostgreSQL and on SQLite, an
incremental pass with no change, one after 100 changes, and complete browser logins per second (authorization
request, login form, LDAP search and bind, code, token exchange) with the broker pinned to one core.

Targets (#16): full sync < 15 s on PostgreSQL and < 30 s on SQLite, incremental with no change < 1 s (after 100
changes: < 2 s), logins >= 150/s per broker core.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from ldap3 import MODIFY_REPLACE
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import report  # noqa: E402
from tests.directory_kit import ADMIN_PW, PASSWORD, Slapd, generate  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
OFFICIALS = int(os.environ.get("BENCH_OFFICIALS", "20000"))
LOGIN_SECONDS = float(os.environ.get("BENCH_LOGIN_SECONDS", "10"))
LOGIN_CONCURRENCY = int(os.environ.get("BENCH_LOGIN_CONCURRENCY", "16"))
PORT, LDAP_PORT = 8711, 3491


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_database(name: str = "sso_bench_dir") -> str:
    """An empty PostgreSQL database of this name (dropped first if a run left it): its SQLAlchemy URL."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def autovacuum_stand_in(url: str, every: float = 15.0) -> Iterator[None]:
    """VACUUM ANALYZE of the database every `every` seconds while the block runs, if the server's autovacuum is
    off (as on this machine; it is on by default and in production). Without it, a queue of 100,000 tasks never
    loses its dead rows nor gets statistics, and every claim walks over all the tasks ever done."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        needed = conn.execute(text("SHOW autovacuum")).scalar_one() == "off"
    stop = threading.Event()

    def vacuum() -> None:
        while not stop.wait(every):
            with engine.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE)"))

    thread = threading.Thread(target=vacuum, daemon=True)
    if needed:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if needed:
            thread.join()
        engine.dispose()


class Browser:
    """A minimal HTTP/1.1 keep-alive client with a cookie jar: httpx costs the load generator more CPU than
    the broker spends per request, and the load generator shares its core with PostgreSQL and slapd."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if body:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        out: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                name, value = name.strip().lower(), value.strip()
                if name == "set-cookie":
                    pair = value.split(";", 1)[0]
                    key, _, val = pair.partition("=")
                    self.cookies[key] = val
                out[name] = value
        payload = await self.reader.readexactly(int(out.get("content-length", "0")))
        return int(status_line.split()[1]), out, payload


async def complete_login(http: Browser, user: str, basic: str, exchange: bool = True) -> int:
    """One browser login as #16 counts it: the authorization request, the login form posted (LDAP search and
    bind), the redirect with a code; then, with `exchange`, the code exchanged at the token endpoint, as the
    application's back end does. Returns 200 when it all worked, else the failing status."""
    import base64
    import hashlib
    import secrets

    http.cookies.clear()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode({"response_type": "code", "client_id": "bench", "scope": "openid profile",
                       "redirect_uri": "https://app.example.gov.vn/cb", "state": "s",
                       "code_challenge": challenge.decode(), "code_challenge_method": "S256"})
    _, _, page = await http.request("GET", f"/oauth2/authorize?{query}")
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.decode()))
    form = urlencode({**fields, "username": f"{user}@bacgiang", "password": PASSWORD}).encode()
    status, headers, _ = await http.request("POST", "/login", form)
    code = parse_qs(urlsplit(headers.get("location", "")).query).get("code", [""])[0]
    if not exchange:
        return 200 if status == 303 and code else status
    token_form = urlencode({"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                            "redirect_uri": "https://app.example.gov.vn/cb"}).encode()
    status, _, _ = await http.request("POST", "/oauth2/token", token_form, {"Authorization": f"Basic {basic}"})
    return status


def basic_auth(client_secret: str) -> str:
    import base64

    return base64.b64encode(f"bench:{client_secret}".encode()).decode()


async def login_load(issuer: str, client_secret: str, usernames: list[str],
                     exchange: bool) -> tuple[int, int, list[float]]:
    """Complete logins as fast as LOGIN_CONCURRENCY browsers can go, for LOGIN_SECONDS."""
    done = failed = 0
    latencies: list[float] = []
    deadline = time.monotonic() + LOGIN_SECONDS
    counter = iter(range(10**9))
    host, port = urlsplit(issuer).hostname or "127.0.0.1", urlsplit(issuer).port or 80
    basic = basic_auth(client_secret)

    async def browser() -> None:
        nonlocal done, failed
        http = Browser(host, port)
        while time.monotonic() < deadline:
            started = time.monotonic()
            if await complete_login(http, usernames[next(counter) % len(usernames)], basic, exchange) == 200:
                done += 1
                latencies.append(time.monotonic() - started)
            else:
                failed += 1

    await asyncio.gather(*(browser() for _ in range(LOGIN_CONCURRENCY)))
    return done, failed, latencies


def timed_full_sync(broker: Any) -> float:
    from app.directory.sync import DirectorySync

    started = time.monotonic()
    summary = DirectorySync(broker.db, broker.directories, "bacgiang").run(full=True)
    elapsed = time.monotonic() - started
    assert summary.created == OFFICIALS, summary
    return elapsed


def sqlite_full_sync(tmp: Path, slapd: Slapd) -> float:
    """The same directory into the embedded default: a fresh SQLite (WAL) file."""
    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.directory.sources import parse_config
    from app.migrate import upgrade
    from app.settings import Settings

    url = f"sqlite:///{tmp}/bench-sync.db"
    upgrade(url)
    broker = Broker(Settings(database_url=url, master_key=generate_master_key(), issuer="http://127.0.0.1:1",
                             data_dir=tmp))
    try:
        with broker.db.session() as s:
            broker.directories.save(s, parse_config(slapd.source_config()), ADMIN_PW)
        return timed_full_sync(broker)
    finally:
        broker.db.dispose()


@dataclass
class Province:
    """A generated province directory in slapd, and a broker database with it as a source and the bench client."""

    tmp: Path
    slapd: Slapd
    url: str
    master: str
    broker: Any
    secret: str


def province(officials: int, ldap_port: int, issuer: str, database: str) -> Province:
    from app.applications.clients import ClientService, ClientSpec
    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.directory.sources import parse_config
    from app.migrate import upgrade
    from app.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-dir-"))
    print(f"generating and loading a directory of {officials} officials ...", flush=True)
    slapd = Slapd("bacgiang", "dc=bacgiang,dc=gov,dc=vn", ldap_port, tmp / "slapd",
                  generate(tmp, "bacgiang", officials))
    slapd.start()
    url = fresh_database(database)
    upgrade(url)
    master = generate_master_key()
    broker = Broker(Settings(database_url=url, master_key=master, issuer=issuer, data_dir=tmp))
    broker.keys.ensure()
    with broker.db.session() as s:
        broker.directories.save(s, parse_config(slapd.source_config()), ADMIN_PW)
        _, secret = ClientService(broker.clients).add(s, ClientSpec(
            client_id="bench", redirect_uris=["https://app.example.gov.vn/cb"], first_party=True))
    return Province(tmp, slapd, url, master, broker, secret or "")


def server_env(place: Province, issuer: str) -> dict[str, str]:
    """The environment of `sso-broker serve` for the province, with lockout and rate limits out of the way."""
    return {**os.environ, "SSO_DATABASE_URL": place.url, "SSO_MASTER_KEY": place.master, "SSO_ISSUER": issuer,
            "SSO_DATA_DIR": str(place.tmp), "SSO_LOCKOUT_IP_FAILURES": "1000000",
            "SSO_RATE_LIMIT_AUTH_PER_MINUTE": "1000000"}


def wait_until_serving(issuer: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{issuer}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> int:
    from app.directory.sync import DirectorySync

    issuer = f"http://127.0.0.1:{PORT}"
    place = province(OFFICIALS, LDAP_PORT, issuer, "sso_bench_dir")
    tmp, slapd, broker, secret = place.tmp, place.slapd, place.broker, place.secret
    results: list[tuple[str, float, str, bool]] = []
    try:
        full_s = timed_full_sync(broker)
        results.append((f"full sync, {OFFICIALS} officials, PostgreSQL", full_s, "s", full_s < 15))
        sqlite_s = sqlite_full_sync(tmp, slapd)
        results.append((f"full sync, {OFFICIALS} officials, SQLite", sqlite_s, "s", sqlite_s < 30))

        time.sleep(1.1)  # past the second the offline load stamped on every entry
        conn = slapd.admin()
        for uid in slapd.uids()[:1]:
            conn.modify(slapd.dn_of(uid), {"title": [(MODIFY_REPLACE, ["Chuyên viên chính"])]})
        DirectorySync(broker.db, broker.directories, "bacgiang").run()
        time.sleep(1.1)
        started = time.monotonic()
        quiet = DirectorySync(broker.db, broker.directories, "bacgiang").run()
        quiet_s = time.monotonic() - started
        assert quiet.moved + quiet.updated + quiet.created + quiet.disabled == 0, quiet
        results.append(("incremental sync, no change", quiet_s, "s", quiet_s < 1))
        text_ldif = slapd.ldif.read_text()
        dns = re.findall(r"^dn: (uid=[^\n]+)$", text_ldif, re.M)[1:101]
        for dn in dns:
            conn.modify(dn, {"title": [(MODIFY_REPLACE, ["Chuyên viên cao cấp"])]})
        conn.unbind()
        started = time.monotonic()
        inc = DirectorySync(broker.db, broker.directories, "bacgiang").run()
        inc_s = time.monotonic() - started
        changed = inc.moved + inc.updated
        assert changed >= 100, inc
        results.append(("incremental sync after 100 changes", inc_s, "s", inc_s < 2))

        server = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "app.cli", "serve", "--port",
                                   str(PORT), "--log-level", "warning"], env=server_env(place, issuer), cwd=ROOT)
        try:
            wait_until_serving(issuer)
            usernames = slapd.uids()[:2000]
            os.sched_setaffinity(0, {1})
            if os.environ.get("BENCH_PROFILE"):
                # BENCH_PROFILE_GIL: only the thread holding the GIL is sampled, which shows CPU, not waiting.
                gil = ["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []
                subprocess.Popen(["py-spy", "record", "-o", os.environ["BENCH_PROFILE"], "-f", "raw", *gil, "-d",
                                  str(int(LOGIN_SECONDS)), "-p", str(server.pid)])
            # First as #16 counts a login (form, bind, redirect with a code: the target), then with each code
            # exchanged at the token endpoint too (bench/token_endpoint.py measures that endpoint on its own).
            for exchange in (False, True):
                cpu_before = process_cpu(server.pid)
                done, failed, latencies = asyncio.run(login_load(issuer, secret or "", usernames, exchange))
                busy = (process_cpu(server.pid) - cpu_before) / LOGIN_SECONDS
                print(f"broker process busy {busy:.0%} of its core during the login run", flush=True)
                rate = done / LOGIN_SECONDS
                latencies.sort()
                p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
                what = "  the same with the code exchanged" if exchange else "complete browser logins"
                met = failed == 0 and (exchange or rate >= 150)  # the target is on #16's login only
                results.append((f"{what} ({failed} failed, p99 {p99:.0f} ms)", rate, "/s", met))
        finally:
            server.terminate()
            server.wait(timeout=20)
    finally:
        slapd.stop()
        broker.db.dispose()
    return report("directory benchmark", results)


if __name__ == "__main__":
    sys.exit(main())
