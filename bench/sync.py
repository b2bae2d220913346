"""Benchmark: the cache's sync on a synthetic workspace (default 2,000 runs).

Against the emulator (100 ms latency, 20 requests/s per token), prints for one run:

* the first sync: requests, wall time, achieved requests/s as a share of the limit, and
  its requests per run against the minimum ceil(tasks/100) per run (target: at most
  ceil(tasks/100) + 2, with >= 90% of the limit used);
* a re-sync with nothing changed (target: <= 2 requests);
* a re-sync after 20 new runs (only those runs' tasks are fetched);
* the time to read every cached task back from Parquet.

    python bench/sync.py [--runs 2000] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from seqera_analytics import fetch
from seqera_analytics.api import DOCUMENTED_RATE_LIMIT
from seqera_analytics.emulator import Emulator
from seqera_analytics.store import load_runs, load_tasks
from seqera_analytics import sync

WS = "synthetic/scale"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--new-runs", type=int, default=20)
    args = ap.parse_args()
    limit = DOCUMENTED_RATE_LIMIT
    with tempfile.TemporaryDirectory() as cache, Emulator(
            include_real_runs=False, synthetic_runs=args.runs, latency_ms=args.latency_ms,
            rate_limit=int(limit)) as emu:
        client = fetch.connect(token=emu.token, endpoint=emu.url)

        def timed_sync(label: str) -> None:
            emu.reset_counts()
            s = sync(WS, cache=cache, client=client, show_progress=False)
            tasks_req = emu.count("/workflow/{workflowId}/tasks")
            print(f"{label:<28} {s.requests:6d} requests ({emu.count(status=429)} x 429) in "
                  f"{s.seconds:7.1f} s = {s.requests / s.seconds:5.2f} req/s "
                  f"({s.requests / s.seconds / limit:4.0%} of the limit); runs added {s.runs_added}, "
                  f"updated {s.runs_updated}; task pages fetched {tasks_req}")
            return s

        first = timed_sync("first sync")
        tasks = load_tasks(cache=cache, columns=["run_id"])
        per_run = tasks.groupby("run_id").size()
        runs = load_runs(cache=cache)
        minimum = sum(math.ceil(per_run.get(r, 0) / 100) for r in runs.run_id)
        print(f"{'':<28} {len(runs)} runs, {len(tasks)} tasks: {first.requests / len(runs):.2f} requests/run; "
              f"minimum ceil(tasks/100) = {minimum / len(runs):.2f}/run, budget +2 = "
              f"{(minimum + 2 * len(runs)) / len(runs):.2f}/run")
        timed_sync("re-sync, nothing changed")
        emu.add_runs(args.new_runs, workspace=WS)
        timed_sync(f"re-sync after {args.new_runs} new runs")
        client.close()
        t0 = time.perf_counter()
        everything = load_tasks(cache=cache)
        print(f"{'read all tasks from Parquet':<28} {len(everything)} tasks in {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
