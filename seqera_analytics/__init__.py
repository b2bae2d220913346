"""seqera-analytics: Seqera Platform (Nextflow Tower) runs, tasks and metrics as typed
pandas DataFrames, cached as Parquet, with cost, runtime, failure and efficiency reports.

The everyday API:

* fetch from the Platform: :func:`connect`, :func:`fetch_runs`, :func:`fetch_tasks`,
  :func:`fetch_run_data`, :func:`fetch_metrics`, :func:`fetch_progress`,
  :func:`fetch_workspaces`; offline: :func:`load_dump`;
* cache: :func:`sync`, :func:`load_runs`, :func:`load_tasks`, :func:`load_process_metrics`,
  :func:`load_process_progress`, :func:`load_workspaces`, :class:`Cache`;
* :mod:`~seqera_analytics.reports`, :mod:`~seqera_analytics.frames` (the data model),
  :mod:`~seqera_analytics.plots`, :mod:`~seqera_analytics.widgets`.

Names are resolved on first use, so ``import seqera_analytics.reports`` loads neither the
HTTP client nor the emulator's web stack.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._exceptions import *  # noqa: F401,F403
from ._exceptions import __all__ as _exc_all

__version__ = "0.1.0"

_LAZY = {
    "Cache": "store",
    "RunData": "fetch",
    "MultiSyncSummary": "ingest",
    "SyncSummary": "ingest",
    "async_sync": "ingest",
    "connect": "fetch",
    "fetch_metrics": "fetch",
    "fetch_progress": "fetch",
    "fetch_run_data": "fetch",
    "fetch_runs": "fetch",
    "fetch_tasks": "fetch",
    "fetch_workspaces": "fetch",
    "load_dump": "fetch",
    "load_process_metrics": "store",
    "load_process_progress": "store",
    "load_runs": "store",
    "load_tasks": "store",
    "load_workspaces": "store",
    "sync": "ingest",
}
_SUBMODULES = ("frames", "plots", "reports", "widgets")

__all__ = sorted([*_exc_all, *_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
