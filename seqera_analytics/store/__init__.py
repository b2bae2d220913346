"""The local Parquet cache: one Hive-partitioned dataset per table, crash-safe writes.

Layout, commit protocol and reads are described in ``_layout``, ``_cache`` and ``_read``.
The files are plain Parquet: ``pandas.read_parquet(cache / "tasks")``, ``pyarrow.dataset``
and DuckDB (``read_parquet('<cache>/tasks/**/*.parquet', hive_partitioning=true)``) read
them as they are. This package only reads and writes files; syncing from the API is
:func:`seqera_analytics.sync`'s job.
"""

from __future__ import annotations

from ._cache import Cache, CacheInfo, CacheWriter
from ._layout import PERSONAL_WORKSPACE_ID, default_cache_dir
from ._read import (
    load_process_metrics,
    load_process_progress,
    load_runs,
    load_tasks,
    load_workspaces,
)
from ._state import WorkspaceState

__all__ = [
    "PERSONAL_WORKSPACE_ID",
    "Cache",
    "CacheInfo",
    "CacheWriter",
    "WorkspaceState",
    "default_cache_dir",
    "load_process_metrics",
    "load_process_progress",
    "load_runs",
    "load_tasks",
    "load_workspaces",
]
