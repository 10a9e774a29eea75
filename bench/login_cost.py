"""The broker's CPU per complete login, counted in instructions: repeatable on a shared VM whose speed moves.

The broker (`sso-broker serve`, PostgreSQL) runs under valgrind's callgrind; a directory of BENCH_COST_OFFICIALS
(300) officials in slapd; one browser, one login at a time (authorization request, login form posted with LDAP
search and bind, redirect with a code: a login as #16 counts it). After BENCH_COST_WARMUP (10) logins the
counters are zeroed, then BENCH_COST_LOGINS (40) logins are counted and divided; then as many again with each
code exchanged at the token endpoint, as the application's back end does. Only the broker's process is counted (not
slapd, PostgreSQL or this load generator). About four minutes; not in bench/run, which measures throughput.
The figure moves by a few percent from run to run (the database grows, caches fill), so compare changes of
more than that, and the code before and after in the same way.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.callgrind import CallgrindServer  # noqa: E402
from bench.directory import Browser, basic_auth, complete_login, province, server_env, wait_until_serving  # noqa: E402

OFFICIALS = int(os.environ.get("BENCH_COST_OFFICIALS", "300"))
WARMUP = int(os.environ.get("BENCH_COST_WARMUP", "10"))
LOGINS = int(os.environ.get("BENCH_COST_LOGINS", "40"))
PORT, LDAP_PORT = 8712, 3493


async def logins(count: int, users: list[str], secret: str, exchange: bool) -> None:
    http, basic = Browser("127.0.0.1", PORT), basic_auth(secret)
    for i in range(count):
        status = await complete_login(http, users[i % len(users)], basic, exchange)
        if status != 200:
            raise RuntimeError(f"login {i} ended with {status}")


def main() -> int:
    from app.directory.sync import DirectorySync

    issuer = f"http://127.0.0.1:{PORT}"
    place = province(OFFICIALS, LDAP_PORT, issuer, "sso_bench_login_cost")
    try:
        DirectorySync(place.broker.db, place.broker.directories, "bacgiang").run()
        place.broker.db.dispose()
        with CallgrindServer(PORT, server_env(place, issuer)) as server:
            wait_until_serving(issuer, seconds=600)  # start-up under valgrind takes a minute or two
            users = place.slapd.uids()
            asyncio.run(logins(WARMUP, users, place.secret, exchange=True))
            server.zero()
            asyncio.run(logins(LOGINS, users, place.secret, exchange=False))
            per_login = server.count() / LOGINS
            server.zero()
            asyncio.run(logins(LOGINS, users, place.secret, exchange=True))
            with_exchange = server.count() / LOGINS
        print(f"\nbroker instructions per complete login ({LOGINS} counted after {WARMUP}; authorization request, "
              f"form posted, redirect with a code): {per_login / 1e6:.1f} million")
        print(f"the same with the code exchanged at the token endpoint: {with_exchange / 1e6:.1f} million")
        print(f"callgrind's dumps, for callgrind_annotate: {server.dumps()}")
    finally:
        place.slapd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
