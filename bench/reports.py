"""Benchmark: the monthly cost report by pipeline and user on a 5,000,000-task cache.

Builds a synthetic cache (default 5,000,000 tasks in 40,000 runs over 18 months, resampled
from the bundled real runs) written straight to Parquet through the cache writer, then
times side by side, each in a fresh process (so peak memory is per method), best of 3:

* ours:   ``load_runs`` + ``load_tasks`` (only the columns the report needs) from the cache
          + ``reports.cost_report(period="month", by=["pipeline", "user"])``
* duckdb: the same aggregation as one SQL query over the same Parquet files

and checks that both give the same numbers. Target: ours within 2x of DuckDB.

    python bench/reports.py [--tasks 5000000] [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEEDED = ["run_id", "status", "cost", "cpus", "submit", "start", "complete"]

SQL = """
SET TimeZone = 'UTC';
WITH t AS (
    SELECT t.run_id, t.status, t.cost, t.cpus, t.start, t.complete,
           coalesce(t.complete, t.start, t.submit, r.submit) AS attributed,
           r.project_name AS pipeline, r.user_name AS "user"
    FROM read_parquet('{cache}/tasks/**/*.parquet', hive_partitioning = true) AS t
    JOIN read_parquet('{cache}/runs/**/*.parquet', hive_partitioning = true) AS r USING (run_id)
)
SELECT date_trunc('month', attributed) AS period, pipeline, "user",
       sum(cost) AS cost,
       coalesce(sum(cost) FILTER (WHERE status = 'CACHED'), 0) AS cached_cost,
       coalesce(sum(cost) FILTER (WHERE status = 'FAILED'), 0) AS failed_cost,
       count(*) AS tasks,
       count(*) FILTER (WHERE status = 'CACHED') AS tasks_cached,
       count(*) FILTER (WHERE status = 'FAILED') AS tasks_failed,
       count(*) FILTER (WHERE cost IS NULL) AS tasks_without_cost,
       count(DISTINCT run_id) AS runs,
       sum(cpus * epoch(complete - start)) / 3600 AS cpu_hours
