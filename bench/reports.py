"""Benchmark: reports on the query engine against a hand-written DuckDB query, and the
Explorer's latency, on synthetic caches of real-shaped tasks.

Caches are resampled from the bundled real runs (every column, real values) and written
through the cache writer one partition (workspace x month) per commit, so building even the
50,000,000-task cache stays within about a GiB of memory. They are kept in ``--cache-dir``
and reused by later runs.

Report mode (default), per size (``--sizes``, default 5M and 50M tasks), best of
``--repeat`` (3) per method, each run in a fresh process started by this small one (so a
peak RSS is that method's own: ``ru_maxrss`` survives ``exec``, and a parent that had built
a cache would hand its own peak to every child):

* ours:   ``reports.cost_report(cache=..., period="month", by=["pipeline", "user"])``,
          the monthly cost by pipeline and user straight from the cache;
* duckdb: the same aggregation written by hand as one DuckDB SQL query over the same files.

Both children import the same modules before the clock starts. The results are checked to
agree; the printed lines give our time over DuckDB's and both peak RSS figures.

Explorer mode (``--explorer``): a 100,000-run, 10,000,000-task cache; the time to open the
Explorer, then the latency of filter changes (pipeline, user) on the default view.

    python bench/reports.py [--sizes 5000000,50000000] [--repeat 3] [--cache-dir DIR]
    python bench/reports.py --explorer [--explorer-size 100000,10000000] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SQL = """
