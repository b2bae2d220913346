"""Benchmark: importing an AWS Cost and Usage Report (CUR 2.0) against one DuckDB query
doing the same join over the same files.

A synthetic CUR 2.0 export of ``--lines`` line items (default 10,000,000) is written as 8
Parquet files (zstd, row groups of 131,072 rows), generated in chunks with numpy and
pyarrow so the generator itself stays small. Its shape: ~95% of the lines are tagged ECS
task-hours (``resource_tags`` a MAP<string, string> with ``user_unique_run_id`` (one of
~50,000 14-character base62 run ids), ``user_task_hash`` (32 hex), ``user_pipeline_process``
and ``user_pipeline_tag``), each task spanning 1-20 hourly lines (~1.8M tasks at 10M
lines): mostly split-cost-allocation lines of EC2-backed tasks (``line_item_unblended_cost``
0, ``split_line_item_split_cost`` and ``_unused_cost`` set, the parent instance id), some
Fargate lines (unblended cost, no split); the other ~5% are untagged EC2 and S3 usage, Tax
and Credit. Beside it a cache as a sync would have left it, its runs and tasks (``run_id``,
``hash`` as ``ab/cdef12``, ``workdir`` ending in the full hash as ``ab/<30 hex>``, the
estimated ``cost``), one row per task, ~1% of the billed tasks missing and ~2% unbilled
extras. All of it is kept in ``--data-dir`` (reused) or a temp dir.

Best of ``--repeat`` (3) per method, each in a fresh child process started by this small one
(its peak RSS is the child's own ``VmHWM``: ``ru_maxrss`` would carry the parent's over
``exec``), both after the same imports:

* ours:   ``billing.import_cur(paths, cache=...)`` into a copy of a cache holding the
          tasks, then ``reports.reconcile_billing(per="run", period=None)`` on it;
* duckdb: one DuckDB query (fresh connection, default threads) over the same files: the
          run id and task hash out of the tag map, billed = coalesce(split + unused,
          unblended), used / idle / billed per (run, task), joined to the tasks on run id
          and full hash, per-run totals of used, idle, billed and the estimate, fetched
          as Arrow.

The per-run billed totals must agree to the cent (used, idle and the estimate are compared
too). Targets: ours <= 1.5x DuckDB's time, and a peak RSS <= 1 GiB. For ours it also prints
the time and peak RSS after each phase and the import's three slowest SQL statements. A
method still running after ``--timeout`` seconds is stopped and reported with its peak RSS
so far and the statement it was in; a failing one with its error.

    python bench/cur.py [--lines 10000000] [--repeat 3] [--timeout 1800] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 8
ROW_GROUP = 131_072
HOURS = 720  # September 2025
SEPT_US = 1_756_684_800_000_000  # 2025-09-01T00:00:00Z in microseconds
OCT_US = SEPT_US + HOURS * 3_600_000_000
HOUR_US = 3_600_000_000
TAGGED_SHARE = 0.95
FARGATE_SHARE = 0.05  # of the tasks
MISSING_SHARE = 0.01  # billed tasks not in the tasks table
EXTRA_SHARE = 0.02  # tasks in the table that the CUR does not bill
SPEC_VERSION = 3

B62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
HEX = b"0123456789abcdef"
PROCESSES = tuple(f"NFCORE_SAREK:SAREK:{p}" for p in (
    "FASTQC", "FASTP", "BWAMEM1_MEM", "GATK4_MARKDUPLICATES", "GATK4_BASERECALIBRATOR",
    "GATK4_APPLYBQSR", "MOSDEPTH", "SAMTOOLS_STATS", "STRELKA_SINGLE", "MANTA_GERMLINE",
    "DEEPVARIANT", "BCFTOOLS_STATS", "VCFTOOLS_TSTV_COUNT", "MULTIQC"))
PIPELINE_TAGS = ("nf-core/sarek", "nf-core/rnaseq", "nf-core/methylseq", "example-lab/sarek")

SQL = """
WITH lines AS (
    SELECT resource_tags['user_unique_run_id'] AS run_id,
           resource_tags['user_task_hash'] AS task_hash,
           coalesce(split_line_item_split_cost, line_item_unblended_cost) AS used,
           coalesce(split_line_item_unused_cost, 0) AS idle,
           coalesce(split_line_item_split_cost + split_line_item_unused_cost,
                    line_item_unblended_cost) AS billed
    FROM read_parquet({files})
), billed AS (
    SELECT run_id, task_hash, sum(used) AS used, sum(idle) AS idle, sum(billed) AS billed
    FROM lines
    WHERE run_id IS NOT NULL AND task_hash IS NOT NULL
    GROUP BY run_id, task_hash
), tasks AS (
    SELECT run_id, parts[-2] || parts[-1] AS task_hash, cost
    FROM (SELECT run_id, string_split(workdir, '/') AS parts, cost
          FROM read_parquet({tasks}))
)
SELECT coalesce(b.run_id, t.run_id) AS run_id,
       coalesce(sum(b.used), 0) AS used,
       coalesce(sum(b.idle), 0) AS idle,
       coalesce(sum(b.billed), 0) AS billed,
       coalesce(sum(t.cost), 0) AS estimate,
       count(b.task_hash) AS tasks_billed,
       count(t.task_hash) AS tasks_known,
       count(*) FILTER (WHERE t.task_hash IS NULL) AS tasks_unmatched