FROM t
GROUP BY ALL
ORDER BY period, pipeline, "user"
"""


def build_cache(path: Path, n_tasks: int, seed: int = 0) -> None:
    """Resample the real tasks into ``n_tasks`` tasks of ~125-task runs over 18 months."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from seqera_analytics import frames as F
    from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
    from seqera_analytics.fetch import bundle_tables
    from seqera_analytics.store import Cache, WorkspaceState

    rng = np.random.default_rng(seed)
    parts = [bundle_tables(b) for b in iter_run_bundles(bundled_runs_dir())]
    base = F.concat_tables(F.TASKS, [p["tasks"] for p in parts])
    base_runs = F.concat_tables(F.RUNS, [p["runs"] for p in parts])
    run_of = {r: i for i, r in enumerate(base_runs["run_id"].to_pylist())}
    # Each real task's times as offsets from its own run's submission.
    run_submit = base_runs["submit"].cast(pa.int64()).to_numpy()
    owner = np.array([run_of[r] for r in base["run_id"].to_pylist()])
    offsets = {c: pc.subtract(base[c].cast(pa.int64()), pa.array(run_submit[owner])) for c in ("submit", "start", "complete")}

    n_runs = max(1, n_tasks // 125)
    sizes = rng.multinomial(n_tasks - n_runs, np.full(n_runs, 1 / n_runs)) + 1
    run_index = np.repeat(np.arange(n_runs), sizes)
    start_ms = int(np.datetime64("2024-05-01", "ms").astype(np.int64))
    span_ms = 18 * 30 * 86_400_000
    submit = start_ms + rng.integers(0, span_ms, n_runs)
    pipelines = np.array(["nf-core/sarek", "nf-core/rnaseq", "nf-core/methylseq", "example-lab/sarek"])
    users = np.array([f"analyst-{i}" for i in range(1, 7)])
    ws = rng.choice([101, 102], n_runs)

    pick = rng.integers(0, base.num_rows, n_tasks)
    tasks = base.take(pa.array(pick))
    scale = rng.uniform(0.5, 1.5, n_tasks)
    cols = {
        "run_id": pa.array(np.char.add("r", np.char.zfill(run_index.astype(str), 7))),
        "workspace_id": pa.array(ws[run_index], pa.int64()),
        "task_id": pa.array(np.concatenate([np.arange(1, s + 1) for s in sizes]), pa.int64()),
        "cost": pc.multiply(tasks["cost"], pa.array(scale)),
    }
    for c in ("submit", "start", "complete"):
        off = offsets[c].take(pa.array(pick))
        cols[c] = pc.add(off, pa.array(submit[run_index])).cast(pa.timestamp("ms", tz="UTC"))
    for name, arr in cols.items():
        tasks = tasks.set_column(tasks.schema.get_field_index(name), F.TASKS[name].arrow_field(), arr)

    template = base_runs.take(pa.array(rng.integers(0, base_runs.num_rows, n_runs)))
    run_cols = {
        "run_id": pa.array(np.char.add("r", np.char.zfill(np.arange(n_runs).astype(str), 7))),
        "workspace_id": pa.array(ws, pa.int64()),
        "project_name": pa.array(rng.choice(pipelines, n_runs)),
        "user_name": pa.array(rng.choice(users, n_runs)),
        "submit": pa.array(submit).cast(pa.timestamp("ms", tz="UTC")),
    }
    for name, arr in run_cols.items():
        template = template.set_column(template.schema.get_field_index(name), F.RUNS[name].arrow_field(), arr)
    cache = Cache(path)
    with cache.writer() as w:
        w.put_runs(template, tasks)
        for wid in (101, 102):
            w.set_workspace_state(WorkspaceState(wid, f"bench/ws{wid}", "bench", complete=True))
        w.commit()


def ours(cache: str) -> object:
    from seqera_analytics import reports
    from seqera_analytics.store import load_runs, load_tasks

    runs = load_runs(cache=cache)
    tasks = load_tasks(cache=cache, columns=NEEDED)
    return reports.cost_report(tasks, runs, period="month", by=["pipeline", "user"])


def duck(cache: str) -> object:
    import duckdb

    con = duckdb.connect()
    *setup, query = [q for q in SQL.format(cache=cache).split(";") if q.strip()]
    for q in setup:
        con.execute(q)
    return con.execute(query).df()


def child(method: str, cache: str) -> None:
    import duckdb  # noqa: F401  imports are not what is measured
    import pandas  # noqa: F401

    from seqera_analytics import reports  # noqa: F401
    from seqera_analytics import store  # noqa: F401

    t0 = time.perf_counter()
    df = {"ours": ours, "duckdb": duck}[method](cache)
    seconds = time.perf_counter() - t0
    totals = {"rows": len(df), "cost": float(df["cost"].sum()), "tasks": int(df["tasks"].sum()),
              "runs": int(df["runs"].sum()), "cached_cost": float(df["cached_cost"].sum()),
              "failed_cost": float(df["failed_cost"].sum()), "cpu_hours": float(df["cpu_hours"].sum())}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": method, "seconds": seconds, "peak_mib": peak, **totals}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, help="reuse/keep the synthetic cache here")
    ap.add_argument("--child", choices=["ours", "duckdb"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, str(args.cache))
        return
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        if not (cache / "state.json").exists():
            t0 = time.perf_counter()
            build_cache(cache, args.tasks)
            print(f"built a {args.tasks:,}-task cache in {time.perf_counter() - t0:.0f} s at {cache}")
        size = sum(p.stat().st_size for p in cache.rglob("*.parquet"))
        print(f"cache: {size / 2**20:.0f} MiB of Parquet")
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for method in ("ours", "duckdb"):
                out = subprocess.run([sys.executable, __file__, "--child", method, "--cache", str(cache)],
                                     check=True, capture_output=True, text=True, env=os.environ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                if method not in best or r["seconds"] < best[method]["seconds"]:
                    best[method] = r
    o, d = best["ours"], best["duckdb"]
    for key in ("rows", "tasks", "runs"):
        assert o[key] == d[key], f"{key} differ: ours {o[key]} vs duckdb {d[key]}"
    for key in ("cost", "cached_cost", "failed_cost", "cpu_hours"):
        assert abs(o[key] - d[key]) <= 1e-6 * max(1.0, abs(d[key])), f"{key} differ: {o[key]} vs {d[key]}"
    print(f"same result: {o['rows']} rows, {o['tasks']:,} tasks, ${o['cost']:,.2f}")
    print(f"ours:   {o['seconds']:6.2f} s  peak RSS {o['peak_mib']:,.0f} MiB (Parquet read + cost_report)")
    print(f"duckdb: {d['seconds']:6.2f} s  peak RSS {d['peak_mib']:,.0f} MiB (one SQL query)")
    print(f"ratio:  ours / duckdb = {o['seconds'] / d['seconds']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