SET TimeZone = 'UTC';
WITH t AS (
    SELECT t.run_id, t.status, t.cost, t.cpus,
           epoch_ms(t.complete) - epoch_ms(t.start) AS wall_ms,
           coalesce(t.complete, t.start, t.submit, r.submit) AS attributed,
           r.project_name AS pipeline, r.user_name AS "user"
    FROM read_parquet('{cache}/tasks/**/*.parquet', hive_partitioning = true) AS t
    LEFT JOIN read_parquet('{cache}/runs/**/*.parquet', hive_partitioning = true) AS r
        USING (run_id)
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
       sum(cpus * wall_ms) / 3600000.0 AS cpu_hours
FROM t
GROUP BY ALL
ORDER BY period, pipeline, "user"
"""

PIPELINES = ("nf-core/sarek", "nf-core/rnaseq", "nf-core/methylseq", "example-lab/sarek")
USERS = tuple(f"analyst-{i}" for i in range(1, 7))


# ------------------------------------------------------------------------------ the caches
def build_cache(path: Path, n_tasks: int, n_runs: int, months: int, workspaces: int,
                seed: int = 0) -> None:
    """``n_tasks`` tasks in ``n_runs`` runs over ``months`` months and ``workspaces``
    workspaces, resampled from the real tasks, one partition per commit."""
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
    run_submit = base_runs["submit"].cast(pa.int64()).to_numpy()
    owner = np.array([run_of[r] for r in base["run_id"].to_pylist()])
    # Each real task's times as offsets from its own run's submission.
    offsets = {c: pc.subtract(base[c].cast(pa.int64()), pa.array(run_submit[owner]))
               for c in ("submit", "start", "complete")}
    sizes = rng.multinomial(n_tasks - n_runs, np.full(n_runs, 1 / n_runs)) + 1
    start = np.datetime64("2024-05-01", "ms").astype(np.int64)
    month_ms = 30 * 86_400_000
    submit = np.sort(start + rng.integers(0, months * month_ms, n_runs))
    ws_ids = np.arange(101, 101 + workspaces)
    ws = rng.choice(ws_ids, n_runs)
    month_of_run = (submit - start) // month_ms
    cache = Cache(path)
    with cache.writer() as w:
        for wid in ws_ids:
            w.set_workspace_state(WorkspaceState(int(wid), f"bench/ws{wid}", "bench", complete=True))
        for m in range(months):
            for wid in ws_ids:
                runs_here = np.flatnonzero((month_of_run == m) & (ws == wid))
                if not len(runs_here):
                    continue
                here = sizes[runs_here]
                n_here = int(here.sum())
                local_first = np.concatenate([[0], np.cumsum(here)[:-1]])
                run_index = np.repeat(runs_here, here)
                pick = rng.integers(0, base.num_rows, n_here)
                tasks = base.take(pa.array(pick))
                ids = np.char.add("r", np.char.zfill(run_index.astype(str), 8))
                cols = {
                    "run_id": pa.array(ids),
                    "workspace_id": pa.array(np.full(n_here, wid), pa.int64()),
                    "task_id": pa.array(np.arange(n_here) - np.repeat(local_first, here) + 1,
                                        pa.int64()),
                    "cost": pc.multiply(tasks["cost"], pa.array(rng.uniform(0.5, 1.5, n_here))),
                }
                for c in ("submit", "start", "complete"):
                    off = offsets[c].take(pa.array(pick))
                    cols[c] = pc.add(off, pa.array(submit[run_index])).cast(pa.timestamp("ms", tz="UTC"))
                for name, arr in cols.items():
                    tasks = tasks.set_column(tasks.schema.get_field_index(name),
                                             F.TASKS[name].arrow_field(), arr)
                template = base_runs.take(pa.array(rng.integers(0, base_runs.num_rows, len(runs_here))))
                run_ids = pa.array(np.char.add("r", np.char.zfill(runs_here.astype(str), 8)))
                # A run spans its own tasks (a real run's times would not hold them: its
                # tasks would be longer than the run, which the record checks flag).
                span = pa.table({"run_id": tasks["run_id"], "start": tasks["start"],
                                 "complete": tasks["complete"]}).group_by("run_id").aggregate(
                    [("start", "min"), ("complete", "max")])
                at = pc.index_in(run_ids, value_set=span["run_id"])
                run_start, run_complete = span["start_min"].take(at), span["complete_max"].take(at)
                counted = {}  # and its counters count them
                for col, status in (("tasks_succeeded", "COMPLETED"), ("tasks_failed", "FAILED"),
                                    ("tasks_cached", "CACHED")):
                    mine = tasks.filter(pc.equal(tasks["status"], status))
                    n = pa.table({"run_id": mine["run_id"]}).group_by("run_id").aggregate([("run_id", "count")])
                    got = n["run_id_count"].take(pc.index_in(run_ids, value_set=n["run_id"]))
                    counted[col] = pc.fill_null(got, 0).cast(pa.int64())
                run_cols = {
                    **counted,
                    "run_id": run_ids,
                    "start": run_start,
                    "complete": run_complete,
                    "duration": pc.subtract(run_complete.cast(pa.int64()), run_start.cast(pa.int64()))
                    .cast(pa.duration("ms")),
                    "workspace_id": pa.array(np.full(len(runs_here), wid), pa.int64()),
                    "workspace": pa.array([f"bench/ws{wid}"] * len(runs_here)),
                    "project_name": pa.array(rng.choice(PIPELINES, len(runs_here))),
                    "user_name": pa.array(rng.choice(USERS, len(runs_here))),
                    "submit": pa.array(submit[runs_here]).cast(pa.timestamp("ms", tz="UTC")),
                }
                for name, arr in run_cols.items():
                    template = template.set_column(template.schema.get_field_index(name),
                                                   F.RUNS[name].arrow_field(), arr)
                w.put_runs(template, tasks)
                w.commit()


def ensure_cache(cache_dir: Path, name: str, **spec: int) -> Path:
    path = cache_dir / name
    if not (path / "state.json").exists():
        t0 = time.perf_counter()
        # In its own process: this one stays small, so its children's peak RSS is theirs.
        subprocess.run([sys.executable, __file__, "--build", str(path), json.dumps(spec)],
                       check=True)
        size = sum(p.stat().st_size for p in path.rglob("*.parquet"))
        print(f"built {name}: {spec} in {time.perf_counter() - t0:.0f} s, {size / 2**20:,.0f} MiB")
    return path


# ----------------------------------------------------------------------------- report mode
def ours(cache: str) -> object:
    from seqera_analytics import reports

    return reports.cost_report(cache=cache, period="month", by=["pipeline", "user"])


def duck(cache: str) -> object:
    import duckdb

    con = duckdb.connect()
    *setup, query = [q for q in SQL.format(cache=cache).split(";") if q.strip()]
    for q in setup:
        con.execute(q)
    return con.execute(query).arrow().read_all().to_pandas()


def child(method: str, cache: str) -> None:
    import duckdb  # noqa: F401  imports are not what is measured
    import ibis.backends.duckdb  # noqa: F401
    import pandas  # noqa: F401

    from seqera_analytics import reports  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    df = {"ours": ours, "duckdb": duck}[method](cache)
    seconds = time.perf_counter() - t0
    totals = {"rows": len(df), "cost": float(df["cost"].sum()), "tasks": int(df["tasks"].sum()),
              "runs": int(df["runs"].sum()), "cached_cost": float(df["cached_cost"].sum()),
              "failed_cost": float(df["failed_cost"].sum()), "cpu_hours": float(df["cpu_hours"].sum())}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": method, "seconds": seconds, "peak_mib": peak,
                      "after_imports_mib": before, **totals}))


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                         text=True, env=os.environ).stdout
    return json.loads(out.strip().splitlines()[-1])


def report_mode(cache_dir: Path, sizes: list[int], repeat: int) -> None:
    for n in sizes:
        cache = ensure_cache(cache_dir, f"tasks-{n}", n_tasks=n, n_runs=max(1, n // 125),
                             months=24, workspaces=4)
        best: dict[str, dict] = {}
        for _ in range(repeat):
            for method in ("ours", "duckdb"):
                r = run_child("--child", method, str(cache))
                if method not in best or r["seconds"] < best[method]["seconds"]:
                    best[method] = r
        o, d = best["ours"], best["duckdb"]
        for key in ("rows", "tasks", "runs"):
            assert o[key] == d[key], f"{key} differ: ours {o[key]} vs duckdb {d[key]}"
        for key in ("cost", "cached_cost", "failed_cost", "cpu_hours"):
            assert abs(o[key] - d[key]) <= 1e-6 * max(1.0, abs(d[key])), (key, o[key], d[key])
        print(f"{n:,} tasks: same result ({o['rows']} rows, {o['runs']:,} run-rows, "
              f"${o['cost']:,.2f}); best of {repeat}")
        print(f"  time:     ours {o['seconds']:6.2f} s, duckdb {d['seconds']:6.2f} s: "
              f"ours / duckdb = {o['seconds'] / d['seconds']:.2f} (target <= 1.2)")
        print(f"  peak RSS: ours {o['peak_mib']:,.0f} MiB, duckdb {d['peak_mib']:,.0f} MiB: "
              f"ours / duckdb = {o['peak_mib'] / d['peak_mib']:.2f} (target <= 1.5; < 2048 MiB "
              f"at 50M); both after the same imports: {o['after_imports_mib']:,.0f} MiB")


# --------------------------------------------------------------------------- explorer mode
def explorer_child(cache: str) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    from seqera_analytics.widgets import Explorer

    t0 = time.perf_counter()
    ex = Explorer(cache)
    opened = time.perf_counter() - t0
    changes = [{"pipeline": p} for p in PIPELINES] + [{"user": u} for u in USERS[:4]]
    latencies = []
    for change in changes:
        t0 = time.perf_counter()
        ex.set_filters(**change)
        latencies.append(time.perf_counter() - t0)
        assert ex.message is None, ex.message  # a view is shown, and nothing left out
    t0 = time.perf_counter()
    ex.set_filters(pipeline=None, user=None, since="2024-01-01")
    history = time.perf_counter() - t0
    print(json.dumps({"open": opened, "latencies": latencies, "history": history,
                      "window": [ex.filters["since"], ex.filters["until"]],
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def explorer_mode(cache_dir: Path, n_runs: int, n_tasks: int) -> None:
    name = "explorer-10M" if (n_runs, n_tasks) == (100_000, 10_000_000) else f"explorer-{n_tasks}"
    cache = ensure_cache(cache_dir, name, n_tasks=n_tasks, n_runs=n_runs, months=18, workspaces=2)
    r = run_child("--explorer-child", str(cache))
    lat = r["latencies"]
    print(f"explorer on {n_runs:,} runs, {n_tasks:,} tasks: open {r['open']:.2f} s; a filter change "
          f"on the default view (cost by month and pipeline, the last 3 months): median "
          f"{statistics.median(lat):.2f} s, max {max(lat):.2f} s over {len(lat)} changes "
          f"(target < 1 s); widening to all history {r['history']:.2f} s; peak RSS "
          f"{r['peak_mib']:,.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000000,50000000", help="comma-separated task counts")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache-dir", type=Path, default=Path("bench/out/caches"),
                    help="where the synthetic caches are kept (reused)")
    ap.add_argument("--explorer", action="store_true", help="Explorer mode")
    ap.add_argument("--explorer-size", default="100000,10000000", metavar="RUNS,TASKS",
                    help="Explorer mode cache size (default 100000,10000000)")
    ap.add_argument("--child", choices=["ours", "duckdb"], help=argparse.SUPPRESS)
    ap.add_argument("--explorer-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.build:
        build_cache(Path(args.build[0]), **json.loads(args.build[1]))
    elif args.child:
        child(args.child, rest[0])
    elif args.explorer_child:
        explorer_child(rest[0])
    elif args.explorer:
        n_runs, n_tasks = (int(x) for x in args.explorer_size.split(","))
        explorer_mode(args.cache_dir, n_runs, n_tasks)
    else:
        report_mode(args.cache_dir, [int(s) for s in args.sizes.split(",")], args.repeat)


if __name__ == "__main__":
    main()
