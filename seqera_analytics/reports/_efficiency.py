"""Efficiency: requested vs used CPU, memory and time per process, the money spent on unused
requests, and right-sizing suggestions emitted as a Nextflow config snippet.

Which tasks
-----------
COMPLETED tasks only: a CACHED task repeats the numbers of an earlier execution, and a
FAILED attempt usually has no usage metrics (and its use says little about what the task
needs). The cost of failed attempts is in :func:`~seqera_analytics.reports.failure_report`.

Usage ratios (per task)
-----------------------
* CPU: ``pcpu / (100 x cpus)`` (``pcpu`` is % of one core, so 1.0 = every requested core
  busy; it can exceed 1 when a tool uses more threads than requested).
* Memory: ``peak_rss / memory``.
* Time: ``realtime / time`` (``time`` is the requested limit).

Money spent on unused requests (the "waste" model)
--------------------------------------------------
Seqera prices a task as VM rate x max(cpu share, memory share) x runtime: the task pays for
the larger of its CPU and memory slices of the VM. Shrinking the request to what was used
would have shrunk that slice by the better-used of the two resources, so per task::

    wasted_cost = cost x (1 - max(cpu_usage, memory_usage)), clipped to [0, cost]

Tasks lacking ``cost``, ``pcpu`` or ``peak_rss`` are left out of ``wasted_cost`` and counted
(``tasks_without_usage``). The time limit costs nothing by itself (you pay for the runtime),
so it does not enter the model. This is a lower bound of what right-sizing saves when
smaller requests let more tasks share a VM, and ignores VM packing.

Right-sizing suggestions
------------------------
See :mod:`._rightsizing` (the policy: quantile of use plus headroom, never below the
largest use, rounded up to friendly Nextflow units).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from ._billed import BILLED_TASK_COLUMNS, normalize_basis, with_task_bill
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import flag, implausible, money, ms_span, ratio, task_rows
from ._rightsizing import (
    GIB,
    MS_PER_HOUR,
    RIGHT_SIZE,
    check_params,
    nextflow_config,
    nextflow_cpus,
    nextflow_memory,
    nextflow_time,
    suggest,
)
from ._rules import bounds, normalize_by, run_key_columns, task_key_columns
from ._spec import RUN_KEYS, TASK_KEYS, ReportSpec, document, metric

__all__ = [
    "efficiency_report",
    "nextflow_config",
    "nextflow_cpus",
    "nextflow_memory",
    "nextflow_time",
    "right_size",
]

_KEYS = tuple(k for k in (*TASK_KEYS, *RUN_KEYS) if k != "label")
_TASK_COLUMNS = (
    "run_id",
    "status",
    "cpus",
    "memory",
    "time",
    "pcpu",
    "peak_rss",
    "realtime",
    "cost",
    "submit",
    "start",
    "complete",
)


def _request(keys: Sequence[str], lo: int | None, hi: int | None, billed: bool = False) -> Request:
    run_keys = [k for k in keys if k in RUN_KEYS and k != "run_id"]
    return Request(
        window=(lo, hi),
        task_columns=[*_TASK_COLUMNS, *task_key_columns(keys), *(BILLED_TASK_COLUMNS if billed else ())],
        run_columns=run_key_columns(run_keys),
        run_optional=["submit"],
        runs_required=f"grouping by {', '.join(run_keys)}" if run_keys else "",
        billing=billed,
    )


def _usage(src: Sources, keys: Sequence[str], lo: int | None, hi: int | None,
           billed: bool = False) -> ir.Table:
    """COMPLETED tasks in the window with their key columns and per-task usage; tasks with
    an implausible reading (``frames._quality``: pcpu or peak_rss beyond the machine, realtime
    beyond the run) are left out whole, so that no suggestion follows such a reading."""
    assert src.tasks is not None
    t = src.tasks_in(lo, hi)
    done = t.filter(flag(t.status == "COMPLETED") & ~implausible(t))
    if billed:
        done = with_task_bill(src, done)
    t = task_rows(src, keys=keys, period=None, lo=lo, hi=hi, tasks=done)
    pcpu, real = t.pcpu.cast("float64"), t.realtime.cast("float64")
    return t.mutate(
        _cpu_usage=ratio(pcpu, 100.0 * t.cpus.cast("float64")),
        _memory_usage=ratio(t.peak_rss, t.memory),
        _time_usage=ratio(real, t.time),
        _cpu_used=pcpu / 100.0,
        _memory_used=t.peak_rss.cast("float64"),
        # the wall time the executor saw: a time limit covers staging, which realtime excludes
        _time_used=ibis.greatest(real, ms_span(t.complete, t.start)),
    )


def _suggestion_stats(t: ir.Table, quantile: float) -> dict[str, ir.Value]:
    """Per-group statistics the right-sizing policy reads."""
    out: dict[str, ir.Value] = {
        "tasks_completed": t.count(),
        "cpus_requested": t.cpus.max(),
        "memory_requested": t.memory.max(),
        "time_requested_ms": t.time.max(),
    }
    for res in ("cpu", "memory", "time"):
        used = t[f"_{res}_used"]
        out[f"{res}_q"] = used.quantile(quantile)
        out[f"{res}_max"] = used.max()
        out[f"{res}_n"] = used.count()
    return out


def _with_suggestions(raw: pa.Table, quantile: float, headroom: float, min_tasks: int) -> pa.Table:
    """The policy's suggestions (one row per group, in Python) appended to the statistics."""
    stats = raw.to_pandas()
    stats["memory_requested_gib"] = stats["memory_requested"] / GIB
    stats["time_requested_hours"] = stats["time_requested_ms"] / MS_PER_HOUR
    stats["cpu_used_q"] = stats["cpu_q"]
    stats["cpu_used_max"] = stats["cpu_max"]
    stats["memory_used_q_gib"] = stats["memory_q"] / GIB
    stats["memory_used_max_gib"] = stats["memory_max"] / GIB
    stats["time_used_q_hours"] = stats["time_q"] / MS_PER_HOUR
    stats["time_used_max_hours"] = stats["time_max"] / MS_PER_HOUR
    both = pd.concat([stats, suggest(stats, quantile, headroom, min_tasks)], axis=1)
    out = pa.Table.from_pandas(both, preserve_index=False)
    return out.replace_schema_metadata(raw.schema.metadata)  # the notes and coverage


