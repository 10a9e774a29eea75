"""The broker's CPU per token request, counted in instructions, for each grant of bench/token_endpoint.py.

The same server, database and credentials as that benchmark (PostgreSQL, ES256 by default), with the broker
under valgrind's callgrind (bench/callgrind.py) and one request at a time on a keep-alive connection: for each
grant, BENCH_COST_WARMUP (20) requests, then BENCH_COST_REQUESTS (200) counted and divided. Throughput on this
shared VM moves by a factor of two within the hour; instructions do not, so a change to the grants is measured
here first. About three minutes; not in bench/run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.callgrind import CallgrindServer  # noqa: E402
from bench.directory import wait_until_serving  # noqa: E402
from bench.token_endpoint import GRANTS, OURS_PORT, Scenario, prepare_ours, scenarios  # noqa: E402

WARMUP = int(os.environ.get("BENCH_COST_WARMUP", "20"))
REQUESTS = int(os.environ.get("BENCH_COST_REQUESTS", "200"))


def bodies(scenario: Scenario) -> list[str]:
    if scenario.body:
        return [scenario.body] * (WARMUP + REQUESTS)
    assert scenario.template and scenario.file
    return [scenario.template.replace("{}", value) for value in scenario.file.read_text().split()]


def post_all(http: httpx.Client, forms: list[str]) -> None:
    for form in forms:
        response = http.post("/oauth2/token", content=form,
                             headers={"content-type": "application/x-www-form-urlencoded"})
        if response.status_code != 200:
            raise RuntimeError(f"the token endpoint answered {response.status_code}: {response.text}")


def main() -> int:
    issuer = f"http://127.0.0.1:{OURS_PORT}"
    per_request: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env, auth = prepare_ours(tmp, mint=WARMUP + REQUESTS)
        with CallgrindServer(OURS_PORT, {**os.environ, **env}) as server:
            wait_until_serving(issuer, seconds=600)  # start-up under valgrind takes a minute or two
            with httpx.Client(base_url=issuer, headers={"authorization": f"Basic {auth}"}, timeout=60) as http:
                for scenario in scenarios(tmp, "profile"):
                    forms = bodies(scenario)
                    post_all(http, forms[:WARMUP])
                    server.zero()
                    post_all(http, forms[WARMUP:WARMUP + REQUESTS])
                    per_request[scenario.name] = server.count() / REQUESTS
        print(f"\nbroker instructions per token request ({REQUESTS} counted after {WARMUP}, one at a time):")
        for grant in GRANTS:
            print(f"  {grant:<20} {per_request[grant] / 1e6:6.2f} million")
        print(f"callgrind's dumps, for callgrind_annotate: {server.dumps()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
