"""Reports: pure functions from the data-model DataFrames to tidy report DataFrames.

Every function takes the ``tasks``/``runs`` frames of :mod:`seqera_analytics.frames` (built
offline, fetched, or read from the cache: reports never care where they come from and never
import the API, cache or fetch code) and returns a DataFrame whose columns, dtypes and units
are listed in its docstring.
"""

from __future__ import annotations

from ._common import PERIODS, REPORT_SCHEMA_VERSION, RUN_KEYS, TASK_KEYS
from ._cost import cost_report, reconcile_costs, session_cost_report
from ._efficiency import efficiency_report, nextflow_config, right_size
from ._export import column_unit, export, read_report, to_csv, to_long, to_parquet
from ._failures import (
    exit_status_meaning,
    failure_report,
    runs_needing_attention,
    task_attempts,
    task_failures,
)
from ._runtime import process_runtimes, run_runtimes, runtime_report

__all__ = [
    "PERIODS",
    "REPORT_SCHEMA_VERSION",
    "RUN_KEYS",
    "TASK_KEYS",
    "column_unit",
    "cost_report",
    "efficiency_report",
    "exit_status_meaning",
    "export",
    "failure_report",
    "nextflow_config",
    "process_runtimes",
    "read_report",
    "reconcile_costs",
    "right_size",
    "run_runtimes",
    "runs_needing_attention",
    "runtime_report",
    "session_cost_report",
    "task_attempts",
    "task_failures",
    "to_csv",
    "to_long",
    "to_parquet",
]
