"""Reports: cost, runtime, failures and efficiency, each defined once as a relational
expression and run on a query engine.

Two ways in, one definition::

    cost_report(tasks, runs, period="month", by="pipeline")          # DataFrames you hold
    cost_report(cache="~/.cache/seqera-analytics", since="2025-09", until="2025-10",
                workspace="my-org/production", by="pipeline,user")    # straight from a cache

From frames, only the columns a report names are handed to the engine (as Arrow, numeric
columns without a copy). From a cache, the engine reads exactly the Parquet files the
cache's ``state.json`` lists as committed, with the workspace filter applied to the file
list and columns and row filters pushed into the scan: tasks never reach Python, only the
report's rows do. Every report returns a pandas DataFrame whose columns, dtypes and units
its docstring lists.

The engine, and why
-------------------
Reports are `Ibis <https://ibis-project.org>`_ expressions. The default backend is an
embedded DuckDB (in-process, multi-threaded, streaming and spilling to disk, so a year of a
large organisation's tasks does not have to fit in memory); ``backend=spark_backend()`` (or
any ``SparkSession``) runs the *same* expressions on Spark, where large organisations keep
their history. Ibis was chosen over DuckDB SQL transpiled with sqlglot because a report is
then ordinary Python: the shared rules (attribution, periods, group keys, the money rule)
are functions returning column expressions that every report composes, type-checked when
the expression is built, instead of SQL strings assembled and rewritten per dialect. Where
the two engines differ (reading files, timestamps, temp tables), ``_engine`` adapts the
inputs once, so the expressions never branch on the engine. Results agree: counts exactly,
money to the cent, other figures to a relative 1e-9; quantiles are exact on both (DuckDB's
``quantile_cont`` and Spark's ``percentile`` interpolate linearly, like numpy).

Versions that work together (pinned in ``pyproject.toml``): ibis-framework 12 with DuckDB
1.x (ibis 12 does not run on DuckDB 2) and, for Spark, PySpark 3.5-4.0 (ibis 12's
``pyspark`` extra requires pyspark < 4.1) with Java 17.

Layering
--------
``reports`` reads frames or the cache's committed files (:mod:`seqera_analytics.store`) and
runs them on DuckDB or Spark; it never imports the API client, the sync or the emulator.
Plots and widgets draw and show what reports return and compute nothing a report should.

Modules: ``_spec`` (column docs and units), ``_rules`` (attribution, periods and keys as
column expressions), ``_relations`` (the relations reports share), ``_engine`` (DuckDB and
Spark), ``_inputs`` (frames or committed cache files in), ``_frame`` (results to typed
frames), one module per report family (``_cost``, ``_sessions``, ``_runtime``,
``_processes``, ``_failures``, ``_attempts``, ``_efficiency``, ``_quality``),
``_rightsizing`` (the right-sizing policy) and ``_export``.
"""

from __future__ import annotations

from ._attempts import runs_needing_attention, task_attempts
from ._cost import cost_report, reconcile_costs
from ._efficiency import efficiency_report, right_size
from ._engine import spark_backend
from ._export import column_unit, export, read_report, to_csv, to_long, to_parquet
from ._failures import exit_status_meaning, failure_report, task_failures
from ._processes import process_runtimes
from ._quality import data_quality
from ._reconcile import billed_tasks, reconcile_billing
from ._rightsizing import nextflow_config
from ._runtime import run_runtimes, runtime_report
from ._sessions import session_cost_report
from ._spec import PERIODS, REPORT_SCHEMA_VERSION, RUN_KEYS, TASK_KEYS

__all__ = [
    "PERIODS",
    "REPORT_SCHEMA_VERSION",
    "RUN_KEYS",
    "TASK_KEYS",
    "billed_tasks",
    "column_unit",
    "cost_report",
    "data_quality",
    "efficiency_report",
    "exit_status_meaning",
    "export",
    "failure_report",
    "nextflow_config",
    "process_runtimes",
    "read_report",
    "reconcile_billing",
    "reconcile_costs",
    "right_size",
    "run_runtimes",
    "runs_needing_attention",
    "runtime_report",
    "session_cost_report",
    "spark_backend",
    "task_attempts",
    "task_failures",
    "to_csv",
    "to_long",
    "to_parquet",
]
