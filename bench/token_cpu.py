"""The broker's token endpoint alone, for comparing two checkouts of the code at the same hour: for the
authorization_code and refresh_token grants, the peak over 5 s (wrk, 16 connections, the broker pinned to core 0),
the broker's CPU time (user + system, so the kernel's part of each round trip counts) per request, and the p99 at
70% of that peak. No peer and no targets (bench/token_endpoint.py has them); about a minute.

    .venv/bin/python -m bench.token_cpu [CHECKOUT]   # CHECKOUT: another tree of the code (default: this one)

Run it alternately for two checkouts (`git archive <commit> | tar -x -C /tmp/x`, with .venv and
bench/node/node_modules linked): on this VM the speed moves by a factor of two within the hour, and figures taken
minutes apart compare, figures of different hours do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.directory import process_cpu  # noqa: E402
from bench.token_endpoint import OURS_PORT, p99_at_70_percent, prepare_ours, scenarios, wait_for, wrk  # noqa: E402


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sso-bench-token-cpu-"))
    env, auth = prepare_ours(tmp, mint=30000)
    server = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "app.cli", "serve", "--port",
                               str(OURS_PORT), "--log-level", "warning"], env={**os.environ, **env}, cwd=ROOT)
    url = f"http://127.0.0.1:{OURS_PORT}/oauth2/token"
    try:
        wait_for(f"http://127.0.0.1:{OURS_PORT}/healthz", server)
        print(f"\n{ROOT}")
        for scenario in scenarios(tmp, "profile"):
            if scenario.name == "client_credentials":  # no database: nothing there to compare
                continue
            scenario.consumed(wrk(url, scenario.env(auth), seconds=1))  # warm-up
            before = process_cpu(server.pid)
            peak = wrk(url, scenario.env(auth))
            cpu_ms = (process_cpu(server.pid) - before) * 1000 / max(1, peak.requests)
            scenario.consumed(peak)
            paced = p99_at_70_percent(url, auth, scenario, peak.rps)
            print(f"  {scenario.name:<20} {peak.rps:7.0f} req/s  CPU {cpu_ms:.3f} ms/request  "
                  f"p99 {peak.p99_ms:.1f} ms; at 70%: {paced.rps:.0f} req/s, p99 {paced.p99_ms:.1f} ms", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
