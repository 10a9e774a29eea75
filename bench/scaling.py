"""Scale-out on one machine: client_credentials throughput with 1 and with 2 worker processes
(`sso-broker serve --workers N`) over one PostgreSQL, and the memory of each worker process.

This machine has 2 cores, and wrk and PostgreSQL share them with the workers (nothing is pinned here), so
2 workers cannot double the figure: the target is a gain of at least 25%. Memory target: < 150 MB RSS per
worker process after the load.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import report
from bench.token_endpoint import BENCH, OURS_PORT, SECONDS, prepare_ours, wait_for

ROOT = Path(__file__).resolve().parents[1]


def wrk_rps(url: str, auth: str) -> float:
    env = {**os.environ, "BENCH_AUTH": auth, "BENCH_BODY": "grant_type=client_credentials&scope=profile"}
    runs = []
    for seconds in (1, SECONDS, SECONDS, SECONDS):  # a warm-up, then the median of three
        out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(BENCH / "token_request.lua"), url],
                             env=env, capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out:
            raise SystemExit(f"errors under load: {out}")
        runs.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))  # type: ignore[union-attr]
    return sorted(runs[1:])[1]


def worker_rss_mb(server: int, workers: int) -> list[float]:
    """RSS of each process that serves requests: the server itself with one worker, else its workers."""
    pids = [str(server)] if workers == 1 else subprocess.run(["pgrep", "-P", str(server)], capture_output=True,
                                                              text=True).stdout.split()
    sizes = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"multiprocessing" in cmdline and b"resource_tracker" in cmdline:
            continue
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
    return sizes


def run(workers: int, env: dict[str, str], auth: str) -> tuple[float, list[float]]:
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(OURS_PORT), "--workers",
                               str(workers), "--log-level", "warning"], env={**os.environ, **env}, cwd=ROOT)
    try:
        wait_for(f"http://127.0.0.1:{OURS_PORT}/healthz", server)
        rps = wrk_rps(f"http://127.0.0.1:{OURS_PORT}/oauth2/token", auth)
        return rps, worker_rss_mb(server.pid, workers)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env, auth = prepare_ours(Path(tmp))
        one, one_sizes = run(1, env, auth)
        two, sizes = run(2, env, auth)
        sizes += one_sizes
    print(f"\nclient_credentials, ES256: 1 worker {one:.0f} req/s, 2 workers {two:.0f} req/s "
          f"(x{two / one:.2f}); worker RSS after load: {', '.join(f'{s:.0f} MB' for s in sizes)}")
    return report("scale-out (2 cores shared with wrk and PostgreSQL)", [
        ("throughput, 2 workers / 1 worker", two / one, "x", two / one >= 1.25),
        ("largest worker process RSS", max(sizes), "MB", max(sizes) < 150),
    ])


if __name__ == "__main__":
    sys.exit(main())