@document(RIGHT_SIZE, grouped=True, periodic=False, keys=_KEYS)
def right_size(
    tasks: Any = None,
    runs: Any = None,
    by: str | Sequence[str] | None = ("process",),
    since: Any = None,
    until: Any = None,
    quantile: float = 0.95,
    headroom: float = 0.2,
    min_tasks: int = 3,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Right-sizing suggestions (cpus, memory, time) per process from observed use.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cpus``, ``memory``, ``time``, ``pcpu``, ``peak_rss``,
        ``realtime``, ``cost``, ``submit``, ``start``, ``complete`` (and ``process``).
    runs : pandas.DataFrame, optional
        Needed for run-level keys in ``by`` (e.g. ``pipeline``).
    by : sequence of str or comma-separated str, default ("process",)
        Group keys (see Notes). Keep ``process`` in it to feed :func:`nextflow_config`.
    since, until : str, datetime or Timestamp, optional
        Keep tasks attributed to ``[since, until)``.
    {inputs}
    quantile : float, default 0.95
        Quantile of observed use the suggestion starts from.
    headroom : float, default 0.2
        Fraction added to the quantile (0.2 = 20 %).
    min_tasks : int, default 3
        Fewest successful observations of a resource to suggest a value for it.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by keys:

            {columns}

    Raises
    ------
    ReportError
        Unknown ``by`` name, bad ``quantile``/``headroom``/``min_tasks``, malformed
        ``since``/``until``, or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    See Also
    --------
    nextflow_config : the suggestions as a Nextflow config snippet.

    Notes
    -----
    Group keys:

    {keys}

    Suggestion = max(quantile x (1 + headroom), observed max), rounded up to friendly units
    (see the module documentation); never below the largest use of a successful task.
    """
    check_params(quantile, headroom, min_tasks)
    keys = normalize_by(by, _KEYS, report="right-sizing")
    lo, hi = bounds(since, until)

    def build(src: Sources) -> ir.Table:
        t = _usage(src, keys, lo, hi)
        return t.aggregate(by=list(keys), **_suggestion_stats(t, quantile)).filter(
            ibis._.tasks_completed > 0
        )

    raw = run_query(
        build,
        _request(keys, lo, hi),
        Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend),
    )
    return finish(_with_suggestions(raw, quantile, headroom, int(min_tasks)), RIGHT_SIZE, by=keys)


EFFICIENCY = ReportSpec(
    "efficiency",
    (
        metric("tasks", "Int64", "count", "successful (COMPLETED) tasks"),
        metric("runs", "Int64", "count", "distinct runs"),
        metric("cpus_median", "Float64", "count", "median cpus requested"),
        metric("cpu_usage_median", "Float64", "fraction", "median of pcpu / (100 x cpus)"),
        metric("cpu_usage_p90", "Float64", "fraction", "90th percentile of pcpu / (100 x cpus)"),
        metric("cpu_usage_max", "Float64", "fraction", "largest pcpu / (100 x cpus)"),
        metric("memory_gib_median", "Float64", "GiB", "median memory requested"),
        metric("memory_usage_median", "Float64", "fraction", "median of peak_rss / memory"),
        metric("memory_usage_p90", "Float64", "fraction", "90th percentile of peak_rss / memory"),
        metric("memory_usage_max", "Float64", "fraction", "largest peak_rss / memory"),
        metric("time_hours_median", "Float64", "h", "median time limit requested"),
        metric("time_usage_median", "Float64", "fraction", "median of realtime / time"),
        metric("time_usage_p90", "Float64", "fraction", "90th percentile of realtime / time"),
        metric("time_usage_max", "Float64", "fraction", "largest realtime / time"),
        metric("cost", "Float64", "USD", "cost of the successful tasks"),
        metric(
            "wasted_cost",
            "Float64",
            "USD",
            "sum of cost x (1 - max(cpu_usage, memory_usage)), "
            "clipped to [0, cost], over tasks with cost and usage",
        ),
        metric("wasted_share", "Float64", "fraction", "wasted_cost / cost of the same tasks"),
        metric(
            "tasks_without_usage",
            "Int64",
            "count",
            "tasks left out of wasted_cost (no cost, pcpu or peak_rss)",
        ),
        *(c for c in RIGHT_SIZE.columns if c.name not in ("tasks_completed",)),
    ),
    "Requested vs used resources per process, waste and right-sizing.",
)
_EFF_BILLED = (
    metric("billed_cost", "Float64", "USD",
           "billed cost of the successful tasks (AWS bill: used + idle); <NA> without bill lines"),
    metric("idle_cost", "Float64", "USD", "part of billed_cost for their instances' idle capacity"),
    metric("wasted_billed_cost", "Float64", "USD",
           "sum of the bill's used_cost x (1 - max(cpu_usage, memory_usage)) over tasks with lines "
           "and usage: the billed money spent on requests the tasks did not use"),
    metric("tasks_without_lines", "Int64", "count", "successful tasks without bill lines"),
)
_ESTIMATE_ONLY = ("cost", "wasted_cost", "wasted_share", "tasks_without_usage")
EFFICIENCY_BILLED = ReportSpec(
    "efficiency_billed",
    (*(c for c in EFFICIENCY.columns if c.name not in _ESTIMATE_ONLY), *_EFF_BILLED),
    "Requested vs used resources per process, billed waste and right-sizing.",
)
EFFICIENCY_BOTH = ReportSpec(
    "efficiency_both", (*EFFICIENCY.columns, *_EFF_BILLED),
    "Requested vs used resources per process, estimated and billed waste, right-sizing.",
)


@document(EFFICIENCY, grouped=True, periodic=False, keys=_KEYS)
def efficiency_report(
    tasks: Any = None,
    runs: Any = None,
    by: str | Sequence[str] | None = ("process",),
    since: Any = None,
    until: Any = None,
    quantile: float = 0.95,
    headroom: float = 0.2,
    min_tasks: int = 3,
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
    """Requested vs used CPU, memory and time per process across runs, the money spent on
    unused requests, and right-sizing suggestions.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cpus``, ``memory``, ``time``, ``pcpu``, ``peak_rss``,
        ``realtime``, ``cost``, ``submit``, ``start``, ``complete`` and ``process``.
    runs : pandas.DataFrame, optional
        Needed for run-level keys in ``by`` (e.g. ``pipeline``).
    by : sequence of str or comma-separated str, default ("process",)
        Group keys (see Notes).
    since, until : str, datetime or Timestamp, optional
        Keep tasks attributed to ``[since, until)``.
    quantile, headroom, min_tasks
        Right-sizing parameters, as in :func:`right_size`.
    basis : {"estimate", "billed", "both"}, default "estimate"
        Money on Seqera's estimate (``cost``, ``wasted_cost``, ``wasted_share``), on the
        imported AWS bill (``billed_cost``, ``idle_cost``, ``wasted_billed_cost``,
        ``tasks_without_lines``; sorted by ``wasted_billed_cost``), or both.
    billing : pandas.DataFrame, optional
        With frames and a billed basis: ``seqera_analytics.billing.load_cur(...)``.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``wasted_cost`` (largest first):

            {columns}

    Raises
    ------
    ReportError
        Unknown ``by`` name, bad right-sizing parameters, malformed ``since``/``until``, or a
        frame lacking a needed column.

    See Also
    --------
    right_size, nextflow_config

    Notes
    -----
    Group keys:

    {keys}

    ``wasted_cost`` model: Seqera prices a task by the larger of its CPU and memory shares of
    the VM, so the share that was not needed is ``1 - max(cpu_usage, memory_usage)``.

    Source: ``GET /workflow/{id}/tasks`` (``cpus``, ``memory``, ``time``, ``pcpu``,
    ``peakRss``, ``realtime``, ``cost``).
    """
    check_params(quantile, headroom, min_tasks)
    keys = normalize_by(by, _KEYS, report="efficiency")
    lo, hi = bounds(since, until)
    b = normalize_basis(basis)
    billed = b != "estimate"

    def build(src: Sources) -> ir.Table:
        t = _usage(src, keys, lo, hi, billed)
        measured = t.cost.notnull() & t._cpu_usage.notnull() & t._memory_usage.notnull()
        share_unused = (1.0 - ibis.greatest(t._cpu_usage, t._memory_usage)).clip(0.0, 1.0)
        stats: dict[str, ir.Value] = {
            "tasks": t.count(),
            "runs": t.run_id.nunique(),
            "cpus_median": t.cpus.cast("float64").quantile(0.5),
            "memory_gib_median": (t.memory.cast("float64") / GIB).quantile(0.5),
            "time_hours_median": (t.time.cast("float64") / MS_PER_HOUR).quantile(0.5),
            "_cost": t.cost.sum(),
            "_wasted": (t.cost * share_unused).sum(where=measured),
            "_measured_cost": t.cost.sum(where=measured),
            "_measured": t.count(where=measured),
        }
        if billed:
            on_bill = t._lines.notnull() & t._cpu_usage.notnull() & t._memory_usage.notnull()
            stats |= {"_billed": t._billed.sum(), "_idle": t._idle.sum(), "_bn": t._lines.count(),
                      "_wasted_billed": (t._used * share_unused).sum(where=on_bill)}
        for res in ("cpu", "memory", "time"):
            u = t[f"_{res}_usage"]
            stats[f"{res}_usage_median"] = u.quantile(0.5)
            stats[f"{res}_usage_p90"] = u.quantile(0.9)
            stats[f"{res}_usage_max"] = u.max()
        g = t.aggregate(by=list(keys), **stats, **_suggestion_stats(t, quantile))
        g = g.filter(g.tasks > 0)
        g = g.mutate(
            cost=money(g._cost, g.tasks),
            wasted_cost=g._wasted,  # <NA> when no task has cost and usage
            wasted_share=ratio(g._wasted, g._measured_cost),
            tasks_without_usage=g.tasks - g._measured,
        )
        if billed:
            has = g._bn > 0
            none = ibis.null("float64")
            g = g.mutate(billed_cost=ibis.ifelse(has, g._billed, none),
                         idle_cost=ibis.ifelse(has, g._idle, none),
                         wasted_billed_cost=ibis.ifelse(has, g._wasted_billed, none),
                         tasks_without_lines=g.tasks - g._bn)
        return g

    raw = run_query(
        build,
        _request(keys, lo, hi, billed),
        Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend, billing),
    )
    table = _with_suggestions(raw, quantile, headroom, int(min_tasks))
    spec = {"estimate": EFFICIENCY, "billed": EFFICIENCY_BILLED, "both": EFFICIENCY_BOTH}[b]
    out = finish(
        table,
        spec,
        by=keys,
        sort=["wasted_billed_cost" if b == "billed" else "wasted_cost", *keys],
        ascending=[False, *([True] * len(keys))],
    )
    out.attrs["basis"] = b
    return out