FROM billed AS b FULL OUTER JOIN tasks AS t
    ON b.run_id = t.run_id AND b.task_hash = t.task_hash
GROUP BY ALL
ORDER BY run_id
"""


# ------------------------------------------------------------------------- the synthetic CUR
def _strings(mat):
    """A string array from a (n, width) uint8 matrix of ASCII, without Python objects."""
    import numpy as np
    import pyarrow as pa

    n, width = mat.shape
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets),
                                       pa.py_buffer(np.ascontiguousarray(mat).tobytes()))


def _ascii(rng, n: int, width: int, alphabet: bytes):
    import numpy as np

    return np.frombuffer(alphabet, np.uint8)[rng.integers(0, len(alphabet), (n, width))]


def _prefixed(prefix: bytes, *parts):
    import numpy as np

    n = parts[0].shape[0]
    pre = np.broadcast_to(np.frombuffer(prefix, np.uint8), (n, len(prefix)))
    return np.hstack([pre, *parts])


def _const(value, n: int, type_=None):
    import numpy as np
    import pyarrow as pa

    return pa.array([value], type_).take(pa.array(np.zeros(n, np.int32)))


def _pick(values, idx):
    import pyarrow as pa

    return pa.array(list(values), pa.string()).take(pa.array(idx))


def cur_schema():
    import pyarrow as pa

    ts = pa.timestamp("us")
    return pa.schema([
        ("identity_line_item_id", pa.string()),
        ("identity_time_interval", pa.string()),
        ("bill_billing_period_start_date", ts),
        ("bill_billing_period_end_date", ts),
        ("line_item_usage_start_date", ts),
        ("line_item_usage_end_date", ts),
        ("line_item_product_code", pa.string()),
        ("line_item_line_item_type", pa.string()),
        ("line_item_resource_id", pa.string()),
        ("line_item_usage_type", pa.string()),
        ("line_item_operation", pa.string()),
        ("line_item_usage_amount", pa.float64()),
        ("line_item_unblended_cost", pa.float64()),
        ("split_line_item_split_cost", pa.float64()),
        ("split_line_item_unused_cost", pa.float64()),
        ("split_line_item_parent_resource_id", pa.string()),
        ("resource_tags", pa.map_(pa.string(), pa.string())),
    ])


TASKS_SCHEMA_FIELDS = (("run_id", "string"), ("hash", "string"), ("workdir", "string"),
                       ("cost", "float64"))


def _chunk(rng, n: int, run_ids, instances):
    """``n`` CUR lines (a table in CUR order) and the tasks they bill (run index, 32-hex
    hash matrix, billed cost)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n_tagged = round(n * TAGGED_SHARE)
    n_other = n - n_tagged
    # Tasks: 1-20 hourly lines each (geometric, mean ~5), the last one cut to fit.
    spans = np.minimum(rng.geometric(0.19, n_tagged // 3 + 16), 20)
    ends = np.cumsum(spans)
    k = int(np.searchsorted(ends, n_tagged)) + 1
    spans = spans[:k].copy()
    spans[-1] -= ends[k - 1] - n_tagged
    line_task = np.repeat(np.arange(k), spans)
    first = np.repeat(np.cumsum(spans) - spans, spans)
    hour_in_task = np.arange(n_tagged) - first
    task_start = rng.integers(0, HOURS - spans + 1)
    task_run = rng.integers(0, len(run_ids), k)
    task_hex = np.frombuffer(HEX, np.uint8)[rng.integers(0, 16, (k, 32))]
    fargate = rng.random(k) < FARGATE_SHARE
    task_arn = _strings(_prefixed(b"arn:aws:ecs:us-east-1:123456789012:task/nextflow-ce/",
                                  np.frombuffer(HEX, np.uint8)[rng.integers(0, 16, (k, 32))]))
    task_instance = rng.integers(0, len(instances), k)
    task_process = rng.integers(0, len(PROCESSES), k)
    run_tag = rng.integers(0, len(PIPELINE_TAGS), len(run_ids))

    line_fargate = fargate[line_task]
    is_gb = rng.random(n_tagged) < 0.5
    amount = np.where(is_gb, rng.uniform(1.0, 64.0, n_tagged), rng.uniform(0.25, 16.0, n_tagged))
    amount = np.round(amount, 6)
    split = np.round(rng.uniform(0.0005, 0.25, n_tagged), 10)
    unused = np.round(split * rng.uniform(0.0, 0.6, n_tagged), 10)
    fargate_cost = np.round(rng.uniform(0.001, 0.3, n_tagged), 10)
    unblended_t = np.where(line_fargate, fargate_cost, 0.0)
    billed_line = np.where(line_fargate, fargate_cost, split + unused)
    task_billed = np.bincount(line_task, weights=billed_line, minlength=k)
    start_t = SEPT_US + (task_start[line_task] + hour_in_task) * HOUR_US

    # The untagged rest: EC2 and S3 usage of other workloads, Tax, Credit.
    kind = rng.choice(4, n_other, p=[0.6, 0.3, 0.05, 0.05])  # EC2, S3, Tax, Credit
    kind.sort()
    counts = np.bincount(kind, minlength=4)
    start_o = SEPT_US + rng.integers(0, HOURS, n_other) * HOUR_US
    start_o[kind >= 2] = SEPT_US
    other_cost = np.round(rng.uniform(0.001, 2.0, n_other), 10)
    other_cost[kind == 3] *= -1
    other_amount = np.round(rng.uniform(0.1, 100.0, n_other), 6)

    lit = pa.string()
    product = pa.concat_arrays([
        _pick(("AmazonECS",), np.zeros(n_tagged, np.int8)),
        _pick(("AmazonEC2", "AmazonS3", "AmazonEC2", "AmazonEC2"), kind)])
    line_type = pa.concat_arrays([
        _pick(("Usage",), np.zeros(n_tagged, np.int8)),
        _pick(("Usage", "Usage", "Tax", "Credit"), kind)])
    usage_type = pa.concat_arrays([
        _pick(("USE1-ECS-EC2-vCPU-Hours", "USE1-ECS-EC2-GB-Hours",
               "USE1-Fargate-vCPU-Hours:perCPU", "USE1-Fargate-GB-Hours"),
              is_gb.astype(np.int8) + 2 * line_fargate),
        _pick(("USE1-BoxUsage:m5.4xlarge", "USE1-TimedStorage-ByteHrs", "", ""), kind)])
    operation = pa.concat_arrays([
        _pick(("ECSTask-EC2", "FargateTask"), line_fargate.astype(np.int8)),
        _pick(("RunInstances", "StandardStorage", "", ""), kind)])
    other_res = pa.concat_arrays([
        instances.take(pa.array(rng.integers(0, len(instances), counts[0]))),
        _pick(("example-lab-data", "example-lab-results", "nf-work-bucket"),
              rng.integers(0, 3, counts[1])),
        _const("", counts[2] + counts[3], lit)])
    resource = pa.concat_arrays([task_arn.take(pa.array(line_task)), other_res])
    parent = pa.concat_arrays([
        pc.if_else(pa.array(line_fargate), pa.scalar(None, lit),
                   instances.take(pa.array(task_instance[line_task]))),
        _const(None, n_other, lit)])
    split_a = pa.array(np.concatenate([split, np.zeros(n_other)]),
                       mask=np.concatenate([line_fargate, np.ones(n_other, bool)]))
    unused_a = pa.array(np.concatenate([unused, np.zeros(n_other)]),
                        mask=np.concatenate([line_fargate, np.ones(n_other, bool)]))

    # resource_tags: 4 entries per tagged line, {user_team} on EC2/S3, none on Tax/Credit.
    hash_a = _strings(task_hex)
    vals = pa.concat_arrays([
        run_ids.take(pa.array(task_run[line_task])),
        hash_a.take(pa.array(line_task)),
        _pick(PROCESSES, task_process[line_task]),
        _pick(PIPELINE_TAGS, run_tag[task_run[line_task]])])
    order = (np.arange(n_tagged)[:, None] + n_tagged * np.arange(4)[None, :]).ravel()
    n_team = int(counts[0] + counts[1])
    items = pa.concat_arrays([vals.take(pa.array(order)),
                              _pick(("platform", "data-eng", "web"), rng.integers(0, 3, n_team))])
    keys = pa.concat_arrays([
        _pick(("user_unique_run_id", "user_task_hash", "user_pipeline_process",
               "user_pipeline_tag"), np.tile(np.arange(4, dtype=np.int8), n_tagged)),
        _const("user_team", n_team, lit)])
    per_line = np.concatenate([np.full(n_tagged, 4), np.ones(n_team, np.int64),
                               np.zeros(n - n_tagged - n_team, np.int64)])
    offsets = np.concatenate([[0], np.cumsum(per_line)]).astype(np.int32)
    tags = pa.MapArray.from_arrays(pa.array(offsets), keys, items,
                                   type=pa.map_(pa.string(), pa.string()))

    start = np.concatenate([start_t, start_o])
    end = start + HOUR_US
    end[n_tagged:][kind >= 2] = OCT_US
    ts = pa.timestamp("us")
    table = pa.Table.from_arrays([
        _strings(_ascii(rng, n, 52, B32)),
        _const("2025-09-01T00:00:00Z/2025-10-01T00:00:00Z", n, lit),
        _const(SEPT_US, n, pa.int64()).cast(ts),
        _const(OCT_US, n, pa.int64()).cast(ts),
        pa.array(start).cast(ts),
        pa.array(end).cast(ts),
        product, line_type, resource, usage_type, operation,
        pa.array(np.concatenate([amount, other_amount])),
        pa.array(np.concatenate([unblended_t, other_cost])),
        split_a, unused_a, parent, tags,
    ], schema=cur_schema())
    table = table.take(pa.array(rng.permutation(n)))  # CUR order is not task order
    return table, task_run, task_hex, task_billed


def _tasks_table(rng, run_ids, task_run, task_hex, task_billed):
    import numpy as np
    import pyarrow as pa

    k = len(task_run)
    keep = rng.random(k) >= MISSING_SHARE
    n_extra = int(k * EXTRA_SHARE)
    run = np.concatenate([task_run[keep], rng.integers(0, len(run_ids), n_extra)])
    hexes = np.vstack([task_hex[keep],
                       np.frombuffer(HEX, np.uint8)[rng.integers(0, 16, (n_extra, 32))]])
    cost = np.concatenate([task_billed[keep] * rng.uniform(0.6, 1.4, int(keep.sum())),
                           rng.uniform(0.0, 0.5, n_extra)])
    slash = np.full((len(run), 1), ord("/"), np.uint8)
    return pa.table({
        "run_id": run_ids.take(pa.array(run)),
        "hash": _strings(np.hstack([hexes[:, :2], slash, hexes[:, 2:8]])),
        "workdir": _strings(_prefixed(b"s3://nf-work-bucket/work/", hexes[:, :2], slash,
                                      hexes[:, 2:])),
        "cost": pa.array(np.round(cost, 6)),
    })


def generate(data: Path, lines: int, seed: int = 0) -> dict:
    """Write the CUR files and the tasks table under ``data``; returns the spec."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_runs = max(20, min(50_000, lines // 200))
    run_ids = _strings(_ascii(rng, n_runs, 14, B62))
    instances = _strings(_prefixed(b"i-", np.frombuffer(HEX, np.uint8)[
        rng.integers(0, 16, (max(50, min(2_000, lines // 5_000)), 17))]))
    cur_dir = data / "cur"
    cur_dir.mkdir(parents=True, exist_ok=True)
    tasks_path = data / "tasks.parquet"
    per_file = [lines // FILES + (i < lines % FILES) for i in range(FILES)]
    n_tasks = 0
    schema = cur_schema()
    with pq.ParquetWriter(tasks_path, pa.schema(TASKS_SCHEMA_FIELDS), compression="zstd") as tw:
        for i, size in enumerate(per_file):
            path = cur_dir / f"cur-2025-09-{i + 1:05d}.snappy.parquet"
            with pq.ParquetWriter(path, schema, compression="zstd") as w:
                for lo in range(0, size, ROW_GROUP):
                    n = min(ROW_GROUP, size - lo)
                    table, task_run, task_hex, task_billed = _chunk(rng, n, run_ids, instances)
                    w.write_table(table, row_group_size=ROW_GROUP)
                    tasks = _tasks_table(rng, run_ids, task_run, task_hex, task_billed)
                    tw.write_table(tasks)
                    n_tasks += len(task_run)
    spec = {"version": SPEC_VERSION, "lines": lines, "seed": seed, "runs": n_runs,
            "billed_tasks": n_tasks, "tasks_rows": pq.ParquetFile(tasks_path).metadata.num_rows,
            "cur_files": sorted(str(p) for p in cur_dir.glob("*.parquet")),
            "tasks": str(tasks_path)}
    (data / "spec.json").write_text(json.dumps(spec, indent=1))
    return spec


def build_seed_cache(data: Path) -> None:
    """A cache holding the tasks table's runs and tasks (one workspace, September 2025), as a
    sync would have left it: what the import adds its billing to and the reconciliation
    reads the estimates from. Each child of ours copies it before its clock starts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from seqera_analytics import frames as F
    from seqera_analytics.store import Cache, WorkspaceState

    wid = 101
    tasks = pq.read_table(data / "tasks.parquet")
    tasks = tasks.sort_by("run_id")
    n = tasks.num_rows
    run_ids = pc.unique(tasks["run_id"])
    counts = pc.value_counts(tasks["run_id"])  # in order of first appearance = sorted
    sizes = counts.field("counts").to_numpy()
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    task_id = np.arange(n) - np.repeat(first, sizes) + 1
    rng = np.random.default_rng(1)
    submit = SEPT_US // 1000 + rng.integers(0, (HOURS - 24) * 3_600_000, len(run_ids))
    t_submit = np.repeat(submit, sizes) + rng.integers(0, 3_600_000, n)
    ms = pa.timestamp("ms", tz="UTC")

    def conform(spec, cols, rows):
        schema = spec.arrow_schema
        return pa.Table.from_arrays(
            [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(rows, f.type)
             for f in schema], schema=schema)

    task_cols = {
        "run_id": tasks["run_id"], "workspace_id": pa.array(np.full(n, wid)),
        "task_id": pa.array(task_id), "hash": tasks["hash"], "workdir": tasks["workdir"],
        "cost": tasks["cost"], "status": _const("COMPLETED", n, pa.string()),
        "process": _const(PROCESSES[0], n, pa.string()),
        "submit": pa.array(t_submit).cast(ms), "start": pa.array(t_submit + 60_000).cast(ms),
        "complete": pa.array(t_submit + 3_660_000).cast(ms),
    }
    k = len(run_ids)
    run_cols = {
        "run_id": run_ids, "workspace_id": pa.array(np.full(k, wid)),
        "workspace": _const("bench/cur", k, pa.string()),
        "status": _const("SUCCEEDED", k, pa.string()),
        "project_name": _pick(PIPELINE_TAGS, rng.integers(0, len(PIPELINE_TAGS), k)),
        "user_name": _const("analyst-1", k, pa.string()),
        "submit": pa.array(submit).cast(ms), "start": pa.array(submit + 30_000).cast(ms),
        "complete": pa.array(submit + 86_400_000).cast(ms),
        "tasks_succeeded": pa.array(sizes.astype(np.int64)),
    }
    cache = Cache(data / "seed-cache")
    with cache.writer() as w:
        w.set_workspace_state(WorkspaceState(wid, "bench/cur", "bench", complete=True))
        w.put_runs(conform(F.RUNS, run_cols, k), conform(F.TASKS, task_cols, n))
        w.commit()


def seed_tasks_files(data: Path) -> list[str]:
    from seqera_analytics.store import Cache

    return sorted(str(f) for f in Cache(data / "seed-cache").committed_files("tasks"))


def ensure_data(data: Path, lines: int) -> dict:
    spec_file = data / "spec.json"
    if spec_file.exists():
        spec = json.loads(spec_file.read_text())
        if spec.get("version") == SPEC_VERSION and spec.get("lines") == lines:
            return spec
        shutil.rmtree(data)
    t0 = time.perf_counter()
    # In its own process: this one stays small, and the generator's memory is given back.
    subprocess.run([sys.executable, __file__, "--generate", str(data), str(lines)], check=True)
    subprocess.run([sys.executable, __file__, "--seed-cache", str(data)], check=True)
    spec = json.loads(spec_file.read_text())
    spec["tasks"] = seed_tasks_files(data)
    spec_file.write_text(json.dumps(spec, indent=1))
    size = sum(Path(p).stat().st_size for p in spec["cur_files"])
    print(f"generated {lines:,} CUR lines in {FILES} files ({size / 2**20:,.0f} MiB), "
          f"{spec['billed_tasks']:,} billed tasks in {spec['runs']:,} runs, tasks table "
          f"{spec['tasks_rows']:,} rows, in {time.perf_counter() - t0:.0f} s")
    return spec


# ------------------------------------------------------------------------------ the methods
def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def duck(paths: list[str], tasks_path: str, cache_dir: str):
    """The reference: one DuckDB query, per-run totals as an Arrow table."""
    import duckdb

    con = duckdb.connect()
    res = con.execute(SQL.format(files=_sql_list(paths), tasks=_sql_list(tasks_path)))
    out = res.arrow()
    table = out.read_all() if hasattr(out, "read_all") else out
    con.close()
    return table, {}


def ours(paths: list[str], tasks_path: list[str], cache_dir: str):
    """Our import into a new cache (a copy of the seed cache: the runs and tasks a sync left),
    then the per-run reconciliation read back from it."""
    from seqera_analytics import reports
    from seqera_analytics.billing import import_cur

    phases: dict[str, tuple[float, float]] = {}
    _trace_import_sql()
    t0 = time.perf_counter()
    imported = import_cur(paths, cache=cache_dir)
    phases["import_cur"] = (time.perf_counter() - t0, peak_rss_kib() / 1024)
    assert imported.lines_read == imported.lines_added, str(imported)
    t0 = time.perf_counter()
    table = _per_run(reports.reconcile_billing(per="run", period=None, cache=cache_dir))
    phases["reconcile_billing"] = (time.perf_counter() - t0, peak_rss_kib() / 1024)
    return table, phases


STATEMENTS: list[tuple[float, float, str]] = []  # (seconds, peak RSS MiB after, SQL head)


def _trace_import_sql() -> None:
    """Time each statement the import runs on its DuckDB connection (where the time and the
    memory go inside ``import_cur``); each one is announced on stderr as it starts, so a
    child stopped at the timeout tells which one it was in."""
    try:
        from seqera_analytics.billing import _import
    except ImportError:
        return
    connect = getattr(_import, "_connect", None)
    if connect is None:
        return

    class Traced:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *args, **kwargs):
            head = " ".join(str(sql).split())[:90]
            print(f"statement: {head}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            out = self._con.execute(sql, *args, **kwargs)
            STATEMENTS.append((time.perf_counter() - t0, peak_rss_kib() / 1024, head))
            print(f"done: {STATEMENTS[-1][0]:.2f} s, peak RSS {STATEMENTS[-1][1]:,.0f} MiB",
                  file=sys.stderr, flush=True)
            return out

        def __getattr__(self, name):
            return getattr(self._con, name)

    _import._connect = lambda *a, **k: Traced(connect(*a, **k))


def _per_run(df):
    """The reconciliation's per-run rows as run_id, used, idle, billed, estimate."""
    import pyarrow as pa

    names = {"used": ("used_cost", "used"), "idle": ("idle_cost", "idle"),
             "billed": ("billed_cost", "billed"), "estimate": ("estimated_cost", "estimate", "cost")}
    cols = {"run_id": pa.array(df["run_id"].astype(str).to_numpy(), pa.string())}
    for out, candidates in names.items():
        for c in candidates:
            if c in df.columns:
                cols[out] = pa.array(df[c].astype("float64").fillna(0.0).to_numpy())
                break
    return pa.table(cols)


def peak_rss_kib() -> int:
    # VmHWM: this process image's own peak; ru_maxrss would carry the parent's over exec.
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(method: str, spec_path: str, out_path: str) -> None:
    import duckdb  # noqa: F401  imports are not what is measured
    import ibis.backends.duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet as pq

    import seqera_analytics.billing
    import seqera_analytics.reports  # noqa: F401
    spec = json.loads(Path(spec_path).read_text())
    after_imports = peak_rss_kib()
    with tempfile.TemporaryDirectory(prefix="bench-cur-cache-") as cache_dir:
        if method == "ours":
            shutil.copytree(Path(spec_path).parent / "seed-cache", cache_dir, dirs_exist_ok=True)
        t0 = time.perf_counter()
        table, phases = {"ours": ours, "duckdb": duck}[method](spec["cur_files"], spec["tasks"],
                                                               cache_dir)
        seconds = time.perf_counter() - t0
        peak = peak_rss_kib()
    pq.write_table(table, out_path)
    print(json.dumps({"method": method, "seconds": seconds, "peak_mib": peak / 1024,
                      "after_imports_mib": after_imports / 1024, "rows": table.num_rows,
                      "phases": phases, "statements": STATEMENTS}))


def run_child(method: str, spec_path: Path, out_path: Path, timeout: float) -> dict:
    # The child's temp files (its cache, the import's spill) under a directory of ours, so
    # a child stopped at the timeout leaves nothing behind.
    with tempfile.TemporaryDirectory(prefix="bench-cur-child-") as tmp:
        return _run_child(method, spec_path, out_path, timeout, {**os.environ, "TMPDIR": tmp})


def _run_child(method: str, spec_path: Path, out_path: Path, timeout: float, env: dict) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", method, str(spec_path),
                             str(out_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        peak = 0
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                peak = next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:"))
        except (OSError, StopIteration):
            pass
        proc.kill()
        out, err = proc.communicate()
        started = [x[len("statement: "):] for x in err.splitlines() if x.startswith("statement: ")]
        return {"method": method, "timeout": timeout, "peak_mib": peak / 1024,
                "in_statement": started[-1] if started else None}
    if proc.returncode:
        # A failed method is reported, not fatal: the error's last line and the statement
        # the import was in.
        started = [x[len("statement: "):] for x in err.splitlines() if x.startswith("statement: ")]
        errors = [x for x in err.splitlines() if x and not x.startswith((" ", "statement: ", "done: "))]
        if proc.returncode < 0:  # not by this bench: it stops a child only at the timeout
            why = f"killed by {signal.Signals(-proc.returncode).name} from outside the bench"
        else:
            why = errors[-1][:200] if errors else f"exit status {proc.returncode}"
        return {"method": method, "failed": why,
                "in_statement": started[-1] if started else None, "stderr": err[-4000:]}
    return json.loads(out.strip().splitlines()[-1])


def compare(ours_path: Path, duck_path: Path) -> str:
    """Per-run billed (and used, idle, estimate) totals must agree to the cent."""
    import numpy as np
    import pyarrow.parquet as pq

    o = pq.read_table(ours_path).to_pandas().set_index("run_id").sort_index()
    d = pq.read_table(duck_path).to_pandas().set_index("run_id").sort_index()
    o, d = o[o["billed"].abs() > 0], d[d["billed"].abs() > 0]
    if not o.index.equals(d.index):
        only_o, only_d = o.index.difference(d.index), d.index.difference(o.index)
        raise AssertionError(f"runs differ: {len(only_o)} only ours (e.g. {list(only_o[:3])}), "
                             f"{len(only_d)} only duckdb (e.g. {list(only_d[:3])})")
    lines = []
    for col in ("billed", "used", "idle", "estimate"):
        if col not in o.columns or col not in d.columns:
            continue
        diff = np.abs(o[col].to_numpy() - d[col].to_numpy())
        bad = int((diff >= 0.005).sum())
        if col == "billed":
            assert bad == 0, f"{bad} runs' billed totals differ by a cent or more " \
                             f"(max {diff.max():.4f})"
        lines.append(f"{col} {'same to the cent' if bad == 0 else f'{bad} runs differ'}")
    return (f"{len(d):,} runs, ${d['billed'].sum():,.2f} billed: " + ", ".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000_000, help="CUR line items")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many per method")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds a method may take before its child is stopped (default 1800)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="where the synthetic CUR is kept and reused (default: a temp dir)")
    ap.add_argument("--methods", default="ours,duckdb", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=3, metavar=("METHOD", "SPEC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=2, metavar=("DIR", "LINES"), help=argparse.SUPPRESS)
    ap.add_argument("--seed-cache", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return
    if args.seed_cache:
        build_seed_cache(Path(args.seed_cache))
        return
    if args.child:
        child(*args.child)
        return
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-cur-")
        data = Path(tmp.name)
    else:
        data = args.data_dir.resolve()
    try:
        spec = ensure_data(data, args.lines)
        methods = args.methods.split(",")
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for m in methods:
                if {"timeout", "failed"} & set(best.get(m, {})):
                    continue  # once stopped at the timeout (or failed), not tried again
                r = run_child(m, data / "spec.json", data / f"result-{m}.parquet", args.timeout)
                if m not in best or {"timeout", "failed"} & set(r) or r["seconds"] < best[m]["seconds"]:
                    best[m] = r
        print(f"{args.lines:,} CUR lines, {spec['billed_tasks']:,} billed tasks, "
              f"{spec['runs']:,} runs; best of {args.repeat}, each in its own process")
        print(f"  {'method':<8} {'seconds':>8} {'peak RSS MiB':>13} {'after imports':>14}")
        for m in methods:
            r = best[m]
            if "timeout" in r:
                print(f"  {m:<8} did not finish within {r['timeout']:,.0f} s (stopped; peak RSS by "
                      f"then {r['peak_mib']:,.0f} MiB; in: {r['in_statement']})")
                continue
            if "failed" in r:
                print(f"  {m:<8} FAILED: {r['failed']} (in: {r['in_statement']})")
                continue
            print(f"  {m:<8} {r['seconds']:8.2f} {r['peak_mib']:13,.0f} "
                  f"{r['after_imports_mib']:14,.0f}")
            for phase, (sec, mib) in r.get("phases", {}).items():
                print(f"    {phase:<24} {sec:8.2f} s, peak RSS so far {mib:,.0f} MiB")
            slow = sorted(r.get("statements", []), reverse=True)[:3]
            for sec, mib, head in slow:
                print(f"      {sec:8.2f} s, peak so far {mib:,.0f} MiB: {head[:60]}")
        if set(methods) >= {"ours", "duckdb"}:
            o, d = best["ours"], best["duckdb"]
            if {"timeout", "failed"} & (set(o) | set(d)):
                print("  time: ours / duckdb not measured (a method did not finish); "
                      "targets <= 1.5 and <= 1024 MiB NOT shown met")
            else:
                ratio = o["seconds"] / d["seconds"]
                print(f"  time: ours / duckdb = {ratio:.2f} (target <= 1.5: "
                      f"{'met' if ratio <= 1.5 else 'NOT met'})")
                print(f"  peak RSS: ours {o['peak_mib']:,.0f} MiB (target <= 1024 MiB: "
                      f"{'met' if o['peak_mib'] <= 1024 else 'NOT met'}), duckdb "
                      f"{d['peak_mib']:,.0f} MiB")
                print("  result: " + compare(data / "result-ours.parquet",
                                             data / "result-duckdb.parquet"))
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
