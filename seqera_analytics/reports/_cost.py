"""Cost: by period and group, and reconciled with Seqera's run cost.

Where the numbers come from
---------------------------
Task ``cost`` is Seqera's estimate for one task attempt (``GET /workflow/{id}/tasks``
``.tasks[].task.cost``, USD): VM hourly rate x max(cpu share, memory share) x (complete -
start). A run's ``cost`` is ``progress.workflowProgress.cost`` (``GET
/workflow/{id}/progress``), which is the sum of its tasks' cost **including cached tasks**:
on a resumed run the Platform counts the cost of every cached task again, although that
money was spent by the run that first executed the task.

Attribution rule
----------------
A task's cost (and every other task quantity) belongs to the period of its ``complete``
time; when that is null, its ``start``, then its ``submit``, then its run's ``submit``.
Periods are UTC (months by default; ISO weeks start on Monday). ``since`` is inclusive and
``until`` exclusive, applied to the same instant. A cached task keeps the timestamps of its
original execution, so its (gross) cost lands in the period the money was actually spent.

Gross, cached, net and failed
-----------------------------
* ``cost``: every task attempt, cached included: what Seqera counts.
* ``cached_cost``: tasks with status CACHED (counted again by the Platform on resume).
* ``net_cost`` = ``cost`` - ``cached_cost``: the money actually spent by executions in the
  period.
* ``failed_cost``: attempts with status FAILED (part of ``cost`` and ``net_cost``).

Tasks without a cost (running tasks, old servers, unpriced instance types) are counted in
``tasks_without_cost``; a cost column is ``<NA>`` (never 0) when the tasks it covers exist but
none has a cost, and a sum over partly priced tasks is a lower bound flagged by that count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir

from .._exceptions import ReportError
from ._billed import (
    BILLED_COLUMNS,
    BOTH_COLUMNS,
    billed_columns,
    billed_sums,
    billed_task_rows,
    normalize_basis,
    normalize_idle,
)
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import flag, merge_parts, money, ms_span, ratio, run_rows, task_sums
from ._rules import (
    HOUR_MS,
    bounds,
    normalize_by,
    normalize_period,
    run_key_columns,
    task_key_columns,
)
from ._spec import RUN_KEYS, TASK_KEYS, ReportSpec, document, id_col, metric

__all__ = ["cost_groups", "cost_report", "cost_sums", "reconcile_costs"]

COST_KEYS = (*RUN_KEYS, *TASK_KEYS)
_COST_TASK_COLUMNS = ("run_id", "status", "cost", "cpus", "submit", "start", "complete")

COST_REPORT = ReportSpec(
    "cost",
    (
        metric(
            "cost",
            "Float64",
            "USD",
            "gross cost of the tasks, cached tasks included (what Seqera "
            "counts); <NA> when no task in the group has a cost",
        ),
        metric("cached_cost", "Float64", "USD", "cost of CACHED tasks (counted again on resume)"),
        metric(
            "net_cost",
            "Float64",
            "USD",
            "cost - cached_cost: money spent by executions in the period",
        ),
        metric(
            "failed_cost",
            "Float64",
            "USD",
            "cost of FAILED attempts (included in cost and net_cost)",
        ),
        metric("tasks", "Int64", "count", "task attempts, all statuses"),
        metric("tasks_cached", "Int64", "count", "CACHED tasks"),
        metric("tasks_failed", "Int64", "count", "FAILED attempts"),
        metric(
            "tasks_without_cost",
            "Int64",
            "count",
            "task attempts whose cost is null (not in any "
            "cost column: the cost columns are then lower bounds)",
        ),
        metric("runs", "Int64", "count", "distinct runs with at least one task in the row"),
        metric(
            "cpu_hours",
            "Float64",
            "h",
            "requested CPU time: sum of cpus x (complete - start), as "
            "Seqera's cpuTime; cached tasks included",
        ),
    ),
    "Cost by period and group.",
)
COST_BILLED = ReportSpec(
    "cost_billed",
    (*BILLED_COLUMNS, *(c for c in COST_REPORT.columns if c.name in ("tasks", "runs"))),
    "Billed cost (from the AWS bill) by period and group.",
)
COST_BOTH = ReportSpec(
    "cost_both",
    (*COST_REPORT.columns, *BILLED_COLUMNS, *BOTH_COLUMNS),
    "Estimated and billed cost by period and group.",
)
_BILLED_TASK_COLUMNS = ("task_id", "hash", "workdir")


RECONCILE = ReportSpec(
    "cost_reconciliation",
    (
        id_col("run_id", "string", "workflow run id"),
        id_col("run_name", "string", "run name"),
        id_col("pipeline", "string", "runs.project_name"),
        id_col("workspace", "string", "'org/workspace'"),
        id_col("run_status", "string", "runs.status"),
        metric(
            "seqera_cost",
            "Float64",
            "USD",
            "the run's cost from Seqera (progress.workflowProgress.cost)",
        ),
        metric(
            "task_cost",
            "Float64",
            "USD",
            "sum of the run's task cost, cached included; 0 when no "
            "task is loaded, <NA> when tasks exist but none has a cost",
        ),
        metric("cached_cost", "Float64", "USD", "cost of the run's CACHED tasks"),
        metric("net_cost", "Float64", "USD", "task_cost - cached_cost"),
        metric(
            "seqera_net_cost",
            "Float64",
            "USD",
            "Seqera's undocumented progress.netCost (null on "
            "older runs), for comparison with net_cost",
        ),
        metric("tasks", "Int64", "count", "task attempts loaded for the run"),
        metric("tasks_without_cost", "Int64", "count", "task attempts whose cost is null"),
        metric("difference", "Float64", "USD", "task_cost - seqera_cost"),
        metric("relative_difference", "Float64", "fraction", "difference / seqera_cost"),
        id_col(
            "matches",
            "boolean",
            "|difference| <= max(rtol x |seqera_cost|, atol); <NA> when either cost is unknown",
        ),
        id_col("note", "string", "why a run does not match or cannot be checked"),
    ),
    "Per-run reconciliation of task costs with Seqera's run cost.",
)


def cost_sums(t: ir.Table, only: ir.BooleanValue | None = None) -> dict[str, ir.Value]:
    """Additive cost figures of a set of task rows (see the module docstring); ``only``:
    the rows that are tasks (the billed basis adds rows of run lines matching no task)."""
    def w(cond: ir.BooleanValue | None = None) -> ir.BooleanValue | None:
        if cond is None:
            return only
        return cond if only is None else cond & only

    cached = flag(t.status == "CACHED")
    failed = flag(t.status == "FAILED")
    return {
        "gross": t.cost.sum(where=w()),
        "tasks": t.count(where=w()),
        "priced": t.cost.count(where=w()),
        "net": t.cost.sum(where=w(~cached)),
        "tasks_net": t.count(where=w(~cached)),
        "cached": t.cost.sum(where=w(cached)),
        "tasks_cached": t.count(where=w(cached)),
        "failed": t.cost.sum(where=w(failed)),
        "tasks_failed": t.count(where=w(failed)),
    }


def _cost_report_sums(t: ir.Table) -> dict[str, ir.Value]:
    cpu_ms = t.cpus.cast("float64") * ms_span(t.complete, t.start)
    return {**cost_sums(t), "cpu_ms": cpu_ms.sum()}


def _both_sums(t: ir.Table) -> dict[str, ir.Value]:
    cpu_ms = t.cpus.cast("float64") * ms_span(t.complete, t.start)
    return {**cost_sums(t, flag(t._is_task)), "cpu_ms": cpu_ms.sum(), **billed_sums(t)}


def _cost_columns(g: ir.Table) -> ir.Table:
    """The documented cost columns from summed :func:`cost_sums` figures."""
    return g.mutate(
        cost=money(g.gross, g.tasks),
        cached_cost=money(g.cached, g.tasks_cached),
        net_cost=money(g.net, g.tasks_net),
        failed_cost=money(g.failed, g.tasks_failed),
        tasks_without_cost=g.tasks - g.priced,
        cpu_hours=g.cpu_ms.fill_null(0.0) / HOUR_MS,
    )


def cost_groups(src: Sources, keys: Sequence[str], p: str | None, lo: int | None, hi: int | None, *,
                billed: bool, idle: str = "task") -> ir.Table:
    """The cost report's rows (period_ms, keys, columns) on the estimate, or on both bases."""
    if not billed:
        g = task_sums(src, keys=keys, period=p, lo=lo, hi=hi, metrics=_cost_report_sums)
        return _cost_columns(g)
    rows = billed_task_rows(src, src.tasks_in(lo, hi, all_runs=src.runs is not None))
    g = task_sums(src, keys=keys, period=p, lo=lo, hi=hi, metrics=_both_sums, tasks=rows)
    g = billed_columns(_cost_columns(g), tuple(keys), idle)
    return g.mutate(billed_to_estimate=ratio(g.billed_cost, g.net_cost))


