"""Where things live in a cache directory.

::

    <cache>/
      state.json                      the library's commit: schema version, the committed
                                      files, the active area, the facts file, per-workspace
                                      sync state, a generation counter
      .lock                           held by a writing sync
      runs/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      tasks/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      process_metrics/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      process_progress/workspace_id=<id>/month=<YYYY-MM>/part-<uuid>.parquet
      workspaces/part-<uuid>.parquet
      _active/<table>/workspace_id=<id>/month=<YYYY-MM>/part-<run_id>-<uuid>.parquet
                                      runs not finished yet (library only)
      _facts/facts-<uuid>.parquet     facts that change after a run finished (library only)
      _staging/                       files being written (moved into place when complete)

The table trees (``runs/``, ``tasks/``, ...) hold only **finished** runs, each in exactly
one file per table, written once and never replaced: a plain reader (``pandas.read_parquet``
of a folder, DuckDB's glob) sees every finished run once, with all its tasks. A commit adds
one file per table and partition it touches, so small files accumulate (about four per
partition per sync that finished runs there); reads stay fast by pruning partitions and
footer time ranges, not by file count. Runs still active and facts that change later
(``labels``, ``deleted``, ``last_updated``, ``status``, ``unlisted_since``) live outside
the trees, read and overlaid by the library only: a plain reader of ``runs/`` sees a run's
values as of when it finished (``unlisted_since`` always null there).

The ``workspaces`` table is small and is replaced when the set of workspaces changes (a
plain reader may for a moment see both versions); per-run tables never are.

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
from ._fs import is_uri

__all__ = [
    "ACTIVE_DIR",
    "BATCH_KEY",
    "FACTS_DIR",
    "FACT_COLUMNS",
    "PARTITIONED",
    "PERSONAL_WORKSPACE_ID",
    "STAGING_DIR",
    "TABLE_SPECS",
    "active_dir",
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
#: Library-only areas (outside the table trees plain readers glob).
ACTIVE_DIR = "_active"
FACTS_DIR = "_facts"
STAGING_DIR = "_staging"
#: Parquet key-value metadata key of every tree file: its batch (JSON ``{"id", "kind",
#: "files"}``), so the next writer can adopt the files of a batch a killed sync left.
BATCH_KEY = b"seqera_analytics.batch"
#: Runs columns that may change after a run finished; kept in the facts file and overlaid
#: on the runs rows by the library's reads.
FACT_COLUMNS = ("status", "labels", "deleted", "last_updated", "unlisted_since")


def default_cache_dir() -> Path | str:
    """``$SEQERA_ANALYTICS_CACHE``, else the user cache dir (``~/.cache/seqera-analytics``
    on Linux, ``~/Library/Caches/seqera-analytics`` on macOS). A URI there
    (``s3://bucket/prefix``) is returned as it is, a string."""
    env = os.environ.get("SEQERA_ANALYTICS_CACHE", "").strip()
    if env:
        return env if is_uri(env) else Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("seqera-analytics", appauthor=False))


def month_of(submit: pa.Array) -> pa.Array:
    """``YYYY-MM`` (UTC) of each timestamp; ``unknown`` for nulls."""
    months = pc.strftime(submit, format="%Y-%m")
    return pc.fill_null(months, UNKNOWN_MONTH)


def partition_dir(table: str, workspace_id: int, month: str) -> str:
    """Relative directory of one partition, e.g. ``tasks/workspace_id=1/month=2025-09``."""
    return f"{table}/workspace_id={int(workspace_id)}/month={month}"


def new_file_name(directory: str, tag: str = "") -> str:
    """``<directory>/part-[<tag>-]<uuid>.parquet`` (a tag names the run of an active file)."""
    return f"{directory}/part-{tag + '-' if tag else ''}{uuid.uuid4().hex}.parquet"


def active_dir(table: str, workspace_id: int, month: str) -> str:
    """Relative directory of a partition of the active area."""
    return f"{ACTIVE_DIR}/{partition_dir(table, workspace_id, month)}"


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
