"""What every report returns, written down once: column names, dtypes, units, meanings.

A :class:`ReportSpec` lists a report's output columns (:class:`ColumnDoc`); the same spec
fills the column table of the report function's docstring (:func:`document`), types the
result (:func:`seqera_analytics.reports._frame.finish`) and labels the exports and charts
(:func:`seqera_analytics.reports.column_unit`), so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GROUP_COLUMNS",
    "KEY_DTYPES",
    "PERIODS",
    "REPORTS",
    "REPORT_SCHEMA_VERSION",
    "RUN_KEYS",
    "TASK_KEYS",
    "ColumnDoc",
    "ReportSpec",
    "document",
]

#: Schema metadata key of a report table's notes (a JSON list of lines, e.g. the records it
#: left out); ``finish`` puts them in the frame's ``attrs["notes"]``.
NOTES_KEY = b"seqera_analytics.notes"
#: Schema metadata key of the span the data covers, ``[lo, hi]`` int ms (null: open), from
#: the window, the present and the cache's sync coverage; ``finish`` marks rows partial.
COVERAGE_KEY = b"seqera_analytics.coverage"

#: Bumped whenever a report column is added, removed, renamed or changes meaning or unit.
#: Written into every export (Parquet metadata, CSV sidecar).
#: 2: process_runtimes gained the box-plot columns (quartiles, whiskers, outliers).
#: 3: periodic reports gained ``partial``; data_quality.
REPORT_SCHEMA_VERSION = 3

#: Accepted ``period`` values (``None`` means one period spanning everything).
PERIODS = ("day", "week", "month", "quarter", "year")

#: Group-by names taken from the run a task belongs to -> what they mean.
RUN_KEYS: dict[str, str] = {
    "pipeline": "runs.project_name, e.g. nf-core/rnaseq",
    "pipeline_revision": "runs.revision; runs.manifest_version when the revision is null",
    "user": "runs.user_name",
    "workspace": "runs.workspace ('org/workspace')",
    "label": "one row per run label ('name' or 'name=value'); runs with several labels "
    "count in each, so label totals overlap; <NA> for runs without labels",
    "run_id": "runs.run_id",
    "run_name": "runs.run_name",
    "run_status": "runs.status (SUCCEEDED, FAILED, CANCELLED...)",
    "session_id": "runs.session_id (resumed runs share it)",
}
#: Group-by names taken from the task itself -> what they mean.
TASK_KEYS: dict[str, str] = {
    "process": "tasks.process, the fully qualified process name",
    "compute_env": "compute environment id parsed from tasks.queue (AWS Batch Forge queues "
    "TowerForge-<id>[-work|-head]); other queue names as they are",
    "price_model": "tasks.price_model (spot or standard)",
    "machine_type": "tasks.machine_type (cloud instance type)",
    "status": "tasks.status (COMPLETED, FAILED, CACHED...)",
    "executor": "tasks.executor",
    "exit_status": "tasks.exit_status (Int64 in the output)",
    "error_action": "tasks.error_action (RETRY, TERMINATE, IGNORE, FINISH)",
}
#: Output dtype of group keys that are not strings.
KEY_DTYPES: dict[str, str] = {"exit_status": "Int64"}


@dataclass(frozen=True)
class ColumnDoc:
    """One report column: dtype, unit, meaning and whether it identifies or measures.

    ``role`` is ``"id"`` for columns that say *what* a row is about (period, group keys,
    names, flags, timestamps) and ``"metric"`` for numbers measured about it; the tidy long
    export keeps id columns and turns every metric column into ``metric, value, unit`` rows.
    """

    name: str
    dtype: str
    unit: str
    description: str
    role: str = "metric"


def id_col(name: str, dtype: str, description: str, unit: str = "") -> ColumnDoc:
    """An id column (see :class:`ColumnDoc`)."""
    return ColumnDoc(name, dtype, unit, description, "id")


def metric(name: str, dtype: str, unit: str, description: str) -> ColumnDoc:
    """A metric column (see :class:`ColumnDoc`)."""
    return ColumnDoc(name, dtype, unit, description, "metric")


#: Documentation of the group-by columns, shared by every report.
GROUP_COLUMNS: dict[str, ColumnDoc] = {
    "period": id_col(
        "period", "datetime64[ms, UTC]", "start of the UTC period (absent when period=None)", "UTC"
    ),
    "period_label": id_col(
        "period_label",
        "string",
        "the period as text: 2025-09-30 (day), 2025-W40 (ISO week), 2025-09 (month), 2025-Q3, 2025",
    ),
    "partial": id_col(
        "partial",
        "boolean",
        "the row covers only part of its period: the window (since/until) cuts it, the "
        "period is not over, or the cache's history does not cover all of it (synced later, "
        "or from a later date); whole-period rows never change with the window",
    ),
    **{
        k: id_col(k, KEY_DTYPES.get(k, "string"), f"group key: {v}")
        for k, v in {**RUN_KEYS, **TASK_KEYS}.items()
    },
}

#: Every report's output spec by report name (filled as the report modules are imported);
#: the export reads units and descriptions from here.
REPORTS: dict[str, ReportSpec] = {}


@dataclass(frozen=True)
class ReportSpec:
    """The documented output of one report function."""

    name: str
    columns: tuple[ColumnDoc, ...]
    description: str = ""

    def __post_init__(self) -> None:
        REPORTS[self.name] = self

    def column(self, name: str) -> ColumnDoc | None:
        for c in self.columns:
            if c.name == name:
                return c
        return GROUP_COLUMNS.get(name)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def table(self, *, grouped: bool = False, periodic: bool = True) -> str:
        """The columns as an RST table for a numpydoc ``Returns`` section.

        ``grouped`` adds the group-key columns (and, with ``periodic``, the period columns).
        """
        cols = list(self.columns)
        if grouped:
            by = id_col(
                "<by>",
                "string",
                "one column per ``by`` name, in order (see Notes); exit_status is Int64",
            )
            period_cols = [GROUP_COLUMNS["period"], GROUP_COLUMNS["period_label"]]
            cols = [*(period_cols if periodic else []), by, *cols,
                    *([GROUP_COLUMNS["partial"]] if periodic else [])]
        w1 = max(len("column"), *(len(c.name) for c in cols))
        w2 = max(len("dtype"), *(len(c.dtype) for c in cols))
        texts = [f"{c.description} [{c.unit}]" if c.unit else c.description for c in cols]
        w3 = max(len("meaning [unit]"), *(len(t) for t in texts))
        rule = f"{'=' * w1}  {'=' * w2}  {'=' * w3}"
        lines = [rule, f"{'column':<{w1}}  {'dtype':<{w2}}  meaning [unit]", rule]
        lines += [f"{c.name:<{w1}}  {c.dtype:<{w2}}  {t}" for c, t in zip(cols, texts)]
        lines.append(rule)
        return "\n".join(lines)


def _keys_doc(keys: Iterable[str]) -> str:
    every = {**RUN_KEYS, **TASK_KEYS}
    return "\n".join(f"* ``{k}``: {every[k]}" for k in keys)


#: The parameters every report takes to choose what it reads (``{inputs}`` in docstrings).
INPUTS_DOC = """\
cache : str, Path or Cache, optional
    Read the cache instead of ``tasks``/``runs``: exactly the Parquet files its
    ``state.json`` lists as committed (never a directory glob), only the columns the
    report needs, with the filters below pushed down to the scan. Tasks never reach
    Python; only the report's rows do.