@document(COST_REPORT, grouped=True, keys=COST_KEYS)
def cost_report(
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
    idle: str = "task",
    billing: Any = None,
) -> Any:
    """Cost by UTC period and any combination of pipeline, user, workspace, label, process...

    Parameters
    ----------
    tasks : pandas.DataFrame
        The tasks table (``seqera_analytics.frames.TASKS``); needs ``run_id``, ``status``,
        ``cost``, ``cpus``, ``submit``, ``start``, ``complete`` and the task columns of the
        task-level keys in ``by`` (``process``, ``queue``, ``price_model``...).
    runs : pandas.DataFrame or None
        The runs table; needs ``run_id`` and the columns of the run-level keys in ``by``
        (``project_name``, ``user_name``, ``labels``...) and ``submit`` (last fallback of the
        attribution). ``None`` is allowed when ``by`` has task-level keys only.
    period : {"month", "week", "day", "quarter", "year"} or None, default "month"
        Length of the UTC periods; ``None`` for one row per group over all time.
    by : sequence of str or comma-separated str, default ("pipeline",)
        Group keys, in output order (see Notes). ``()``/``None`` for totals per period.
    since, until : str, datetime or Timestamp, optional
        Keep tasks attributed to ``[since, until)`` (UTC; naive values are UTC).
    basis : {"estimate", "billed", "both"}, default "estimate"
        Seqera's estimate (the columns below), the AWS bill imported with
        ``seqera-analytics cur import`` (the billed columns below, with ``tasks`` and
        ``runs``), or both side by side with ``billed_to_estimate``. A task's billed cost
        counts in the same period and group as its estimate (see
        :mod:`seqera_analytics.reports._billed` for the matching).
    idle : {"task", "spread", "row"}, default "task"
        Billed basis, for chargeback: where the instances' idle capacity goes. "task": to
        each task, as AWS's split cost allocation shares it (by the task's reserved CPU and
        memory); "spread": the period's idle over the groups in proportion to their
        ``used_cost``; "row": to no group: one row per period whose first key is
        ``'(idle capacity)'`` holds it (``billed_cost`` of the groups is then their used cost).
    billing : pandas.DataFrame, optional
        With frames: the bill (``seqera_analytics.billing.load_cur(...)``); with ``cache``
        the cache's imported bill is used.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per period and group, sorted by period then keys; ``basis="estimate"``:

            {columns}

        ``basis="billed"`` has ``billed_cost``, ``used_cost``, ``idle_cost``,
        ``unmatched_cost``, ``tasks_billed``, ``tasks_without_lines``, ``bill_lines``,
        ``tasks`` and ``runs``; ``"both"`` has all of them and ``billed_to_estimate``
        (``frames``-style dtypes: Float64 USD, Int64 counts).

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name (the message lists the valid ones), malformed or
        reversed ``since``/``until``, or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    See Also
    --------
    reconcile_costs : per-run check against Seqera's run cost.
    session_cost_report : resume chains, with and without the cached double count.

    Notes
    -----
    Group keys:

    {keys}

    A task's cost belongs to the period of its ``complete`` time (fallback ``start``, then
    ``submit``, then the run's ``submit``). Empty inputs, or a window with no tasks, give an
    empty frame with these columns. With ``label`` in ``by`` a run with several labels counts
    in each, so label rows overlap and must not be summed.

    Source: ``GET /workflow/{id}/tasks`` (task cost, status, times, cpus) and ``GET
    /workflow`` (run attributes, labels).

    Examples
    --------
    >>> cost_report(tasks, runs, period="month", by=["pipeline", "user"])  # doctest: +SKIP
    >>> cost_report(cache="~/.cache/seqera-analytics", since="2025-09", until="2025-10",
    ...             workspace="my-org/production", by="pipeline,user")  # doctest: +SKIP
    """
    p = normalize_period(period)
    keys = normalize_by(by, COST_KEYS, report="cost")
    lo, hi = bounds(since, until)
    b = normalize_basis(basis)
    idle_mode = normalize_idle(idle)
    if idle_mode == "row" and (not keys or keys[0] == "exit_status"):
        raise ReportError("idle='row' needs a text group key first in by (e.g. by='user'): "
                          "the idle row is named in it")
    run_keys = [k for k in keys if k in RUN_KEYS and k != "run_id"]
    billed = b != "estimate"
    req = Request(
        window=(lo, hi),
        task_columns=[*_COST_TASK_COLUMNS, *task_key_columns(keys),
                      *(_BILLED_TASK_COLUMNS if billed else ())],
        run_columns=run_key_columns(run_keys),
        run_optional=["submit"],
        runs_required=f"grouping by {', '.join(run_keys)}" if run_keys else "",
        billing=billed,
    )

    def build(src: Sources) -> ir.Table:
        return cost_groups(src, keys, p, lo, hi, billed=billed, idle=idle_mode)

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend,
                           billing)
    )
    spec = {"estimate": COST_REPORT, "billed": COST_BILLED, "both": COST_BOTH}[b]
    out = finish(table, spec, by=keys, period=p, grouped=True)
    out.attrs["basis"] = b
    return out


