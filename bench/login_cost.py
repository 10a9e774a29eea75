"""The broker's CPU per complete login, counted in instructions: repeatable on a shared VM whose speed moves.

The broker (`sso-broker serve`, PostgreSQL) runs under valgrind's callgrind; a directory of BENCH_COST_OFFICIALS
(300) officials in slapd; one browser, one login at a time (authorization request, login form posted with LDAP
search and bind, code exchanged at the token endpoint). After BENCH_COST_WARMUP (10) logins the counters are
zeroed, then BENCH_COST_LOGINS (40) logins are counted and divided. Only the broker's process is counted (not
slapd, PostgreSQL or this load generator). About four minutes; not in bench/run, which measures throughput.
The figure moves by a few percent from run to run (the database grows, caches fill), so compare changes of
more than that, and the code before and after in the same way.
"""

from __future__ import annotations

import asyncio
import glob
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import Browser, basic_auth, complete_login, province, server_env, wait_until_serving  # noqa: E402

OFFICIALS = int(os.environ.get("BENCH_COST_OFFICIALS", "300"))
WARMUP = int(os.environ.get("BENCH_COST_WARMUP", "10"))
LOGINS = int(os.environ.get("BENCH_COST_LOGINS", "40"))
PORT, LDAP_PORT = 8712, 3493


async def logins(count: int, users: list[str], secret: str) -> None:
    http, basic = Browser("127.0.0.1", PORT), basic_auth(secret)
    for i in range(count):
        status = await complete_login(http, users[i % len(users)], basic)
        if status != 200:
            raise RuntimeError(f"login {i} ended with the token endpoint's {status}")


def counted(dump_prefix: str) -> int:
    """The instructions in callgrind's dump taken after the counted logins (the file ending in .1)."""
    for line in Path(f"{dump_prefix}.1").read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError("callgrind wrote no summary")


def main() -> int:
    from app.directory.sync import DirectorySync

    issuer = f"http://127.0.0.1:{PORT}"
    place = province(OFFICIALS, LDAP_PORT, issuer, "sso_bench_login_cost")
    dump = str(Path(tempfile.mkdtemp(prefix="sso-bench-cost-")) / "callgrind.out")
    try:
        DirectorySync(place.broker.db, place.broker.directories, "bacgiang").run()
        place.broker.db.dispose()
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}", sys.executable, "-m", "app.cli",
             "serve", "--port", str(PORT), "--log-level", "warning"],
            env=server_env(place, issuer), cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            wait_until_serving(issuer, seconds=600)  # start-up under valgrind takes a minute or two
            users = place.slapd.uids()
            asyncio.run(logins(WARMUP, users, place.secret))
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
            asyncio.run(logins(LOGINS, users, place.secret))
            subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        finally:
            server.terminate()
            server.wait(timeout=120)
        per_login = counted(dump) / LOGINS
        print(f"\nbroker instructions per complete login ({LOGINS} counted after {WARMUP}): "
              f"{per_login / 1e6:.1f} million")
        print(f"callgrind's dumps, for callgrind_annotate: {' '.join(sorted(glob.glob(dump + '*')))}")
    finally:
        place.slapd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
