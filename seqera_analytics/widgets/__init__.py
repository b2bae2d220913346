"""Interactive exploration of cached runs in Jupyter (ipywidgets).

:class:`Explorer` puts filters (workspace, date range, pipeline, user, run status), a report
selector (cost, runtime, failures, efficiency), a group-by selector, the report's chart and
a sortable table, an export button and a run drill-down (task timeline and per-process
breakdown) in one widget. It reads the local Parquet cache only (sync first, or use
``Explorer.from_demo()`` for the bundled real runs) and is built on
:mod:`seqera_analytics.reports` and :mod:`seqera_analytics.plots`.
"""

from __future__ import annotations

from ._explorer import GROUPS, REPORTS, RUN_COLUMNS, Explorer

__all__ = ["GROUPS", "REPORTS", "RUN_COLUMNS", "Explorer"]
