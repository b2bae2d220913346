"""Benchmark: fetching a workspace's runs and all their tasks, ours vs one request at a time.

Starts the emulator with a synthetic workspace (default 200 runs), 100 ms added latency and
the documented limit of 20 requests/s per token, then, in one run, side by side:

* ours:     ``fetch_run_data``: runs, then every run's tasks and progress concurrently
            (paced at 19 req/s per token, retries)
* baseline: the same requests one at a time with a plain ``httpx.Client``, paging each
            run's tasks with max=100 until a short page (how tw runs dump and nf-aggregate page)

Prints our achieved requests/s as a fraction of the limit, the 429s received, and the
wall-time ratio. Targets: >= 90% of the limit, no request failed, >= 1.8x the baseline.

    python bench/fetch.py [--runs 200] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import time

import httpx

from seqera_analytics import fetch
from seqera_analytics.api import DOCUMENTED_RATE_LIMIT
from seqera_analytics.emulator import Emulator

WS = "synthetic/scale"


def ours(emu: Emulator) -> tuple[float, int, int, int]:
    client = fetch.connect(token=emu.token, endpoint=emu.url)
    emu.reset_counts()
    t0 = time.perf_counter()
    data = fetch.fetch_run_data(WS, client=client, show_progress=False)
    seconds = time.perf_counter() - t0
    client.close()
    return seconds, len(data.runs), len(data.tasks), client.stats.rate_limited


def baseline(emu: Emulator) -> tuple[float, int, int]:
    headers = {"Authorization": f"Bearer {emu.token}"}
    ws_id = emu.workspace_id(WS)
    n_runs = n_tasks = 0
    t0 = time.perf_counter()
    with httpx.Client(base_url=emu.url, headers=headers, timeout=60) as http:
        http.get("/user-info").raise_for_status()
        http.get("/user/{}/workspaces".format(http.get("/user-info").json()["user"]["id"])).raise_for_status()
        run_ids, offset = [], 0
        while True:
            page = http.get("/workflow", params={"workspaceId": ws_id, "max": 100, "offset": offset,
                                                 "attributes": "labels"}).json()["workflows"]
            run_ids += [w["workflow"]["id"] for w in page]
            offset += 100
            if len(page) < 100:
                break
        for rid in run_ids:
            http.get(f"/workflow/{rid}/progress", params={"workspaceId": ws_id}).raise_for_status()
            offset = 0
            while True:
                page = http.get(f"/workflow/{rid}/tasks", params={"workspaceId": ws_id, "max": 100,
                                                                 "offset": offset}).json()["tasks"]
                n_tasks += len(page)
                offset += 100
                if len(page) < 100:
                    break
        n_runs = len(run_ids)
    return time.perf_counter() - t0, n_runs, n_tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    args = ap.parse_args()
    with Emulator(include_real_runs=False, synthetic_runs=args.runs, latency_ms=args.latency_ms,
                  rate_limit=int(DOCUMENTED_RATE_LIMIT)) as emu:
        t_ours, runs, tasks, limited = ours(emu)
        requests = emu.count()
        failed = sum(1 for r in emu.requests if r.status >= 400)
        emu.reset_counts()
        time.sleep(1.1)  # a fresh rate-limit cycle for the baseline
        t_base, b_runs, b_tasks = baseline(emu)
        b_requests = emu.count()
    assert (runs, tasks) == (b_runs, b_tasks), "both must fetch the same data"
    rate = requests / t_ours
    print(f"workspace: {runs} runs, {tasks} tasks; latency {args.latency_ms:.0f} ms; limit "
          f"{DOCUMENTED_RATE_LIMIT:.0f} req/s per token")
    print(f"ours:     {requests} requests in {t_ours:6.1f} s = {rate:5.2f} req/s = "
          f"{rate / DOCUMENTED_RATE_LIMIT:.0%} of the limit; 429s received: {limited}; failed: {failed}")
    print(f"baseline: {b_requests} requests in {t_base:6.1f} s = {b_requests / t_base:5.2f} req/s (one at a time)")
    print(f"speed-up: {t_base / t_ours:.2f}x (target >= 1.8x); utilisation target >= 90%")


if __name__ == "__main__":
    main()
