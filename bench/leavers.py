"""Leavers under load (issue #12): with 10,000 joiners queued on the same SCIM target, which answers 503 to one
request in five (a fault proxy in front of a real scim2-server), how long from a leaver's change reaching the
broker (`sso-broker user disable` committed) to the account disabled at the target, with `sso-broker worker`
running. Target: p99 < 5 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory import fresh_database  # noqa: E402
from bench.report import report  # noqa: E402
from tests.conftest import start_scim2_server  # noqa: E402
from tests.fault_proxy import FaultProxy, start  # noqa: E402

JOINERS = int(os.environ.get("BENCH_QUEUED_JOINERS", "10000"))
LEAVERS = int(os.environ.get("BENCH_LEAVERS", "20"))
FLAKY = float(os.environ.get("BENCH_FLAKY_SHARE", "0.2"))
TOKEN = "bench-scim-token"


def active(url: str, username: str) -> bool | None:
    reply = httpx.get(f"{url}/Users", params={"filter": f'userName eq "{username}"'},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    found = reply.get("Resources") or []
    return bool(found[0].get("active", True)) if found else None


def main() -> int:
    from sqlalchemy import func, select

    from app.broker import Broker
    from app.crypto import generate_master_key
    from app.identity.service import NewOfficial, add_official, ensure_unit
    from app.migrate import upgrade
    from app.provisioning.engine import ProvisioningEngine, wait_for_tasks
    from app.provisioning.models import ProvisioningTask
    from app.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-leavers-"))
    server, upstream = start_scim2_server(tmp / "scim.log", TOKEN)
    fault = FaultProxy(upstream)
    proxy_url, proxy = start(fault)
    url, master = fresh_database(), generate_master_key()
    upgrade(url)
    broker = Broker(Settings(database_url=url, master_key=master, data_dir=tmp))
    broker.keys.ensure()
    engine = ProvisioningEngine(broker.db, broker.box)
    leavers = [f"roi{i}" for i in range(LEAVERS)]
    with broker.db.session() as s:
        engine.save_instance(s, "dao-tao", "scim", {"base_url": proxy_url, "token": TOKEN}, {"all": True},
                             {"display_name": "{display_name}", "external_id": "{sub}"})
        ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
        for name in leavers:
            add_official(s, NewOfficial(name, f"Cán bộ {name}", None, unit_code="bac-ninh"))
    wait_for_tasks(engine, 120)  # the leavers-to-be have their accounts
    with broker.db.session() as s:
        for i in range(JOINERS):
            add_official(s, NewOfficial(f"moi{i}", f"Cán bộ mới {i}", None, unit_code="bac-ninh"))
    fault.default = f"flaky:{FLAKY}"
    env = {**os.environ, "SSO_DATABASE_URL": url, "SSO_MASTER_KEY": master, "SSO_DATA_DIR": str(tmp)}
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--interval", "3600"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies: list[float] = []
    try:
        time.sleep(3)  # the worker is busy with joiners
        for name in leavers:
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "app.cli", "user", "disable", name], env=env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            committed = time.monotonic()  # the change has reached the broker
            while time.monotonic() - t0 < 120 and active(upstream, name) is not False:
                time.sleep(0.05)
            latencies.append(time.monotonic() - committed)
        with broker.db.session() as s:
            queued = s.scalar(select(func.count()).select_from(ProvisioningTask)
                              .where(ProvisioningTask.status == "pending")) or 0
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        proxy.shutdown()
        server.terminate()
        broker.db.dispose()
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    failed = sum(1 for seen in fault.seen if seen.action == "503")
    return report(f"leavers behind {JOINERS} queued joiners, target answering 503 to {FLAKY:.0%}", [
        (f"leaver p99 over {LEAVERS} leavers (median {latencies[len(latencies) // 2]:.2f} s)", p99, "s", p99 < 5),
        ("joiners still queued when the last leaver was done", float(queued), "", queued > 0),
        ("requests the target refused (503)", float(failed), "", failed > 0),
    ])


if __name__ == "__main__":
    sys.exit(main())