workspace : str or int, optional
    Only runs of this workspace (``org/workspace`` or id); with ``cache`` only that
    workspace's files are read.
pipeline, user, run_status : str or sequence of str, optional
    Only runs with this ``project_name``, ``user_name`` or ``status`` (exact names;
    statuses case-insensitive), and their tasks.
backend : ibis backend or pyspark.sql.SparkSession, optional
    Where the report runs: default an embedded DuckDB; :func:`spark_backend` (or a
    SparkSession) runs the same definition on Spark."""


def document(
    spec: ReportSpec,
    *,
    grouped: bool = False,
    periodic: bool = True,
    keys: Iterable[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Fill ``{columns}``, ``{keys}`` and ``{inputs}`` in a report function's docstring.

    The column table is generated from the same spec that types the output, so the docstring
    cannot drift from what the function returns.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = fn.__doc__ or ""
        table = spec.table(grouped=grouped, periodic=periodic).replace("\n", "\n" + " " * 12)
        key_list = _keys_doc(keys or ()).replace("\n", "\n" + " " * 4)
        inputs = INPUTS_DOC.replace("\n", "\n" + " " * 4)
        fn.__doc__ = (
            doc.replace("{columns}", table).replace("{keys}", key_list).replace("{inputs}", inputs)
        )
        return fn

    return deco
