"""Benchmark: fetching a workspace's runs and all their tasks, ours vs one request at a time.

Starts the emulator (in its own process) with a synthetic workspace (default 200 runs),
100 ms added latency and the documented limit of 20 requests/s per token, then, in one run,
side by side:

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
from _server import emulator_process

from seqera_analytics import fetch
from seqera_analytics.api import DOCUMENTED_RATE_LIMIT

WS = "synthetic/scale"


def ours(url: str, token: str) -> tuple[float, int, int, int, int, int]:
    """(seconds, runs, tasks, requests, 429s, failed requests)."""
    client = fetch.connect(token=token, endpoint=url)
    t0 = time.perf_counter()
    data = fetch.fetch_run_data(WS, client=client, show_progress=False)
    seconds = time.perf_counter() - t0
    client.close()
    st = client.stats
    failed = sum(n for status, n in st.by_status.items() if status >= 400 or status == 0)
    return seconds, len(data.runs), len(data.tasks), st.requests, st.rate_limited, failed


def baseline(url: str, token: str) -> tuple[float, int, int, int]:
    """(seconds, runs, tasks, requests)."""
    headers = {"Authorization": f"Bearer {token}"}
    n_runs = n_tasks = requests = 0

    def get(path: str, **params: object) -> dict:
        nonlocal requests
        requests += 1
        r = http.get(path, params=params)
        r.raise_for_status()
        return r.json()

    t0 = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        user = get("/user-info")["user"]["id"]
        ws_id = next(w["workspaceId"] for w in get(f"/user/{user}/workspaces")["orgsAndWorkspaces"]
                     if f"{w['orgName']}/{w['workspaceName']}" == WS)
        run_ids, offset = [], 0
        while True:
            page = get("/workflow", workspaceId=ws_id, max=100, offset=offset, attributes="labels")["workflows"]
            run_ids += [w["workflow"]["id"] for w in page]
            offset += 100
            if len(page) < 100:
                break
        for rid in run_ids:
            get(f"/workflow/{rid}/progress", workspaceId=ws_id)
            offset = 0
            while True:
                page = get(f"/workflow/{rid}/tasks", workspaceId=ws_id, max=100, offset=offset)["tasks"]
                n_tasks += len(page)
                offset += 100
                if len(page) < 100:
                    break
        n_runs = len(run_ids)
    return time.perf_counter() - t0, n_runs, n_tasks, requests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    args = ap.parse_args()
    with emulator_process("--no-real-runs", "--synthetic-runs", str(args.runs), "--latency-ms",
                          str(args.latency_ms), "--rate-limit", str(int(DOCUMENTED_RATE_LIMIT))) as (url, token):
        # Warm the server (it generates synthetic runs on first use), then measure both.
        ours(url, token)
        time.sleep(1.1)
        t_ours, runs, tasks, requests, limited, failed = ours(url, token)
        time.sleep(1.1)  # a fresh rate-limit cycle for the baseline
        t_base, b_runs, b_tasks, b_requests = baseline(url, token)
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
