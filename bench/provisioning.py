"""Provisioning benchmarks: joiners provisioned into 5 target systems, and leaver propagation from the
directory change to 'disabled' in all 5, with `sso-broker worker` running (directory sync every second).

Targets (#16): leaver propagation p99 < 5 s; provisioning >= 500 accounts/s from one worker; the first
provisioning of 20,000 officials into 5 targets (BENCH_JOINERS=20000) in under 4 minutes (scaled for fewer).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ldap3 import MODIFY_REPLACE
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import autovacuum_stand_in, fresh_database  # noqa: E402
from bench.report import report  # noqa: E402
from tests.directory_kit import ADMIN_PW, Slapd, generate  # noqa: E402

OFFICIALS = int(os.environ.get("BENCH_JOINERS", "1000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))  # 2: two worker processes on one outbox (target 900 acc/s)
LEAVERS = int(os.environ.get("BENCH_LEAVERS", "20"))
TARGETS = 5
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def target_database(extra_columns: str = "") -> str:
    """A PostgreSQL database with a users_N table per target (login, full_name, active and extra_columns)."""
    name = f"bench_legacy_{uuid.uuid4().hex[:6]}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = f"{PG}/{name}"
    engine = create_engine(url)
    with engine.begin() as conn:
        for i in range(TARGETS):
            conn.execute(text(f"CREATE TABLE users_{i} (id SERIAL PRIMARY KEY, login VARCHAR(100) UNIQUE NOT NULL,"
                              " full_name VARCHAR(200), active SMALLINT NOT NULL DEFAULT 1" + extra_columns + ")"))
    engine.dispose()
    return url


def counts(url: str, where: str) -> list[int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = [int(conn.execute(text(f"SELECT count(*) FROM users_{i} WHERE {where}")).scalar_one())
               for i in range(TARGETS)]
    engine.dispose()
    return out


def main() -> int:
    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.directory.sources import parse_config
    from app.directory.sync import DirectorySync
    from app.migrate import upgrade
    from app.provisioning.engine import ProvisioningEngine
    from app.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-prov-"))
    slapd = Slapd("bacgiang", "dc=bacgiang,dc=gov,dc=vn", 3492, tmp / "slapd", generate(tmp, "bacgiang", OFFICIALS))
    slapd.start()
    url, legacy = fresh_database(), target_database()
    upgrade(url)
    master = generate_master_key()
    settings = Settings(database_url=url, master_key=master, data_dir=tmp)
    broker = Broker(settings)
    broker.keys.ensure()
    engine = ProvisioningEngine(broker.db, broker.box)
    with broker.db.session() as s:
        broker.directories.save(s, parse_config(slapd.source_config()), ADMIN_PW)
        for i in range(TARGETS):
            engine.save_instance(s, f"app-{i}", "sql_table", {
                "url": legacy, "table": f"users_{i}", "key_column": "login", "id_column": "id",
                "columns": {"full_name": "full_name"}, "enabled_column": "active"}, {"all": True},
                {"full_name": "{display_name}"})
    DirectorySync(broker.db, broker.directories, "bacgiang").run(full=True)
    # The offline load stamped every entry with one second; a later change moves the sync cursor past it, as
    # in a directory whose entries were written over time.
    time.sleep(1.1)
    conn = slapd.admin()
    conn.modify(slapd.dn_of(slapd.uids()[-1]), {"title": [(MODIFY_REPLACE, ["Chuyên viên chính"])]})
    conn.unbind()
    DirectorySync(broker.db, broker.directories, "bacgiang").run()
    env = {**os.environ, "SSO_DATABASE_URL": url, "SSO_MASTER_KEY": master, "SSO_DATA_DIR": str(tmp)}
    # One worker syncs the directory every second; any other only provisions.
    workers = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--interval", "1" if n == 0 else "3600"],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for n in range(WORKERS)]
    results = []
    try:
        with autovacuum_stand_in(url):
            started = time.monotonic()
            while min(counts(legacy, "active = 1")) < OFFICIALS and time.monotonic() - started < 1200:
                time.sleep(0.5)
            joiners_s = time.monotonic() - started
            rate = OFFICIALS * TARGETS / joiners_s
            # #16: the first provisioning of 20,000 officials into 5 targets in under 4 minutes
            results.append((f"{OFFICIALS} joiners into {TARGETS} targets ({OFFICIALS * TARGETS} accounts)", joiners_s,
                            "s", joiners_s < 240 * OFFICIALS / 20000))
            results.append((f"provisioning throughput, {WORKERS} worker process(es)", rate, "acc/s",
                            rate >= (500 if WORKERS == 1 else 900)))
            with broker.db.engine.connect() as conn:
                twice = conn.execute(text("SELECT count(*) FROM provisioning_tasks WHERE attempts > 1 OR (status ="
                                          " 'done' AND attempts = 0 AND outcome NOT LIKE 'superseded%')")).scalar_one()
            results.append(("tasks worked more than once (or done without being worked)", twice, "", twice == 0))
            time.sleep(1.5)  # past the second of the last directory change
            conn = slapd.admin()
            latencies = []
            for uid in slapd.uids()[:LEAVERS]:
                before = counts(legacy, "active = 0")
                t0 = time.monotonic()
                conn.modify(slapd.dn_of(uid), {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]})
                while time.monotonic() - t0 < 60:
                    if all(after > b for after, b in zip(counts(legacy, "active = 0"), before, strict=True)):
                        break
                    time.sleep(0.05)
                latencies.append(time.monotonic() - t0)
            conn.unbind()
            latencies.sort()
            p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
            median = latencies[len(latencies) // 2]
            results.append((f"leaver propagation p99 over {LEAVERS} leavers (median {median:.2f} s)", p99, "s",
                            p99 < 5))
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=20)
        slapd.stop()
        broker.db.dispose()
    return report("provisioning benchmark", results)


if __name__ == "__main__":
    sys.exit(main())
