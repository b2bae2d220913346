"""Fixtures of the explorer tests: the demo cache, and a 100,000-run cache for responsiveness.

The big cache is written straight through the cache writer (``Cache.writer().put_runs``):
the five bundled real runs are replicated with new ids, submission times spread over 18
months, random users, pipelines and run statuses, and a few of their task attempts each.
That takes seconds, where syncing 100,000 runs from the emulator would take many minutes.
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from seqera_analytics import demo
from seqera_analytics.store import Cache

BIG_PIPELINES = ("nf-core/sarek", "nf-core/methylseq", "nf-core/rnaseq", "example-lab/sarek")
BIG_USERS = tuple(f"analyst-{i}" for i in range(1, 7))


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Cache:
    """The five bundled real runs (two workspaces), synced from the emulator, no token."""
    return demo.build_demo_cache(tmp_path_factory.mktemp("widgets-demo-cache"))


def _shift_timestamps(table: pa.Table, shift_ms: np.ndarray) -> pa.Table:
    delta = pa.array(shift_ms, pa.duration("ms"))
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field, pc.add(table.column(i), delta).cast(field.type))
    return table


def _replace(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), values.cast(table.schema.field(i).type))


def build_big_cache(src: Cache, dest: Path, n_runs: int, tasks_per_run: int, seed: int = 7) -> Cache:
    """``n_runs`` runs resampled from the runs of ``src`` into a new cache at ``dest``."""
    rng = np.random.default_rng(seed)
    runs = src.read_table("runs")
    tasks = src.read_table("tasks").sort_by([("run_id", "ascending"), ("task_id", "ascending")])
    template_ids = runs["run_id"].to_pylist()
    task_runs = tasks["run_id"].to_pylist()
    first = np.array([task_runs.index(r) for r in template_ids])
    count = np.array([task_runs.count(r) for r in template_ids])
    tpl = rng.integers(0, runs.num_rows, n_runs)
    big = runs.take(pa.array(tpl))
    end = np.datetime64("2025-10-01T00:00:00", "ms").astype(np.int64)
    span = 18 * 30 * 86_400_000
    submit = end - span + np.arange(n_runs, dtype=np.int64) * (span // n_runs)
    shift = submit - pc.cast(runs["submit"], pa.int64()).to_numpy()[tpl]
    big = _shift_timestamps(big, shift)
    ids = np.array([f"big{i:07d}" for i in range(n_runs)], dtype=object)
    big = _replace(big, "run_id", pa.array(ids, pa.string()))
    big = _replace(big, "session_id", pa.array([f"session-{i}" for i in range(n_runs)], pa.string()))
    big = _replace(big, "user_name", pa.array(
        np.array(BIG_USERS, dtype=object)[rng.integers(0, len(BIG_USERS), n_runs)], pa.string()))
    big = _replace(big, "project_name", pa.array(
        np.array(BIG_PIPELINES, dtype=object)[rng.integers(0, len(BIG_PIPELINES), n_runs)],
        pa.string()))
    u = rng.random(n_runs)
    status = np.where(u < 0.06, "FAILED", np.where(u < 0.09, "CANCELLED", "SUCCEEDED"))
    big = _replace(big, "status", pa.array(status.astype(object), pa.string()))
    k = tasks_per_run
    pick = (first[tpl][:, None]
            + (rng.random((n_runs, k)) * count[tpl][:, None]).astype(np.int64)).ravel()
    big_tasks = _shift_timestamps(tasks.take(pa.array(pick)), np.repeat(shift, k))
    big_tasks = _replace(big_tasks, "run_id", pa.array(np.repeat(ids, k), pa.string()))
    big_tasks = _replace(big_tasks, "task_id", pa.array(np.tile(np.arange(1, k + 1), n_runs),
                                                        pa.int64()))
    cache = Cache(dest)
    with cache.writer() as writer:
        writer.put_workspaces(src.read_table("workspaces"))
        for ws in src.state().workspaces.values():
            writer.set_workspace_state(ws)
        writer.put_runs(big, big_tasks)
        writer.commit()
    return cache


@pytest.fixture(scope="session")
def big_cache(demo_cache: Cache, tmp_path_factory: pytest.TempPathFactory) -> Cache:
    """100,000 runs and 800,000 task attempts over 18 months (2024-04 to 2025-09)."""
    return build_big_cache(demo_cache, tmp_path_factory.mktemp("widgets-big-cache"),
                           n_runs=100_000, tasks_per_run=8)
