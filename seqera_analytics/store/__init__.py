"""The Parquet cache: one Hive-partitioned dataset per table, crash-safe writes, on local
disk or on an object store (``s3://bucket/prefix``, see ``_fs`` and ``_lease``).

Layout in ``_layout``, commit protocol in ``_writer``, recovery after a kill in ``_adopt``,
later facts in ``_facts``, reads in ``_cache`` and ``_read``. The files are plain Parquet:
``pandas.read_parquet(cache / "tasks")``, ``pyarrow.dataset`` and DuckDB
(``read_parquet('<cache>/tasks/**/*.parquet', hive_partitioning=true)``) read them as they
are, during a sync and after a killed one, and see every *finished* run once with all its
tasks (runs still active and later facts are the library's own: see ``_layout``). This
package only reads and writes files; syncing from the API is :func:`seqera_analytics.sync`'s job.
"""

from __future__ import annotations

from ._cache import Cache, CacheInfo
from ._fs import CacheConflictError, CacheLocationError
from ._layout import PERSONAL_WORKSPACE_ID, default_cache_dir
from ._read import (
    load_process_metrics,
    load_process_progress,
    load_runs,
    load_tasks,
    load_workspaces,
)
from ._state import WorkspaceState
from ._writer import CacheWriter

__all__ = [
    "PERSONAL_WORKSPACE_ID",
    "Cache",
    "CacheConflictError",
    "CacheInfo",
    "CacheLocationError",
    "CacheWriter",
    "WorkspaceState",
    "default_cache_dir",
    "load_process_metrics",
    "load_process_progress",
    "load_runs",
    "load_tasks",
    "load_workspaces",
]
