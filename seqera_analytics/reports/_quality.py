"""Data quality: what the records held that no report should sum, and what was done with it.

Every run and task row carries the findings of the record checks in its ``quality`` column
(``"class:column"``; see :mod:`seqera_analytics.frames._quality` for the classes and rules):
impossible values were nulled where the record became a row, so no sum includes them;
implausible usage readings were kept but efficiency, waste and right-sizing leave those
tasks out. Runs the Platform marks deleted are left out of every report. This report counts
each class, with the records and runs affected, against the records it looked at; every
other report says in one line (``attrs["notes"]``, printed by the CLI) what it left out.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from ..frames import QUALITY_CLASSES, TERMINAL_RUN_STATUSES
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._notes import attributed_tasks
from ._relations import run_rows
from ._rules import bounds
from ._spec import ReportSpec, document, id_col, metric

__all__ = ["data_quality"]

QUALITY = ReportSpec(
    "data_quality",
    (
        id_col("table", "string", "runs or tasks"),
        id_col("class", "string", "finding class (frames._quality); also 'deleted' (runs the "
               "Platform marks deleted) and 'missing_tasks' (finished runs holding fewer task "
               "rows than their counts)"),
        id_col("column", "string", "the column the finding is about"),
        metric("records", "Int64", "count", "rows with this finding"),
        metric("runs", "Int64", "count", "distinct runs with such a row"),
        metric("records_checked", "Int64", "count",
               "rows of the table the report looked at (the denominator of records)"),
        id_col("action", "string", "what the reports did with the value"),
        id_col("meaning", "string", "what the finding means"),
    ),
    "Data-quality findings by class and column.",
)

#: Classes this report derives (not written into rows): class -> (meaning, action).
_DERIVED = {
    "deleted": ("run marked deleted on the Platform", "left out of every report"),
    "missing_tasks": (
        ("a finished run holding fewer task rows than its counts (succeeded + failed + cached "
        "in /progress)"),
        ("fetched again by the next sync (left as served after 3 tries); its figures cover the "
        "rows held"),
    ),
}
_ACTIONS = {name: action for name, (_, action) in {**QUALITY_CLASSES, **_DERIVED}.items()}
_MEANINGS = {name: meaning for name, (meaning, _) in {**QUALITY_CLASSES, **_DERIVED}.items()}


def _findings(t: ir.Table, table: str) -> ir.Table:
    q = t.select("run_id", code=t.quality).unnest("code")
    q = q.mutate(cls=q.code.re_extract(r"^([^:]*)", 1), column=q.code.re_extract(r":(.*)$", 1))
    g = q.group_by(["cls", "column"]).aggregate(records=q.count(), runs=q.run_id.nunique())
    checked = t.count()
    return g.select(table=ibis.literal(table), cls=g.cls, column=g.column, records=g.records,
                    runs=g.runs, records_checked=checked.as_scalar())


def _missing_tasks(r: ir.Table, t: ir.Table) -> ir.Table:
    """Finished runs holding fewer task rows than their counters say (the sync's rule)."""
    held = t.group_by("run_id").aggregate(held=t.count())
    expected = r.tasks_succeeded + r.tasks_failed + r.tasks_cached  # null when not known
    j = r.select("run_id", expected=expected, final=r.status.isin(sorted(TERMINAL_RUN_STATUSES)))
    j = j.left_join(held, "run_id")
    short = j.final.fill_null(False) & (j.expected > j.held.fill_null(0))
    g = j.aggregate(records=j.count(where=short), records_checked=j.count())
    return g.filter(g.records > 0).select(
        table=ibis.literal("runs"), cls=ibis.literal("missing_tasks"), column=ibis.literal("tasks"),
        records=g.records, runs=g.records, records_checked=g.records_checked)


@document(QUALITY, periodic=False)
def data_quality(
    tasks: Any = None,
    runs: Any = None,
    *,
    since: Any = None,
    until: Any = None,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Count the data-quality findings of runs and tasks, by class and column.

    Parameters
    ----------
    tasks, runs : pandas.DataFrame
        The tasks and runs tables (``run_id`` and ``quality``; runs also ``submit``,
        ``start``, ``complete`` and ``deleted``). Frames without ``quality`` have no findings.
    since, until : str, datetime or Timestamp, optional
        Keep runs and tasks attributed to ``[since, until)`` by the rule every report uses
        (a task: its ``complete``, ``start``, ``submit``, else its run's ``submit``; a run:
        its ``complete``, ``start``, ``submit``), so the counts are those the other reports'
        notes give for the same window.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per table, class and column found, sorted so; empty when the records are
        clean:

            {columns}

    Raises
    ------
    ReportError
        Malformed or reversed ``since``/``until``, or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    Notes
    -----
    Source: the ``quality`` columns written when records became rows (``GET /workflow``,
    ``GET /workflow/{id}/tasks``), and ``workflow.deleted``.
    """
    lo, hi = bounds(since, until)
    req = Request(
        task_columns=["run_id", "complete", "start", "submit"],
        run_columns=["run_id"],
        run_optional=["submit", "start", "complete", "quality", "status", "tasks_succeeded",
                      "tasks_failed", "tasks_cached"],
        runs_required="counting run findings",
        window=(lo, hi),
    )
    windowed = lo is not None or hi is not None

    def build(src: Sources) -> ir.Table:
        assert src.runs is not None and src.tasks is not None
        r = run_rows(src, keys=(), period=None, lo=lo, hi=hi) if windowed else src.runs
        # tasks by the attribution rule every report uses (as the reports' notes count them)
        t = attributed_tasks(src, lo, hi)
        whole = src.tasks_of(r, windowed=windowed).semi_join(r.select("run_id"), "run_id")
        parts = [_findings(r, "runs"), _findings(t, "tasks"), _missing_tasks(r, whole)]
        if src.deleted_runs:
            n = ibis.literal(src.deleted_runs, type="int64")
            one = r.aggregate(records_checked=r.count() + n)
            parts.append(one.select(table=ibis.literal("runs"), cls=ibis.literal("deleted"),
                                    column=ibis.literal("deleted"), records=n, runs=n,
                                    records_checked=one.records_checked))
        return ibis.union(*parts, distinct=False)

    table = run_query(build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend))
    table = table.rename_columns(["class" if c == "cls" else c for c in table.column_names])
    out = finish(table, QUALITY, sort=["table", "class", "column"])
    out["action"] = out["class"].map(_ACTIONS).astype("string")
    # the sync's change marker is kept whatever it says (frames._quality)
    out.loc[(out["class"] == "impossible_time") & (out["column"] == "last_updated"), "action"] = (
        "kept (the sync's change marker)")
    out["meaning"] = out["class"].map(_MEANINGS).astype("string")
    return out
