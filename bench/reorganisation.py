"""Reorganisation benchmark: two provinces merged (Bắc Giang into Bắc Ninh, 40,000 officials from two slapd
directories, 5 target systems whose accounts carry the unit path and the address), with `sso-broker worker` running.

Targets (#16): the dry run runs in the worker, with progress, and finishes in < 60 s; applying the plan and
provisioning every change (BENCH_REORG_APPLY=1: the accounts are first provisioned, 200,000 of them, which takes
several minutes more) in < 10 minutes; the worker's RSS after it all < 150 MB.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import autovacuum_stand_in, fresh_database  # noqa: E402
from bench.provisioning import TARGETS, target_database  # noqa: E402
from bench.report import Result, report  # noqa: E402
from bench.token_endpoint import rss_mb  # noqa: E402
from tests.directory_kit import ADMIN_PW, Slapd, generate  # noqa: E402

OFFICIALS = int(os.environ.get("BENCH_REORG_OFFICIALS", "40000"))  # both provinces together
APPLY = os.environ.get("BENCH_REORG_APPLY") == "1"
PROVINCES = (("bacgiang", 3496), ("bacninh", 3497))


def wait(what: str, done: object, limit: float) -> float:
    """Seconds until done() is true (polled), or the limit."""
    started = time.monotonic()
    while not done() and time.monotonic() - started < limit:  # type: ignore[operator]
        time.sleep(0.5)
    print(f"  {what}: {time.monotonic() - started:.1f} s", flush=True)
    return time.monotonic() - started


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-reorg-"))
    directories = [Slapd(name, f"dc={name},dc=gov,dc=vn", port, tmp / name, generate(tmp, name, OFFICIALS // 2))
                   for name, port in PROVINCES]
    try:
        for slapd in directories:
            slapd.start()
        return benchmark(directories)
    finally:
        for slapd in directories:
            slapd.stop()


def benchmark(directories: list[Slapd]) -> int:
    from app.admin.models import Reorganisation
    from app.admin.reorg import Reorganiser
    from app.audit.trail import SYSTEM
    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.directory.sources import parse_config
    from app.directory.sync import DirectorySync
    from app.identity.models import Unit
    from app.migrate import upgrade
    from app.provisioning.engine import ProvisioningEngine
    from app.settings import Settings

    tmp = directories[0].directory.parent
    url, legacy = fresh_database("sso_bench_reorg"), target_database(", mail VARCHAR(200), unit VARCHAR(500)")
    upgrade(url)
    master = generate_master_key()
    broker = Broker(Settings(database_url=url, master_key=master, data_dir=tmp))
    broker.keys.ensure()
    engine = ProvisioningEngine(broker.db, broker.box)
    results: list[Result] = []
    with broker.db.session() as s:
        for slapd in directories:
            broker.directories.save(s, parse_config(slapd.source_config()), ADMIN_PW)
    for slapd in directories:
        DirectorySync(broker.db, broker.directories, slapd.name).run(full=True)
    with broker.db.session() as s:
        while not APPLY and engine.plan(s):  # the officials came before these targets: no joiners to work
            pass
        for i in range(TARGETS):
            engine.save_instance(s, f"app-{i}", "sql_table", {
                "url": legacy, "table": f"users_{i}", "key_column": "login", "id_column": "id",
                "columns": {"full_name": "full_name", "mail": "mail", "unit": "unit"}, "enabled_column": "active"},
                {"all": True}, {"full_name": "{display_name}", "mail": "{email}", "unit": "{unit_path}"})
        roots = {u.source: u.code for u in s.scalars(select(Unit).where(Unit.parent_id.is_(None)))}
    env = {**os.environ, "SSO_DATABASE_URL": url, "SSO_MASTER_KEY": master, "SSO_DATA_DIR": str(tmp)}
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--interval", "3600"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target_db = create_engine(legacy)

    def accounts(where: str) -> int:
        with target_db.connect() as conn:
            return min(int(conn.execute(text(f"SELECT count(*) FROM users_{i} WHERE {where}")).scalar_one())
                       for i in range(TARGETS))

    try:
        with autovacuum_stand_in(url):
            if APPLY:
                wait(f"first provisioning of {OFFICIALS * TARGETS} accounts", lambda: accounts("true") >= OFFICIALS,
                     1800)
            operations = [{"op": "merge", "from": roots["bacgiang"], "into": roots["bacninh"]},
                          {"op": "rename", "unit": roots["bacninh"], "name": "Tỉnh Bắc Ninh (sau sáp nhập)"},
                          {"op": "mail_domain", "unit": roots["bacninh"], "domain": "bacninh.gov.vn"}]
            effective = dt.date.today() if APPLY else dt.date(2099, 7, 1)
            with broker.db.session() as s:
                plan_id = Reorganiser(s, SYSTEM, engine).plan("Sáp nhập Bắc Giang vào Bắc Ninh",
                                                             effective.isoformat(), operations).id
            started, shown = time.monotonic(), 0

            def plan_status() -> str:
                nonlocal shown
                with broker.db.session() as s:
                    plan = s.get(Reorganisation, plan_id)
                    assert plan is not None and plan.dry_run is not None
                    if plan.dry_run["looked_at"] >= shown + 10000:
                        shown = plan.dry_run["looked_at"]
                        print(f"  dry run: {shown} of {plan.dry_run['concerned']} officials at "
                              f"{time.monotonic() - started:.1f} s", flush=True)
                    return plan.status

            dry_run_s = wait("dry run", lambda: plan_status() != "previewing", 600)
            with broker.db.session() as s:
                report_text = str(s.get(Reorganisation, plan_id).report)  # type: ignore[union-attr]
            print("  " + report_text.replace("\n", "\n  "))
            results.append((f"dry run of merging two provinces ({OFFICIALS} officials, {TARGETS} targets)",
                            dry_run_s, "s", dry_run_s < 60 * OFFICIALS / 40000))
            if APPLY:
                moved = wait("apply and provision every change", lambda: plan_status() == "done" and accounts(
                    "mail LIKE '%@bacninh.gov.vn' AND unit LIKE 'Tỉnh Bắc Ninh (sau sáp nhập)%'") >= OFFICIALS, 1800)
                results.append(("apply and provision every change", moved, "s", moved < 600 * OFFICIALS / 40000))
        memory = rss_mb(worker.pid)
        results.append(("worker RSS after the benchmark", memory, "MB", memory < 150))
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        target_db.dispose()
        broker.db.dispose()
    return report("reorganisation benchmark", results)


if __name__ == "__main__":
    sys.exit(main())
