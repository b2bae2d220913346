"""Failures: run failure rate, task failures by process and exit status, retries.

Definitions
-----------
* A *failed attempt* is a task row with status FAILED; a *retry* is a row with
  ``attempt > 1``. Nextflow gives every attempt its own task id, so attempts of one task are
  tied together by run and task ``name`` (``process (tag)``).
* A failed attempt is *recovered* when the same run has a COMPLETED row with the same
  ``name`` and a higher ``attempt``. Task names are not unique when a process runs several
  tasks with one tag (e.g. per-interval tasks tagged by sample); the rule then reads "some
  task of that name succeeded on a later attempt".
* Run failure rate = FAILED runs / (SUCCEEDED + FAILED runs); cancelled runs are counted
  apart and are not failures.
* A run *needs attention* when it SUCCEEDED although some of its tasks failed or were
  retried: it cost more than it should, and may fail next time.
* ``failed_cpu_hours`` = sum of ``cpus x (complete - start)`` of failed attempts (Seqera's
  cpuTime definition); ``failed_cost`` = sum of their Seqera cost.

Attribution: task figures by the task's ``complete`` time (fallback ``start``, ``submit``,
the run's ``submit``); run figures by the run's ``complete`` (fallback ``start``, ``submit``).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from ._billed import BILLED_TASK_COLUMNS, normalize_basis, with_task_bill
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import (
    flag,
    join_on_run,
    merge_parts,
    money,
    ms_span,
    ratio,
    run_rows,
    task_rows,
    task_sums,
)
from ._rules import (
    HOUR_MS,
    bounds,
    normalize_by,
    normalize_period,
    run_key_columns,
    task_key_columns,
)
from ._spec import RUN_KEYS, TASK_KEYS, ReportSpec, document, id_col, metric

__all__ = ["exit_status_meaning", "failure_report", "task_failures"]

#: Nextflow records Integer.MAX_VALUE when a task ended without an exit code (the job or its
#: node vanished: spot reclaim, instance failure, kill before the wrapper wrote .exitcode).
NO_EXIT_CODE = 2_147_483_647

FAILURE_TASK_COLUMNS = (
    "run_id",
    "name",
    "status",
    "attempt",
    "cost",
    "cpus",
    "submit",
    "start",
    "complete",
)


def exit_status_meaning(codes: Sequence[Any] | pd.Series) -> pd.Series:
    """A short explanation of task exit codes (``<NA>`` for null).

    >>> exit_status_meaning([0, 137, 2147483647]).tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['success', 'killed by signal 9 (SIGKILL): often out of memory or a reclaimed spot instance',
     'no exit code: the task was lost (node or spot instance gone); Nextflow records 2147483647']
    """
    s = (
        pd.Series(codes, dtype="Int64")
        if not isinstance(codes, pd.Series)
        else codes.astype("Int64")
    )
    table = {int(c): _meaning(int(c)) for c in s.dropna().unique()}
    return pd.Series(s.map(table).array, index=s.index, dtype="string")


def _meaning(code: int) -> str:
    if code == 0:
        return "success"
    if code == NO_EXIT_CODE:
        return (
            "no exit code: the task was lost (node or spot instance gone); Nextflow "
            "records 2147483647"
        )
    if 128 < code < 128 + 65:
        sig = code - 128
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        extra = {
            9: ": often out of memory or a reclaimed spot instance",
            15: ": often a time limit, or a spot reclaim notice",
            6: ": the program aborted",
            11: ": segmentation fault",
            12: ": SIGUSR2, used by some schedulers for limits",
        }.get(sig, "")
        return f"killed by signal {sig} ({name}){extra}"
    if code == 127:
        return "command not found (missing tool in the container?)"
    if code == 126:
        return "command not executable"
    if code < 0:
        return f"negative exit code {code}: the executor reported an error"
    return "error exit of the task script"


def with_recovered(tasks: ir.Table) -> ir.Table:
    """Tasks with ``recovered``: a FAILED attempt whose run has a COMPLETED attempt of the
    same name with a higher attempt number (a null attempt counts as 1). Only runs with a
    failure are searched for such successes."""
    failed = flag(tasks.status == "FAILED")
    failing_runs = tasks.filter(failed).select("run_id").distinct()
    done = (
        tasks.filter(flag(tasks.status == "COMPLETED") & tasks.name.notnull())
        .semi_join(failing_runs, "run_id")
        .group_by(["run_id", "name"])
        .aggregate(_best=ibis._.attempt.fill_null(1).max())
    )
    j = tasks.join(done, [tasks.run_id == done.run_id, tasks.name == done.name], how="left")
    j = j.drop(*(c for c in ("run_id_right", "name_right") if c in j.columns))
    recovered = flag(j.status == "FAILED") & (j._best > j.attempt.fill_null(1)).fill_null(False)
    return j.mutate(recovered=recovered).drop("_best")


def failure_sums(t: ir.Table) -> dict[str, ir.Value]:
    """Additive failure figures of task rows carrying ``recovered``."""
    failed = flag(t.status == "FAILED")
    executed = ~flag(t.status == "CACHED")
    return {
        "task_attempts": t.count(where=executed),
        "failed_attempts": t.count(where=failed),
        "retried_attempts": t.count(where=executed & (t.attempt.fill_null(1) > 1)),
        "failed_recovered": t.count(where=t.recovered),
        "failed_cost_sum": t.cost.sum(where=failed),
        "failed_priced": t.count(where=failed & t.cost.notnull()),
        "failed_cpu_ms": (t.cpus.cast("float64") * ms_span(t.complete, t.start)).sum(where=failed),
    }


def failure_columns(g: ir.Table) -> ir.Table:
    """Unrecovered, unpriced, cost and CPU-hours of failed attempts from :func:`failure_sums`."""
    return g.mutate(
        failed_unrecovered=g.failed_attempts - g.failed_recovered,
        failed_without_cost=g.failed_attempts - g.failed_priced,
        failed_cost=money(g.failed_cost_sum, g.failed_attempts),
        failed_cpu_hours=g.failed_cpu_ms.fill_null(0.0) / HOUR_MS,
    )


FAILURE_REPORT = ReportSpec(
    "failures",
    (
        metric(
            "runs",
            "Int64",
            "count",
            "runs attributed to the period (by their complete, else start, else submit)",
        ),
        metric("runs_succeeded", "Int64", "count", "runs with status SUCCEEDED"),
        metric("runs_failed", "Int64", "count", "runs with status FAILED"),
        metric("runs_cancelled", "Int64", "count", "runs with status CANCELLED"),
        metric(
            "failure_rate", "Float64", "fraction", "runs_failed / (runs_succeeded + runs_failed)"
        ),
        metric(
            "runs_needing_attention",
            "Int64",
            "count",
            "SUCCEEDED runs with failed or retried tasks",
        ),
        metric(
            "task_attempts",
            "Int64",
            "count",
            "executed task attempts (not CACHED) attributed to the period by task completion",
        ),
        metric("failed_attempts", "Int64", "count", "attempts with status FAILED"),
        metric("retried_attempts", "Int64", "count", "attempts with attempt > 1"),
        metric(
            "failed_recovered",
            "Int64",
            "count",
            "failed attempts followed by a COMPLETED attempt of the same task name in the same run",
        ),
        metric("failed_unrecovered", "Int64", "count", "failed attempts never followed by success"),
        metric("failed_cost", "Float64", "USD", "cost of failed attempts"),
        metric("failed_cpu_hours", "Float64", "h", "cpus x (complete - start) of failed attempts"),
        metric("failed_without_cost", "Int64", "count", "failed attempts whose cost is null"),
    ),
    "Run failure rate and task failures by period and group.",
)
_FAILED_BILLED = (
    metric("failed_billed_cost", "Float64", "USD",
           "billed cost of the failed attempts (AWS bill: used + idle); <NA> when none has bill lines"),
    metric("failed_without_lines", "Int64", "count", "failed attempts without bill lines"),
)
FAILURE_BILLED = ReportSpec(
    "failures_billed",
    (*(c for c in FAILURE_REPORT.columns if c.name not in ("failed_cost", "failed_without_cost")),
     *_FAILED_BILLED),
    "Run failure rate and task failures, billed cost, by period and group.",
)
FAILURE_BOTH = ReportSpec(
    "failures_both", (*FAILURE_REPORT.columns, *_FAILED_BILLED),
    "Run failure rate and task failures, estimated and billed cost, by period and group.",
)


def _billed_failure_sums(t: ir.Table) -> dict[str, ir.Value]:
    failed = flag(t.status == "FAILED")
    return {**failure_sums(t), "_fb_sum": t._billed.sum(where=failed),
            "_fb_n": t.count(where=failed & t._lines.notnull())}


def _billed_failure_columns(d: ir.Table) -> ir.Table:
    n = d._fb_n.fill_null(0)
    return d.mutate(failed_billed_cost=ibis.ifelse(n > 0, d._fb_sum, ibis.null("float64")),
                    failed_without_lines=d.failed_attempts - n)


@document(FAILURE_REPORT, grouped=True, keys=tuple(RUN_KEYS))
def failure_report(
    tasks: Any = None,
    runs: Any = None,
    period: str | None = "month",
    by: str | Sequence[str] | None = ("pipeline",),
    since: Any = None,
    until: Any = None,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
    basis: str = "estimate",
    billing: Any = None,
) -> Any:
    """Run failure rate, failed and retried task attempts, and their cost by period and group.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``name``, ``status``, ``attempt``, ``cost``, ``cpus``, ``submit``,
        ``start``, ``complete``.
    runs : pandas.DataFrame
        Needs ``run_id``, ``status``, ``submit``, ``start``, ``complete`` and the columns of
        the keys in ``by``.
    period : {"month", "week", "day", "quarter", "year"} or None, default "month"
        UTC period length; ``None`` for all time.
    by : sequence of str or comma-separated str, default ("pipeline",)
        Run-level group keys (see Notes). Failures by process and exit status are in
        :func:`task_failures`.
    since, until : str, datetime or Timestamp, optional
        Keep runs and tasks attributed to ``[since, until)``.
    basis : {"estimate", "billed", "both"}, default "estimate"
        The failed attempts' cost as Seqera estimates it (``failed_cost``,
        ``failed_without_cost``), as the imported AWS bill says (``failed_billed_cost``,
        ``failed_without_lines``: see ``seqera-analytics cur import``), or both.
    billing : pandas.DataFrame, optional
        With frames and a billed basis: ``seqera_analytics.billing.load_cur(...)``.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per period and group:

            {columns}

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name (listing the valid ones), malformed
        ``since``/``until``, or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    See Also
    --------
    task_failures : failed attempts by process and exit status.
    task_attempts : every failed or retried attempt, with whether it recovered.
    runs_needing_attention : the runs behind ``runs_needing_attention``.

    Notes
    -----
    Group keys:

    {keys}

    Whether a run needs attention is decided on all its tasks; the flag is counted in the
    run's period.

    Source: ``GET /workflow`` (run status) and ``GET /workflow/{id}/tasks``.
    """
    p = normalize_period(period)
    keys = normalize_by(
        by,
        tuple(RUN_KEYS),
        report="failure",
        hint="For failures by process or exit status use task_failures().",
    )
    lo, hi = bounds(since, until)
    b = normalize_basis(basis)
    req = Request(
        window=(lo, hi),
        task_columns=[*FAILURE_TASK_COLUMNS, *(BILLED_TASK_COLUMNS if b != "estimate" else ())],
        run_columns=[*run_key_columns(keys), "status", "submit", "start", "complete"],
        runs_required="the failure report",
        billing=b != "estimate",
    )

    def build(src: Sources) -> ir.Table:
        assert src.all_tasks is not None and src.tasks is not None
        t = with_recovered(src.tasks_in(lo, hi, all_runs=True))
        sums = failure_sums
        if b != "estimate":
            t, sums = with_task_bill(src, t), _billed_failure_sums
        tp = task_sums(src, keys=keys, period=p, lo=lo, hi=hi, metrics=sums, tasks=t)
        tp = tp.drop("runs")
        # Whether a run needs attention is decided on all its tasks.
        r = run_rows(src, keys=keys, period=p, lo=lo, hi=hi)
        st = src.tasks_of(r, windowed=lo is not None or hi is not None)
        troubled = st.group_by("run_id").aggregate(
            _troubled=st.count(where=flag(st.status == "FAILED") | (st.attempt.fill_null(1) > 1))
        )
        r = join_on_run(r, troubled)
        ok, bad = flag(r.status == "SUCCEEDED"), flag(r.status == "FAILED")
        rs = r.group_by(["period_ms", *keys]).aggregate(
            runs=r.run_id.nunique(),
            runs_succeeded=r.count(where=ok),
            runs_failed=r.count(where=bad),
            runs_cancelled=r.count(where=flag(r.status == "CANCELLED")),
            runs_needing_attention=r.count(where=ok & (r._troubled.fill_null(0) > 0)),
        )
        d = merge_parts([tp, rs], on=["period_ms", *keys])
        counts = [
            c
            for c in d.columns
            if c not in ("period_ms", *keys, "failed_cost_sum", "failed_cpu_ms", "_fb_sum")
        ]
        d = d.mutate(**{c: d[c].fill_null(0) for c in counts})
        d = failure_columns(d)
        if b != "estimate":
            d = _billed_failure_columns(d)
        return d.mutate(failure_rate=ratio(d.runs_failed, d.runs_succeeded + d.runs_failed))

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend,
                           billing)
    )
    spec = {"estimate": FAILURE_REPORT, "billed": FAILURE_BILLED, "both": FAILURE_BOTH}[b]
    out = finish(table, spec, by=keys, period=p, grouped=True)
    out.attrs["basis"] = b
    return out


TASK_FAILURES = ReportSpec(
    "task_failures",
    (
        id_col(
            "exit_meaning", "string", "what the exit code usually means (when exit_status is a key)"
        ),
        metric("failed_attempts", "Int64", "count", "attempts with status FAILED"),
        metric(
            "recovered",
            "Int64",
            "count",
            "failed attempts followed by a COMPLETED attempt of the same task name in the same run",
        ),
        metric("unrecovered", "Int64", "count", "failed attempts never followed by success"),
        metric("runs", "Int64", "count", "distinct runs with such failures"),
        metric("cost", "Float64", "USD", "cost of the failed attempts"),
        metric("cpu_hours", "Float64", "h", "cpus x (complete - start) of the failed attempts"),
        metric("tasks_without_cost", "Int64", "count", "failed attempts whose cost is null"),
    ),
    "Failed task attempts by process and exit status.",
)

_TASK_FAILURE_KEYS = (*TASK_KEYS, *RUN_KEYS)
_TF_BILLED = (
    metric("billed_cost", "Float64", "USD",
           "billed cost of the failed attempts (AWS bill); <NA> when none has bill lines"),
    metric("tasks_without_lines", "Int64", "count", "failed attempts without bill lines"),
)
TASK_FAILURES_BILLED = ReportSpec(
    "task_failures_billed",
    (*(c for c in TASK_FAILURES.columns if c.name not in ("cost", "tasks_without_cost")), *_TF_BILLED),
    "Failed task attempts by process and exit status, billed cost.",
)
TASK_FAILURES_BOTH = ReportSpec(
    "task_failures_both", (*TASK_FAILURES.columns, *_TF_BILLED),
    "Failed task attempts by process and exit status, estimated and billed cost.",
)


@document(TASK_FAILURES, grouped=True, keys=_TASK_FAILURE_KEYS)
def task_failures(
    tasks: Any = None,
    runs: Any = None,
    by: str | Sequence[str] | None = ("process", "exit_status"),
    period: str | None = None,
    since: Any = None,
    until: Any = None,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
    basis: str = "estimate",
    billing: Any = None,
) -> Any:
    """Failed task attempts by process and exit status (or any other keys).

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``name``, ``status``, ``attempt``, ``cost``, ``cpus``, ``submit``,
        ``start``, ``complete`` and the columns of the task-level keys in ``by``.
    runs : pandas.DataFrame, optional
        Needed for run-level keys in ``by``.
    by : sequence of str or comma-separated str, default ("process", "exit_status")
        Group keys (see Notes).
    period : {"month", "week", "day", "quarter", "year"} or None, default None
        Set it for trends.
    since, until : str, datetime or Timestamp, optional
        Keep attempts attributed to ``[since, until)``.
    basis : {"estimate", "billed", "both"}, default "estimate"
        Cost of the failed attempts as Seqera estimates it (``cost``, ``tasks_without_cost``),
        as the imported AWS bill says (``billed_cost``, ``tasks_without_lines``), or both.
    billing : pandas.DataFrame, optional
        With frames and a billed basis: ``seqera_analytics.billing.load_cur(...)``.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per group with at least one failed attempt, most failures first:

            {columns}

        ``period`` and ``period_label`` are present only when ``period`` is set.

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name, malformed ``since``/``until``, or a frame lacking
        a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    Notes
    -----
    Group keys:

    {keys}

    Source: ``GET /workflow/{id}/tasks`` (``status``, ``exitStatus``, ``attempt``, ``cost``).
    """
    p = normalize_period(period)
    keys = normalize_by(by, _TASK_FAILURE_KEYS, report="task failure")
    lo, hi = bounds(since, until)
    run_keys = [k for k in keys if k in RUN_KEYS and k != "run_id"]
    b = normalize_basis(basis)
    req = Request(
        window=(lo, hi),
        task_columns=[*FAILURE_TASK_COLUMNS, *task_key_columns(keys),
                      *(BILLED_TASK_COLUMNS if b != "estimate" else ())],
        run_columns=run_key_columns(run_keys),
        run_optional=["submit"],
        runs_required=f"grouping by {', '.join(run_keys)}" if run_keys else "",
        billing=b != "estimate",
    )
    gk = [*(["period_ms"] if p else []), *keys]

    def build(src: Sources) -> ir.Table:
        assert src.tasks is not None
        failed = with_recovered(src.tasks_in(lo, hi)).filter(ibis._.status == "FAILED")
        if b != "estimate":
            failed = with_task_bill(src, failed)
        t = task_rows(src, keys=keys, period=p, lo=lo, hi=hi, tasks=failed)
        billed = {"_bsum": t._billed.sum(), "_bn": t._lines.count()} if b != "estimate" else {}
        g = t.aggregate(
            by=gk,
            failed_attempts=t.count(),
            recovered=t.count(where=t.recovered),
            runs=t.run_id.nunique(),
            _cost=t.cost.sum(),
            _priced=t.cost.count(),
            _cpu_ms=(t.cpus.cast("float64") * ms_span(t.complete, t.start)).sum(),
            **billed,
        )
        g = g.filter(g.failed_attempts > 0)  # no row for a group-less total of nothing
        g = g.mutate(
            unrecovered=g.failed_attempts - g.recovered,
            tasks_without_cost=g.failed_attempts - g._priced,
            cost=money(g._cost, g.failed_attempts),
            cpu_hours=g._cpu_ms.fill_null(0.0) / HOUR_MS,
        )
        if b != "estimate":
            g = g.mutate(billed_cost=ibis.ifelse(g._bn > 0, g._bsum, ibis.null("float64")),
                         tasks_without_lines=g.failed_attempts - g._bn)
        return g

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend,
                           billing)
    )
    order = [*(["period"] if p else []), "failed_attempts", *keys]
    spec = {"estimate": TASK_FAILURES, "billed": TASK_FAILURES_BILLED, "both": TASK_FAILURES_BOTH}[b]
    out = finish(
        table,
        spec,
        by=keys,
        period=p,
        grouped=True,
        sort=order,
        ascending=[c != "failed_attempts" for c in order],
    )  # most failures first
    if "exit_status" in keys:
        out["exit_meaning"] = exit_status_meaning(out["exit_status"]).array
    else:
        out = out.drop(columns=["exit_meaning"])
    out.attrs["basis"] = b
    return out
