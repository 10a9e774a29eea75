"""CLI start-up (issue #16): `sso-broker --help` and a command that touches the database (`user list` on a
migrated PostgreSQL database with 2,000 officials), the median of BENCH_STARTUP_RUNS fresh processes each.
Targets: --help < 0.3 s, a database command < 1 s. Also prints the slowest imports of the database command
(python -X importtime), which is where the time that is left goes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import fresh_database  # noqa: E402
from bench.report import report  # noqa: E402

RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "7"))


def timed(argv: list[str], env: dict[str, str]) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "app.cli", *argv], env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def slowest_imports(argv: list[str], env: dict[str, str], count: int = 8) -> list[tuple[int, str]]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "app.cli", *argv], env=env, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> int:
    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.identity.service import NewOfficial, add_official, ensure_unit
    from app.migrate import upgrade
    from app.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-startup-"))
    url, master = fresh_database(), generate_master_key()
    upgrade(url)
    broker = Broker(Settings(database_url=url, master_key=master, data_dir=tmp))
    with broker.db.session() as s:
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        for i in range(2000):
            add_official(s, NewOfficial(f"cb{i}", f"Cán bộ {i}", None, unit_code="bac-ninh"))
    broker.db.dispose()
    env = {**os.environ, "SSO_DATABASE_URL": url, "SSO_MASTER_KEY": master, "SSO_DATA_DIR": str(tmp)}
    help_s = timed(["--help"], env)
    command_s = timed(["user", "list"], env)
    print("slowest imports of `sso-broker user list` (cumulative µs):")
    for micros, name in slowest_imports(["user", "list"], env):
        print(f"  {micros:>8}  {name}")
    return report("CLI start-up (median of fresh processes)", [
        ("sso-broker --help", help_s, " s", help_s < 0.3),
        ("sso-broker user list (2,000 officials)", command_s, " s", command_s < 1.0),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
