"""Protocols side by side (issue #13): per broker core, how many complete single sign-ons of an already
signed-in official each protocol does, and the ratio against the OIDC authorization-code grant.

- OIDC: GET /oauth2/authorize (SSO cookie) -> code; POST /oauth2/token -> tokens (ES256 ID token).
- CAS: GET /cas/login?service (SSO cookie) -> ticket; GET /cas/p3/serviceValidate -> attributes.
- SAML: GET /saml/sso with a fresh AuthnRequest (HTTP-Redirect) -> a Response with the assertion and the
  message signed (RSA-2048, exclusive c14n), auto-posted.

The broker runs pinned to core 0 (one process), PostgreSQL as in production, the load generator (asyncio,
keep-alive) on core 1. Run: `.venv/bin/python -m bench.protocols` (part of bench/run).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import Browser, fresh_database  # noqa: E402
from bench.report import report  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONNECTIONS", "8"))
PORT = 8711
PASSWORD = "Mật-khẩu@2025"
REDIRECT = "https://app.example.gov.vn/cb"
SERVICE = "https://vanban.example.gov.vn/"
SP = "https://daotao.example.gov.vn"
SP_METADATA = (f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP}/metadata">'
               '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
               '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
               f'Location="{SP}/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>')
Op = Callable[[Browser, int], Awaitable[bool]]


def _authn_request(issuer: str, n: int) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    xml = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_b{n}x{time.monotonic_ns()}" Version="2.0" '
           f'IssueInstant="{stamp}" Destination="{issuer}/saml/sso"><saml:Issuer>{SP}/metadata</saml:Issuer>'
           '</samlp:AuthnRequest>')
    packed = zlib.compressobj(9, zlib.DEFLATED, -15)
    return "/saml/sso?SAMLRequest=" + quote(base64.b64encode(packed.compress(xml.encode()) + packed.flush()))


def operations(issuer: str, secret: str) -> dict[str, Op]:
    basic = base64.b64encode(f"bench:{secret}".encode()).decode()

    async def oidc(http: Browser, n: int) -> bool:
        query = urlencode({"response_type": "code", "client_id": "bench", "scope": "openid profile",
                           "redirect_uri": REDIRECT, "state": "s", "nonce": "n",
                           "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                           "code_challenge_method": "S256"})
        _, headers, _ = await http.request("GET", f"/oauth2/authorize?{query}")
        code = parse_qs(urlsplit(headers.get("location", "")).query).get("code", [""])[0]
        form = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                          "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}).encode()
        status, _, _ = await http.request("POST", "/oauth2/token", form, {"Authorization": f"Basic {basic}"})
        return status == 200

    async def cas(http: Browser, n: int) -> bool:
        _, headers, _ = await http.request("GET", "/cas/login?" + urlencode({"service": SERVICE}))
        ticket = parse_qs(urlsplit(headers.get("location", "")).query).get("ticket", [""])[0]
        status, _, body = await http.request("GET", "/cas/p3/serviceValidate?" + urlencode(
            {"service": SERVICE, "ticket": ticket}))
        return status == 200 and b"authenticationSuccess" in body

    async def saml(http: Browser, n: int) -> bool:
        status, _, body = await http.request("GET", _authn_request(issuer, n))
        return status == 200 and b"SAMLResponse" in body

    return {"OIDC authorization code": oidc, "CAS service ticket": cas, "SAML SSO": saml}


async def load(issuer: str, cookies: dict[str, str], op: Op) -> tuple[int, int]:
    done = failed = 0
    deadline = time.monotonic() + SECONDS
    host, port = urlsplit(issuer).hostname or "127.0.0.1", urlsplit(issuer).port or 80

    async def browser(k: int) -> None:
        nonlocal done, failed
        http = Browser(host, port)
        http.cookies.update(cookies)
        n = k * 10**7
        while time.monotonic() < deadline:
            n += 1
            if await op(http, n):
                done += 1
            else:
                failed += 1

    await asyncio.gather(*(browser(k) for k in range(CONCURRENCY)))
    return done, failed


def main() -> int:
    from app.crypto import generate_master_key
    from app.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-protocols-"))
    url = fresh_database()
    upgrade(url)
    issuer = f"http://127.0.0.1:{PORT}"
    env = {**os.environ, "SSO_DATABASE_URL": url, "SSO_MASTER_KEY": generate_master_key(), "SSO_DATA_DIR": str(tmp),
           "SSO_ISSUER": issuer, "SSO_RATE_LIMIT_AUTH_PER_MINUTE": "10000000", "SSO_ID_TOKEN_ALG": "ES256"}

    def cli(*argv: str) -> str:
        return subprocess.run([sys.executable, "-m", "app.cli", *argv], env=env, check=True, capture_output=True,
                              text=True).stdout

    (tmp / "sp.xml").write_text(SP_METADATA)
    cli("user", "add", "hieund", "--name", "Nguyễn Đình Hiếu", "--email", "hieund@example.gov.vn", "--password",
        PASSWORD)
    secret = re.search(r"client_secret: (\S+)", cli("client", "add", "bench", "--redirect-uri", REDIRECT,
                                                    "--first-party")).group(1)  # type: ignore[union-attr]
    cli("services", "add", "vanban", "--prefix", SERVICE, "--attribute", "displayName", "--attribute", "mail")
    cli("saml", "add", "daotao", "--metadata", str(tmp / "sp.xml"), "--attribute", "displayName")
    server = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "app.cli", "serve", "--port", str(PORT),
                               "--workers", "1", "--log-level", "warning"], env=env)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{issuer}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=issuer) as http:
            page = http.get("/login")
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            http.post("/login", data={**fields, "username": "hieund", "password": PASSWORD})
            cookies = dict(http.cookies.items())
        os.sched_setaffinity(0, {1})  # the load generator off the broker's core
        rates = {}
        for name, op in operations(issuer, secret).items():
            asyncio.run(load(issuer, cookies, op))  # warm-up (keys, caches, the SAML certificate)
            done, failed = asyncio.run(load(issuer, cookies, op))
            rates[name] = (done / SECONDS, failed)
            print(f"{name}: {done / SECONDS:.0f}/s ({failed} failed)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    base = rates["OIDC authorization code"][0] or 1.0
    return report("Single sign-on of a signed-in official, per broker core", [
        *((f"{name} /s", rate, "", failed == 0) for name, (rate, failed) in rates.items()),
        ("CAS / OIDC", rates["CAS service ticket"][0] / base, "x", True),
        ("SAML / OIDC", rates["SAML SSO"][0] / base, "x", True),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
