"""Where things live in a cache directory.

::

    <cache>/
      state.json                      schema version, the live file list, per-workspace sync state
      .lock                           held by a writing sync
      runs/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      tasks/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      process_metrics/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      process_progress/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      workspaces/part-<uuid>.parquet

Hive partitions: ``workspace_id`` (``0`` is the personal workspace, which has no id) and
``month``, the UTC month of the *run's* submission, for every per-run table, so a run's
tasks sit next to its row. Partition columns are not repeated inside the files (readers add
them back from the path), which is what DuckDB's ``hive_partitioning=true``, pandas and
``pyarrow.dataset`` expect.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import platformdirs
import pyarrow as pa
import pyarrow.compute as pc

from ..frames import PROCESS_METRICS, PROCESS_PROGRESS, RUNS, TASKS, WORKSPACES, TableSpec

__all__ = [
    "PARTITIONED",
    "PERSONAL_WORKSPACE_ID",
    "TABLE_SPECS",
    "default_cache_dir",
    "month_of",
    "new_file_name",
    "partition_dir",
]

#: Stand-in id for the personal workspace in partition paths (it has no id of its own).
PERSONAL_WORKSPACE_ID = 0

TABLE_SPECS: dict[str, TableSpec] = {
    "runs": RUNS,
    "tasks": TASKS,
    "process_metrics": PROCESS_METRICS,
    "process_progress": PROCESS_PROGRESS,
    "workspaces": WORKSPACES,
}
#: Tables partitioned by workspace_id/month (all but workspaces).
PARTITIONED = ("runs", "tasks", "process_metrics", "process_progress")
PARTITION_SCHEMA = pa.schema([("workspace_id", pa.int64()), ("month", pa.string())])
UNKNOWN_MONTH = "unknown"


def default_cache_dir() -> Path:
    """``$SEQERA_ANALYTICS_CACHE``, else the user cache dir (``~/.cache/seqera-analytics``
    on Linux, ``~/Library/Caches/seqera-analytics`` on macOS)."""
    env = os.environ.get("SEQERA_ANALYTICS_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("seqera-analytics", appauthor=False))


def month_of(submit: pa.Array) -> pa.Array:
    """``YYYY-MM`` (UTC) of each timestamp; ``unknown`` for nulls."""
    months = pc.strftime(submit, format="%Y-%m")
    return pc.fill_null(months, UNKNOWN_MONTH)


def partition_dir(table: str, workspace_id: int, month: str) -> str:
    """Relative directory of one partition, e.g. ``tasks/workspace_id=1/month=2025-09``."""
    return f"{table}/workspace_id={int(workspace_id)}/month={month}"


def new_file_name(directory: str) -> str:
    return f"{directory}/part-{uuid.uuid4().hex}.parquet"


def file_partition(relpath: str) -> tuple[int, str] | None:
    """(workspace_id, month) encoded in a partitioned file path."""
    ws = month = None
    for part in Path(relpath).parts:
        if part.startswith("workspace_id="):
            value = part.split("=", 1)[1]
            ws = int(value) if value.lstrip("-").isdigit() else None
        elif part.startswith("month="):
            month = part.split("=", 1)[1]
    return (ws, month) if ws is not None and month is not None else None
