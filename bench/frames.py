"""Benchmark: raw task-page bytes -> typed tasks DataFrame.

Builds 2,000 pages of 100 tasks (200,000 tasks resampled from the bundled real runs, ~2 KB
each with their scripts) exactly as GET /workflow/{id}/tasks sends them, then times, side
by side in fresh processes (so peak memory is per method):

* ours:     msgspec decode into TaskRecord structs (the client's path) + frames.tasks_table
            + to_pandas (typed: timestamps, durations, nullable ints)
* baseline: json.loads per page + pandas.json_normalize (untyped: strings, floats, objects)

Prints the time ratio, tasks/s and peak RSS of each. Target: >= 5x, and far above the
2,000 tasks/s that the 20 req/s rate limit allows to arrive.

    python bench/frames.py [--pages 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_pages(n_pages: int, path: Path, seed: int = 0) -> None:
    from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles

    tasks = [t for b in iter_run_bundles(bundled_runs_dir()) for t in b.tasks]
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        for p in range(n_pages):
            page = [{"task": dict(rng.choice(tasks), taskId=p * 100 + i + 1)} for i in range(100)]
            body = json.dumps({"tasks": page, "total": n_pages * 100}, separators=(",", ":")).encode()
            fh.write(len(body).to_bytes(8, "little") + body)


def read_pages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    pages, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 8], "little")
        pages.append(data[i + 8:i + 8 + n])
        i += 8 + n
    return pages


def ours(pages: list[bytes]) -> int:
    import msgspec

    from seqera_analytics import frames as F
    from seqera_analytics.api._client import _tasks_page_type

    decoder = msgspec.json.Decoder(_tasks_page_type(F.TaskRecord))
    records = []
    for body in pages:
        records.extend(item.task for item in decoder.decode(body).tasks)
    df = F.to_pandas(F.tasks_table(records, run_id="bench", workspace_id=1))
    return len(df)


def baseline(pages: list[bytes]) -> int:
    import pandas as pd

    records = []
    for body in pages:
        records.extend(t["task"] for t in json.loads(body)["tasks"])
    df = pd.json_normalize(records)
    return len(df)


def child(method: str, path: Path) -> None:
    import msgspec  # noqa: F401  imports are not what is measured
    import pandas  # noqa: F401

    from seqera_analytics import frames  # noqa: F401
    from seqera_analytics.api import _client  # noqa: F401

    pages = read_pages(path)
    gc.collect()
    t0 = time.perf_counter()
    rows = {"ours": ours, "baseline": baseline}[method](pages)
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"method": method, "rows": rows, "seconds": seconds, "peak_mib": peak_kib / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pages.bin"
        make_pages(args.pages, data)
        size = data.stat().st_size
        print(f"{args.pages} pages, {args.pages * 100} tasks, {size / 1e6:.0f} MB of JSON "
              f"({size / (args.pages * 100):.0f} B/task)")
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for method in ("ours", "baseline"):  # interleaved: the same machine state for both
                out = subprocess.run([sys.executable, __file__, "--child", method, "--data", str(data)],
                                     check=True, capture_output=True, text=True, env=os.environ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                if method not in best or r["seconds"] < best[method]["seconds"]:
                    best[method] = r
    o, b = best["ours"], best["baseline"]
    assert o["rows"] == b["rows"] == args.pages * 100
    print(f"ours:     {o['seconds']:6.2f} s  {o['rows'] / o['seconds']:>10,.0f} tasks/s  peak RSS {o['peak_mib']:,.0f} MiB "
          "(typed DataFrame)")
    print(f"baseline: {b['seconds']:6.2f} s  {b['rows'] / b['seconds']:>10,.0f} tasks/s  peak RSS {b['peak_mib']:,.0f} MiB "
          "(json.loads + json_normalize, untyped)")
    print(f"speed-up: {b['seconds'] / o['seconds']:.1f}x (target >= 5x); ours is "
          f"{o['rows'] / o['seconds'] / 2000:.0f}x the 2,000 tasks/s the rate limit can deliver")


if __name__ == "__main__":
    main()
