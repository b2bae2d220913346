"""Failures one by one: every failed or retried attempt, and the runs that succeeded only
thanks to retries (definitions in :mod:`._failures`)."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from ._failures import (
    FAILURE_TASK_COLUMNS,
    exit_status_meaning,
    failure_columns,
    failure_sums,
    with_recovered,
)
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import flag, join_on_run, ms_span, ratio, run_rows
from ._rules import HOUR_MS, bounds
from ._spec import ReportSpec, document, id_col, metric

__all__ = ["runs_needing_attention", "task_attempts"]

ATTEMPTS = ReportSpec(
    "task_attempts",
    (
        id_col("run_id", "string", "workflow run id"),
        id_col("task_id", "Int64", "Nextflow task id within the run"),
        id_col("name", "string", "task name: process (tag)"),
        id_col("process", "string", "fully qualified process name"),
        metric("attempt", "Int64", "count", "attempt number, from 1"),
        id_col("status", "string", "task status"),
        id_col("exit_status", "Int64", "exit code"),
        id_col("exit_meaning", "string", "what the exit code usually means"),
        id_col("error_action", "string", "error strategy applied (RETRY, TERMINATE, IGNORE...)"),
        id_col("complete", "datetime64[ms, UTC]", "completion time", "UTC"),
        metric("cost", "Float64", "USD", "Seqera's cost of the attempt"),
        metric("cpu_hours", "Float64", "h", "cpus x (complete - start)"),
        id_col(
            "eventually_succeeded",
            "boolean",
            "the attempt is COMPLETED, or a COMPLETED attempt "
            "with the same name and a higher attempt exists in the run",
        ),
    ),
    "Every failed or retried task attempt.",
)


@document(ATTEMPTS)
def task_attempts(
    tasks: Any = None,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
    runs: Any = None,
) -> Any:
    """Every failed attempt and every retry (``attempt > 1``), with whether the task
    eventually succeeded.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``task_id``, ``name``, ``process``, ``status``, ``attempt``,
        ``exit_status``, ``error_action``, ``cost``, ``cpus``, ``start``, ``complete``.
    {inputs}
    runs : pandas.DataFrame, optional
        Needed with frames only to filter by pipeline, user, run status or workspace.

    Returns
    -------
    pandas.DataFrame
        One row per such attempt, sorted by run, name and attempt:

            {columns}

    Raises
    ------
    ReportError
        The frame lacks a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    Notes
    -----
    Source: ``GET /workflow/{id}/tasks``.
    """
    req = Request(
        task_columns=[
            "run_id",
            "task_id",
            "name",
            "process",
            "status",
            "attempt",
            "exit_status",
            "error_action",
            "cost",
            "cpus",
            "start",
            "complete",
        ]
    )

    def build(src: Sources) -> ir.Table:
        assert src.tasks is not None
        t = with_recovered(src.tasks)
        t = t.filter(flag(t.status == "FAILED") | (t.attempt.fill_null(1) > 1))
        return t.mutate(
            cpu_hours=t.cpus.cast("float64") * ms_span(t.complete, t.start) / HOUR_MS,
            eventually_succeeded=flag(t.status == "COMPLETED") | t.recovered,
        )

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend)
    )
    out = finish(table, ATTEMPTS, sort=["run_id", "name", "attempt", "task_id"])
    out["exit_meaning"] = exit_status_meaning(out["exit_status"]).array
    return out


ATTENTION = ReportSpec(
    "runs_needing_attention",
    (
        id_col("run_id", "string", "workflow run id"),
        id_col("run_name", "string", "run name"),
        id_col("pipeline", "string", "runs.project_name"),
        id_col("user", "string", "runs.user_name"),
        id_col("workspace", "string", "'org/workspace'"),
        id_col("complete", "datetime64[ms, UTC]", "run completion", "UTC"),
        metric("failed_attempts", "Int64", "count", "FAILED attempts"),
        metric("retried_attempts", "Int64", "count", "attempts with attempt > 1"),
        metric(
            "failed_unrecovered",
            "Int64",
            "count",
            "failed attempts never followed by success (ignored by the error strategy)",
        ),
        metric("failed_cost", "Float64", "USD", "cost of the failed attempts"),
        metric(
            "failed_cpu_hours", "Float64", "h", "cpus x (complete - start) of the failed attempts"
        ),
        metric("failed_cost_share", "Float64", "fraction", "failed_cost / the run's task cost"),
    ),
    "Succeeded runs with failed or retried tasks.",
)


@document(ATTENTION)
def runs_needing_attention(
    tasks: Any = None,
    runs: Any = None,
    since: Any = None,
    until: Any = None,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Runs that SUCCEEDED although some of their tasks failed or were retried.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``name``, ``status``, ``attempt``, ``cost``, ``cpus``, ``submit``,
        ``start``, ``complete``.
    runs : pandas.DataFrame
        Needs ``run_id``, ``status``, ``submit``, ``start``, ``complete``; ``run_name``,
        ``project_name``, ``user_name``, ``workspace`` are shown when present.
    since, until : str, datetime or Timestamp, optional
        Keep runs attributed to ``[since, until)``.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per such run, most failed cost first:

            {columns}

    Raises
    ------
    ReportError
        Malformed ``since``/``until`` or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.
    """
    lo, hi = bounds(since, until)
    req = Request(
        window=(lo, hi),
        task_columns=FAILURE_TASK_COLUMNS,
        run_columns=["run_id", "status", "submit", "start", "complete"],
        run_optional=["run_name", "project_name", "user_name", "workspace"],
        runs_required="the runs-needing-attention report",
    )

    def build(src: Sources) -> ir.Table:
        assert src.tasks is not None
        r = run_rows(src, keys=(), period=None, lo=lo, hi=hi)
        r = r.filter(flag(r.status == "SUCCEEDED"))
        t = src.tasks_of(r, windowed=lo is not None or hi is not None)
        t = with_recovered(t.semi_join(r.select("run_id"), "run_id"))
        per_run = t.group_by("run_id").aggregate(**failure_sums(t), _all_cost=t.cost.sum())
        d = join_on_run(r, per_run, "inner")
        d = d.filter((d.failed_attempts + d.retried_attempts) > 0)
        d = failure_columns(d)
        return d.mutate(
            pipeline=d.project_name,
            user=d.user_name,
            failed_cost_share=ratio(d.failed_cost_sum.fill_null(0.0), d._all_cost.fill_null(0.0)),
        )

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend)
    )
    return finish(table, ATTENTION, sort=["failed_cost", "run_id"], ascending=[False, True])
