"""Benchmark: one sync of an organisation of mixed workspaces at the rate limit.

The emulator (100 ms latency, 20 requests/s per token) serves one large synthetic workspace
and many small ones in three organisations; ``sync --all`` runs in a child process (so its
peak RSS is its own and the emulator does not compete with it for the GIL). At two sizes
(the second doubles the runs and the workspaces) it prints:

* requests per finished run against the minimum ceil(tasks/100) per run (target: at most
  +0.05 per run on average, listing and workspace resolution included);
* the share of the 20 requests/s limit used over the whole sync (the pacer runs at 19/s, so
  95% is the ceiling; target >= 93%), and the requests that failed (target: none);
* the sync's peak RSS, which must not grow with the number of workspaces or runs.

    python bench/sync_org.py [--large 400] [--small 11] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile

from seqera_analytics.api import DOCUMENTED_RATE_LIMIT
from seqera_analytics.emulator import Emulator
from seqera_analytics.store import load_runs, load_tasks

ORGS = ("genomics", "clinical", "rnd")

_CHILD = r"""
import json, resource, sys, time
from seqera_analytics import fetch, sync

def peak_rss_kib():
    # VmHWM: the peak of this process image's own memory. ru_maxrss would also count the
    # parent's RSS at the fork (Linux carries the high-water mark across exec), i.e. the
    # emulator's, which grows with the organisation.
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

url, token, cache = sys.argv[1:4]
client = fetch.connect(token=token, endpoint=url)
t0 = time.monotonic()
s = sync(all_workspaces=True, cache=cache, client=client, show_progress=False)
client.close()
print(json.dumps({"requests": s.requests, "seconds": s.seconds, "rate_limited": s.rate_limited,
                  "retries": s.retries, "workspaces": len(s.workspaces), "failed": len(s.failed),
                  "runs_added": s.runs_added, "peak_rss_kib": peak_rss_kib()}))
"""


def one(large: int, small: int, latency_ms: float) -> dict:
    limit = DOCUMENTED_RATE_LIMIT
    with tempfile.TemporaryDirectory() as cache, Emulator(
            include_real_runs=False, synthetic_runs=large, synthetic_workspace=f"{ORGS[0]}/production",
            latency_ms=latency_ms, rate_limit=int(limit)) as emu:
        for i in range(small):
            emu.add_runs(3 + i % 6, f"{ORGS[i % 3]}/project-{i:02d}", status="SUCCEEDED")
        emu.reset_counts()
        out = subprocess.run([sys.executable, "-c", _CHILD, emu.url, emu.token, cache],
                             capture_output=True, text=True, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        tasks = load_tasks(cache=cache, columns=["run_id"]).groupby("run_id").size()
        runs = load_runs(cache=cache, columns=["run_id", "status"])
        finished = runs[runs.status.isin(["SUCCEEDED", "FAILED", "CANCELLED"])]
        minimum = sum(math.ceil(tasks.get(r, 0) / 100) for r in finished.run_id)
        errors = sum(1 for r in emu.requests if r.status >= 400 or r.status == 0)
        got.update(runs=len(runs), finished=len(finished), tasks=int(tasks.sum()), minimum=minimum,
                   served=len(emu.requests), errors=errors,
                   task_pages=emu.count("/workflow/{workflowId}/tasks"))
        return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", type=int, default=400, help="runs in the large workspace (doubled at size 2)")
    ap.add_argument("--small", type=int, default=11, help="small workspaces of 3-8 runs (doubled at size 2)")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    args = ap.parse_args()
    limit = DOCUMENTED_RATE_LIMIT
    results = []
    for size in (1, 2):
        r = one(args.large * size, args.small * size, args.latency_ms)
        results.append(r)
        per_run = r["requests"] / r["finished"]
        floor = r["minimum"] / r["finished"]
        share = r["requests"] / r["seconds"] / limit
        print(f"size {size}: {r['workspaces']} workspaces, {r['runs']} runs, {r['tasks']} tasks; "
              f"{r['requests']} requests in {r['seconds']:.1f} s")
        print(f"  requests per finished run {per_run:.3f} vs ceil(tasks/100) {floor:.3f}: "
              f"+{per_run - floor:.3f}/run (target <= +0.05); task pages {r['task_pages']} vs minimum {r['minimum']}")
        print(f"  {share:.1%} of the {limit:.0f} requests/s limit over the whole sync (target >= 93%); "
              f"failed requests {r['errors']} (429s {r['rate_limited']}, retries {r['retries']}); "
              f"workspaces failed {r['failed']}")
        print(f"  sync peak RSS {r['peak_rss_kib'] / 1024:.0f} MiB")
    a, b = results
    print(f"size 2 / size 1: runs x{b['runs'] / a['runs']:.2f}, workspaces x{b['workspaces'] / a['workspaces']:.2f}, "
          f"peak RSS x{b['peak_rss_kib'] / a['peak_rss_kib']:.2f}")


if __name__ == "__main__":
    main()
