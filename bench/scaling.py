"""Scale-out on one machine: client_credentials and authorization_code throughput with 1 and with 2 worker
processes (`sso-broker serve --workers N`) over one PostgreSQL, and the memory of each worker process.

Target (#16): 2 processes >= 1.8x one, for both grants. This machine has 2 cores, and wrk and PostgreSQL share
them with the workers (nothing is pinned here), so that target cannot be met here whatever the broker does; the
benchmark also prints the broker's CPU per request with 1 and with 2 workers, which stays level when nothing
the processes share (a lock, a row, the database) makes them wait for each other: that is what a machine with a
core per process would turn into 2x. Memory target: < 150 MB RSS per worker process after the load.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.directory import process_cpu
from bench.report import report
from bench.token_endpoint import BENCH, OURS_PORT, SECONDS, Scenario, prepare_ours, scenarios, wait_for

ROOT = Path(__file__).resolve().parents[1]
GRANTS = ("client_credentials", "authorization_code")
TARGET = 1.8
CONNECTIONS = 32


def wrk_rps(url: str, auth: str, scenario: Scenario) -> float:
    """The median of three runs after a warm-up. One wrk thread: each thread would spend the same codes."""
    runs = []
    for seconds in (1, SECONDS, SECONDS, SECONDS):
        out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s",
                              str(BENCH / "token_request.lua"), url],
                             env={**os.environ, **scenario.env(auth)}, capture_output=True, text=True,
                             check=True).stdout
        if "Non-2xx" in out:
            raise SystemExit(f"errors under load ({scenario.name}): {out}")
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        scenario.offset += requests + CONNECTIONS
        runs.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))  # type: ignore[union-attr]
    return sorted(runs[1:])[1]


def serving_pids(server: int, workers: int) -> list[int]:
    """The processes that serve requests: the server itself with one worker, else its workers."""
    if workers == 1:
        return [server]
    pids = []
    for pid in subprocess.run(["pgrep", "-P", str(server)], capture_output=True, text=True).stdout.split():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if not (b"multiprocessing" in cmdline and b"resource_tracker" in cmdline):
            pids.append(int(pid))
    return pids


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def run(workers: int, env: dict[str, str], auth: str,
        items: dict[str, Scenario]) -> tuple[dict[str, tuple[float, float]], list[float]]:
    """Per grant: (req/s, the broker's CPU ms per request); then each serving process's RSS."""
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(OURS_PORT), "--workers",
                               str(workers), "--log-level", "warning"], env={**os.environ, **env}, cwd=ROOT)
    url = f"http://127.0.0.1:{OURS_PORT}/oauth2/token"
    try:
        wait_for(f"http://127.0.0.1:{OURS_PORT}/healthz", server)
        pids = serving_pids(server.pid, workers)
        figures = {}
        for grant in GRANTS:
            cpu_before, offset_before = sum(process_cpu(p) for p in pids), items[grant].offset
            rps = wrk_rps(url, auth, items[grant])
            requests = items[grant].offset - offset_before
            figures[grant] = (rps, (sum(process_cpu(p) for p in pids) - cpu_before) * 1000 / requests)
        return figures, [rss_mb(p) for p in pids]
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env, auth = prepare_ours(Path(tmp), mint=int(os.environ.get("BENCH_SCALING_MINT", "120000")))
        items = {s.name: s for s in scenarios(Path(tmp), "profile")}
        one, one_sizes = run(1, env, auth, items)
        two, sizes = run(2, env, auth, items)
        sizes += one_sizes
    results = []
    print("\ntoken endpoint, ES256, wrk 1 thread x 32 connections, nothing pinned (2 cores shared with wrk and "
          "PostgreSQL)")
    for grant in GRANTS:
        (rps1, cpu1), (rps2, cpu2) = one[grant], two[grant]
        print(f"  {grant:<20} 1 worker {rps1:6.0f} req/s ({cpu1:.3f} ms CPU each), 2 workers {rps2:6.0f} req/s "
              f"({cpu2:.3f} ms CPU each): x{rps2 / rps1:.2f}; CPU per request x{cpu2 / cpu1:.2f}")
        results.append((f"{grant}: 2 workers / 1 worker", rps2 / rps1, "x", rps2 / rps1 >= TARGET))
    print(f"worker RSS after load: {', '.join(f'{s:.0f} MB' for s in sizes)}")
    results.append(("largest worker process RSS", max(sizes), "MB", max(sizes) < 150))
    return report(f"scale-out (target x{TARGET}; this machine's 2 cores are shared with wrk and PostgreSQL)",
                  results)


if __name__ == "__main__":
    sys.exit(main())
