"""A login's instructions with the app driven in one process: the quick way to measure a change to the login.

The broker's ASGI app is called directly (no HTTP server, no sockets to the browser) with the thread pool run
inline, under valgrind's callgrind; the process zeroes and reads its own counters (`callgrind_control`) around
BENCH_INPROCESS_LOGINS (30) logins as #16 counts them (authorization request, login form posted with LDAP search
and bind against a real slapd, redirect with a code), BENCH_INPROCESS_ROUNDS (2) times. About 90 s, repeatable to
about 1%, against four minutes for bench/login_cost.py, which counts the whole server (uvicorn and the thread
hops too: about 0.6 million instructions more per login). Not in bench/run.

    .venv/bin/python -m bench.login_inprocess    # starts itself again under callgrind

Compare two checkouts by running it in each (`git archive <commit> | tar -x -C /tmp/x`, .venv linked).
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import province, server_env  # noqa: E402
from tests.directory_kit import PASSWORD  # noqa: E402

LOGINS = int(os.environ.get("BENCH_INPROCESS_LOGINS", "30"))
ROUNDS = int(os.environ.get("BENCH_INPROCESS_ROUNDS", "2"))
PORT, LDAP_PORT = 8721, 3498
ASGI = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                 Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


async def _inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
    return func(*args)


class Callgrind:
    """This process's own counters (it runs under callgrind, writing to `out`): zeroed, then dumped and read."""

    def __init__(self, out: str) -> None:
        self.out, self.dumps = out, 0

    def _control(self, option: str) -> None:
        subprocess.run(["callgrind_control", option, str(os.getpid())], check=True, capture_output=True)

    def zero(self) -> None:
        self._control("-z")

    def count(self) -> int:
        self._control("-d")
        self.dumps += 1
        for name in glob.glob(f"{self.out}.{self.dumps}*"):
            for line in Path(name).read_text().splitlines():
                if line.startswith("summary:"):
                    return int(line.split()[1])
        raise RuntimeError("callgrind wrote no summary")


async def call(app: ASGI, method: str, path: str, body: bytes = b"",
               cookies: dict[str, str] | None = None) -> tuple[int, dict[bytes, bytes], bytes, list[bytes]]:
    path_only, _, query = path.partition("?")
    headers = [(b"host", f"127.0.0.1:{PORT}".encode()), (b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    if cookies:
        headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path_only, "raw_path": path_only.encode(), "query_string": query.encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", PORT), "state": {}}
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict[str, Any] = {"status": 0, "headers": [], "body": b""}

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message.get("headers", [])
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    cookies_set = [v for k, v in answer["headers"] if k == b"set-cookie"]
    return answer["status"], dict(answer["headers"]), answer["body"], cookies_set


async def login(app: ASGI, user: str) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": "bench", "scope": "openid profile",
                       "redirect_uri": "https://app.example.gov.vn/cb", "state": "s", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    _, _, page, set_cookies = await call(app, "GET", f"/oauth2/authorize?{query}")
    cookies = dict(c.decode().split(";", 1)[0].split("=", 1) for c in set_cookies)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.decode()))
    form = urlencode({**fields, "username": f"{user}@bacgiang", "password": PASSWORD}).encode()
    status, headers, _, _ = await call(app, "POST", "/login", form, cookies)
    if status != 303 or b"code=" not in headers.get(b"location", b""):
        raise RuntimeError(f"the login ended with {status}")


async def measure(app: Any, users: list[str], counters: Callgrind) -> list[float]:
    per_login = []
    async with app.router.lifespan_context(app):
        for i in range(20):
            await login(app, users[i % len(users)])
        for _ in range(ROUNDS):
            counters.zero()
            for i in range(LOGINS):
                await login(app, users[i % len(users)])
            per_login.append(counters.count() / LOGINS / 1e6)
    return per_login


def main() -> int:
    out = os.environ.get("BENCH_CALLGRIND_OUT")
    if not out:  # start again under callgrind, told where it writes
        out = str(Path(tempfile.mkdtemp(prefix="sso-bench-inprocess-")) / "callgrind.out")
        return subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
                               "bench.login_inprocess"], env={**os.environ, "BENCH_CALLGRIND_OUT": out}, cwd=ROOT,
                              stderr=subprocess.DEVNULL).returncode
    from app.directory.sync import DirectorySync

    counters = Callgrind(out)
    anyio.to_thread.run_sync = _inline  # type: ignore[assignment]  # the thread pool inline: one thread to count
    issuer = f"http://127.0.0.1:{PORT}"
    place = province(300, LDAP_PORT, issuer, "sso_bench_login_inprocess")
    try:
        DirectorySync(place.broker.db, place.broker.directories, "bacgiang").run()
        os.environ.update({**server_env(place, issuer), "SSO_LOG_LEVEL": "warning"})
        from app.main import app_from_env

        figures = asyncio.run(measure(app_from_env(), place.slapd.uids(), counters))
    finally:
        place.slapd.stop()
    print(f"\ninstructions per login, app in one process ({LOGINS} logins a round): "
          + ", ".join(f"{f:.2f} million" for f in figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