@document(RECONCILE)
def reconcile_costs(
    tasks: Any = None,
    runs: Any = None,
    *,
    since: Any = None,
    until: Any = None,
    rtol: float = 1e-3,
    atol: float = 0.01,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Compare, per run, the sum of task cost with the run's Seqera cost.

    A cache synced without ``--progress`` holds a finished run's cost as derived from its
    tasks (``frames._load``), which reconciles by construction; sync with ``--progress`` to
    check the Platform's own run totals against the tasks.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cost``.
    runs : pandas.DataFrame
        Needs ``run_id`` and ``cost``; ``run_name``, ``project_name``, ``workspace``,
        ``status`` and ``net_cost`` are shown when present.
    since, until : str, datetime or Timestamp, optional
        Keep runs attributed (``complete``, else ``start``, else ``submit``) to
        ``[since, until)``, with all their tasks.
    rtol : float, default 1e-3
        Relative tolerance (0.1 %).
    atol : float, default 0.01
        Absolute tolerance [USD], for runs of a few cents whose task costs are rounded.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per run in ``runs`` or ``tasks`` (a task whose run is not in ``runs`` shows
        with a null ``seqera_cost``), sorted by ``run_id``:

            {columns}

    Raises
    ------
    ReportError
        A frame lacks a needed column, or a tolerance is negative.

    Notes
    -----
    Seqera's run cost includes cached tasks, so ``task_cost`` (gross) is what must match.
    Source: ``GET /workflow/{id}/progress`` ``.progress.workflowProgress.cost`` and ``GET
    /workflow/{id}/tasks``.
    """
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < math.inf:
            raise ReportError(f"{name} must be a finite number >= 0, got {tol!r}")
    lo, hi = bounds(since, until)
    req = Request(
        window=(lo, hi),
        task_columns=["run_id", "status", "cost"],
        run_columns=["run_id", "cost"],
        run_optional=[
            "run_name",
            "project_name",
            "workspace",
            "status",
            "net_cost",
            "submit",
            "start",
            "complete",
        ],
        runs_required="reconciling with Seqera's run cost",
    )

    def build(src: Sources) -> ir.Table:
        assert src.runs is not None and src.tasks is not None
        tasks = src.tasks
        runs = src.runs
        if lo is not None or hi is not None:
            runs = run_rows(src, keys=(), period=None, lo=lo, hi=hi)
            tasks = src.tasks_of(runs, windowed=True).semi_join(runs.select("run_id"), "run_id")
        per_run = tasks.group_by("run_id").aggregate(**cost_sums(tasks))
        info = runs.select(
            "run_id",
            "run_name",
            pipeline=runs.project_name,
            workspace=runs.workspace,
            run_status=runs.status,
            seqera_cost=runs.cost,
            seqera_net_cost=runs.net_cost,
            in_runs=ibis.literal(True),
        )
        d = merge_parts([info, per_run], on=["run_id"])
        d = d.mutate(
            tasks=d.tasks.fill_null(0),
            priced=d.priced.fill_null(0),
            tasks_net=d.tasks_net.fill_null(0),
            tasks_cached=d.tasks_cached.fill_null(0),
        )
        d = d.mutate(
            task_cost=money(d.gross, d.tasks),
            cached_cost=money(d.cached, d.tasks_cached),
            net_cost=money(d.net, d.tasks_net),
            tasks_without_cost=d.tasks - d.priced,
        )
        d = d.mutate(difference=d.task_cost - d.seqera_cost)
        d = d.mutate(
            relative_difference=ratio(d["difference"], d.seqera_cost.abs()),
            matches=d["difference"].abs() <= ibis.greatest(rtol * d.seqera_cost.abs(), atol),
        )
        in_runs = d.in_runs.fill_null(False)
        return d.mutate(
            note=ibis.cases(
                (~in_runs, "run not in the runs frame"),
                (d.seqera_cost.isnull(), "Seqera run cost unknown"),
                (d.tasks == 0, "no tasks loaded for the run"),
                (d.task_cost.isnull(), "no task has a cost"),
                ((d.tasks_without_cost > 0) & ~d.matches, "tasks without a cost"),
                (~d.matches, "task costs differ from the run cost"),
                else_=ibis.null("string"),
            )
        )

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend)
    )
    return finish(table, RECONCILE, sort=["run_id"])
