"""Cost: by period and group, reconciled with Seqera's run cost, resume-aware per session.

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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._common import (
    MS_PER_HOUR,
    RUN_KEYS,
    TASK_KEYS,
    ReportSpec,
    _combine,
    _id,
    _m,
    bounds,
    document,
    factorize,
    finalize,
    group_sums,
    is_value,
    normalize_by,
    normalize_period,
    num,
    ratio,
    require,
    span_ms,
    task_key_columns,
    ts_ms,
    with_na,
)

__all__ = ["cost_report", "reconcile_costs", "session_cost_report"]

COST_KEYS = (*RUN_KEYS, *TASK_KEYS)

COST_REPORT = ReportSpec(
    "cost",
    (
        _m(
            "cost",
            "Float64",
            "USD",
            "gross cost of the tasks, cached tasks included (what Seqera "
            "counts); <NA> when no task in the group has a cost",
        ),
        _m("cached_cost", "Float64", "USD", "cost of CACHED tasks (counted again on resume)"),
        _m(
            "net_cost",
            "Float64",
            "USD",
            "cost - cached_cost: money spent by executions in the period",
        ),
        _m(
            "failed_cost",
            "Float64",
            "USD",
            "cost of FAILED attempts (included in cost and net_cost)",
        ),
        _m("tasks", "Int64", "count", "task attempts, all statuses"),
        _m("tasks_cached", "Int64", "count", "CACHED tasks"),
        _m("tasks_failed", "Int64", "count", "FAILED attempts"),
        _m(
            "tasks_without_cost",
            "Int64",
            "count",
            "task attempts whose cost is null (not in any "
            "cost column: the cost columns are then lower bounds)",
        ),
        _m("runs", "Int64", "count", "distinct runs with at least one task in the row"),
        _m(
            "cpu_hours",
            "Float64",
            "h",
            "requested CPU time: sum of cpus x (complete - start), as "
            "Seqera's cpuTime; cached tasks included",
        ),
    ),
    "Cost by period and group.",
)

_COST_TASK_COLUMNS = ("run_id", "status", "cost", "cpus", "submit", "start", "complete")


def _cost_metrics(t: pd.DataFrame) -> Mapping[str, Any]:
    cost = num(t["cost"])
    priced = ~np.isnan(cost)
    c0 = np.where(priced, cost, 0.0)
    cached = is_value(t["status"], "CACHED")
    failed = is_value(t["status"], "FAILED")
    cpu_ms = num(t["cpus"]) * span_ms(ts_ms(t["complete"]), ts_ms(t["start"]))
    np.nan_to_num(cpu_ms, copy=False, nan=0.0)  # a new array: safe to change in place
    return {
        "cost": c0,
        "priced": priced,
        "cached_cost": (c0, cached),
        "tasks_cached": cached,
        "cached_priced": priced & cached,
        "failed_cost": (c0, failed),
        "tasks_failed": failed,
        "failed_priced": priced & failed,
        "tasks": None,
        "cpu_ms": cpu_ms,
    }


def _cost_columns(g: pd.DataFrame) -> pd.DataFrame:
    """Turn summed cost metrics into the documented cost columns (in place)."""
    g["net_cost"] = with_na(
        g["cost"] - g["cached_cost"],
        g["tasks"] - g["tasks_cached"],
        g["priced"] - g["cached_priced"],
    )
    g["cost"] = with_na(g["cost"], g["tasks"], g["priced"])
    g["cached_cost"] = with_na(g["cached_cost"], g["tasks_cached"], g["cached_priced"])
    g["failed_cost"] = with_na(g["failed_cost"], g["tasks_failed"], g["failed_priced"])
    g["tasks_without_cost"] = g["tasks"] - g["priced"]
    g["cpu_hours"] = g["cpu_ms"] / MS_PER_HOUR
    return g


@document(COST_REPORT, grouped=True, keys=COST_KEYS)
def cost_report(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None,
    period: str | None = "month",
    by: str | Sequence[str] | None = ("pipeline",),
    since: Any = None,
    until: Any = None,
) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        One row per period and group, sorted by period then keys:

            {columns}

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name (the message lists the valid ones), malformed or
        reversed ``since``/``until``, or a frame lacking a needed column.

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
    """
    p = normalize_period(period)
    keys = normalize_by(by, COST_KEYS, report="cost")
    lo, hi = bounds(since, until)
    task_keys = [k for k in keys if k in TASK_KEYS]
    require(
        tasks, [*_COST_TASK_COLUMNS, *(c for k in task_keys for c in task_key_columns(k))], "tasks"
    )
    g = group_sums(tasks, runs, by=keys, period=p, lo=lo, hi=hi, metrics=_cost_metrics)
    return finalize(_cost_columns(g), COST_REPORT, by=keys, period=p, grouped=True)


RECONCILE = ReportSpec(
    "cost_reconciliation",
    (
        _id("run_id", "string", "workflow run id"),
        _id("run_name", "string", "run name"),
        _id("pipeline", "string", "runs.project_name"),
        _id("workspace", "string", "'org/workspace'"),
        _id("run_status", "string", "runs.status"),
        _m(
            "seqera_cost",
            "Float64",
            "USD",
            "the run's cost from Seqera (progress.workflowProgress.cost)",
        ),
        _m(
            "task_cost",
            "Float64",
            "USD",
            "sum of the run's task cost, cached included; 0 when no "
            "task is loaded, <NA> when tasks exist but none has a cost",
        ),
        _m("cached_cost", "Float64", "USD", "cost of the run's CACHED tasks"),
        _m("net_cost", "Float64", "USD", "task_cost - cached_cost"),
        _m(
            "seqera_net_cost",
            "Float64",
            "USD",
            "Seqera's undocumented progress.netCost (null on "
            "older runs), for comparison with net_cost",
        ),
        _m("tasks", "Int64", "count", "task attempts loaded for the run"),
        _m("tasks_without_cost", "Int64", "count", "task attempts whose cost is null"),
        _m("difference", "Float64", "USD", "task_cost - seqera_cost"),
        _m("relative_difference", "Float64", "fraction", "difference / seqera_cost"),
        _id(
            "matches",
            "boolean",
            "|difference| <= max(rtol x |seqera_cost|, atol); <NA> when either cost is unknown",
        ),
        _id("note", "string", "why a run does not match or cannot be checked"),
    ),
    "Per-run reconciliation of task costs with Seqera's run cost.",
)


@document(RECONCILE)
def reconcile_costs(
    tasks: pd.DataFrame, runs: pd.DataFrame, *, rtol: float = 1e-3, atol: float = 0.01
) -> pd.DataFrame:
    """Compare, per run, the sum of task cost with the run's Seqera cost.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cost``.
    runs : pandas.DataFrame
        Needs ``run_id`` and ``cost``; ``run_name``, ``project_name``, ``workspace``,
        ``status`` and ``net_cost`` are shown when present.
    rtol : float, default 1e-3
        Relative tolerance (0.1 %).
    atol : float, default 0.01
        Absolute tolerance [USD], for runs of a few cents whose task costs are rounded.

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
    from .._exceptions import ReportError

    if rtol < 0 or atol < 0:
        raise ReportError("rtol and atol must be >= 0")
    require(tasks, ["run_id", "status", "cost"], "tasks")
    require(runs, ["run_id", "cost"], "runs")
    g = group_sums(
        tasks, None, by=("run_id",), period=None, lo=None, hi=None, metrics=_cost_metrics_light
    )
    r = runs.drop_duplicates("run_id", keep="last")
    info = pd.DataFrame({"run_id": r["run_id"].astype("string").array})
    for src, dst in (
        ("run_name", "run_name"),
        ("project_name", "pipeline"),
        ("workspace", "workspace"),
        ("status", "run_status"),
        ("cost", "seqera_cost"),
        ("net_cost", "seqera_net_cost"),
    ):
        info[dst] = r[src].array if src in r.columns else pd.array([None] * len(r), dtype="string")
    df = info.merge(g.drop(columns=["period_ms", "runs"]), on="run_id", how="outer")
    for c in ("cost", "priced", "cached_cost", "tasks_cached", "cached_priced", "tasks"):
        df[c] = df[c].fillna(0.0)
    seqera = num(df["seqera_cost"])
    df["task_cost"] = with_na(df["cost"], df["tasks"], df["priced"])
    df["net_cost"] = with_na(
        df["cost"] - df["cached_cost"],
        df["tasks"] - df["tasks_cached"],
        df["priced"] - df["cached_priced"],
    )
    df["cached_cost"] = with_na(df["cached_cost"], df["tasks_cached"], df["cached_priced"])
    df["tasks_without_cost"] = df["tasks"] - df["priced"]
    task_cost = num(df["task_cost"])
    diff = task_cost - seqera + 0.0  # + 0.0 turns -0.0 into 0.0
    df["difference"] = pd.array(diff, dtype="Float64")
    df["relative_difference"] = ratio(diff, np.abs(seqera))
    known = ~np.isnan(diff)
    ok = np.abs(np.nan_to_num(diff)) <= np.maximum(rtol * np.abs(np.nan_to_num(seqera)), atol)
    matches = pd.array(ok, dtype="boolean")
    matches[~known] = pd.NA
    df["matches"] = matches
    in_runs = df["run_id"].isin(info["run_id"]).to_numpy()
    notes = np.select(
        [
            ~in_runs,
            np.isnan(seqera),
            df["tasks"].to_numpy() == 0,
            np.isnan(task_cost),
            (df["tasks_without_cost"].to_numpy() > 0) & ~ok,
            ~ok,
        ],
        [
            "run not in the runs frame",
            "Seqera run cost unknown",
            "no tasks loaded for the run",
            "no task has a cost",
            "tasks without a cost",
            "task costs differ from the run cost",
        ],
        default="",
    )
    note = notes.astype(object)
    note[notes == ""] = None
    df["note"] = pd.array(note, dtype="string")
    return finalize(df, RECONCILE, sort=["run_id"])


def _cost_metrics_light(t: pd.DataFrame) -> Mapping[str, Any]:
    cost = num(t["cost"])
    priced = ~np.isnan(cost)
    c0 = np.where(priced, cost, 0.0)
    cached = is_value(t["status"], "CACHED")
    return {
        "cost": c0,
        "priced": priced,
        "cached_cost": (c0, cached),
        "tasks_cached": cached,
        "cached_priced": priced & cached,
        "tasks": None,
    }


SESSIONS = ReportSpec(
    "session_cost",
    (
        _id(
            "session_id",
            "string",
            "Nextflow session id shared by a run and its resumes (the run_id for runs without one)",
        ),
        _id("pipeline", "string", "runs.project_name of the chain's first run"),
        _id(
            "run_ids", "object", "the chain's run ids, by submission (a list; ';'-joined on export)"
        ),
        _m("runs", "Int64", "count", "runs in the chain"),
        _m("resumed_runs", "Int64", "count", "runs launched with -resume"),
        _id("first_submit", "datetime64[ms, UTC]", "submission of the first run", "UTC"),
        _id("last_complete", "datetime64[ms, UTC]", "completion of the last run", "UTC"),
        _m(
            "seqera_cost",
            "Float64",
            "USD",
            "sum of the runs' Seqera cost: the Platform's total, "
            "cached tasks counted again in every resume",
        ),
        _m(
            "cost",
            "Float64",
            "USD",
            "sum of task cost, cached included (equals seqera_cost when the tasks reconcile)",
        ),
        _m("cached_cost", "Float64", "USD", "cost of CACHED tasks"),
        _m(
            "net_cost",
            "Float64",
            "USD",
            "cost without CACHED tasks: each execution once, in the run that executed it",
        ),
        _m(
            "double_counted_cost",
            "Float64",
            "USD",
            "cost of CACHED tasks whose original execution "
            "(same session, same task hash, not cached) is also in the data: counted twice by cost",
        ),
        _m(
            "deduplicated_cost",
            "Float64",
            "USD",
            "cost - double_counted_cost: each execution "
            "once; a cached task whose original run is not loaded still counts once",
        ),
        _m("tasks", "Int64", "count", "task attempts"),
        _m("tasks_cached", "Int64", "count", "CACHED tasks"),
        _m(
            "tasks_cached_origin_found",
            "Int64",
            "count",
            "CACHED tasks whose original execution is in the data",
        ),
        _m("tasks_without_cost", "Int64", "count", "task attempts whose cost is null"),
    ),
    "Cost per resume chain (session), with and without the cached double count.",
)


@document(SESSIONS)
def session_cost_report(tasks: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Cost per resume chain: runs sharing a ``session_id``, with and without the cost of
    cached tasks counted again.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cost``, ``hash``.
    runs : pandas.DataFrame
        Needs ``run_id``, ``session_id``, ``cost``, ``submit``, ``complete``, ``resume`` and
        ``project_name``.

    Returns
    -------
    pandas.DataFrame
        One row per session, sorted by ``first_submit``:

            {columns}

    Raises
    ------
    ReportError
        A frame lacks a needed column.

    Notes
    -----
    On ``-resume`` Nextflow reuses a task whose inputs and script are unchanged; the reused
    task keeps its work-directory ``hash``, and the Platform lists it as CACHED with its
    original cost, which enters the resumed run's cost. A cached task is *double counted*
    when its original execution (same session, same ``hash``, status COMPLETED) is in the
    data too. When the run that executed it is not loaded (deleted, in another window), the
    cached copy is the only trace of that money and ``deduplicated_cost`` keeps it.

    Source: ``GET /workflow`` (``sessionId``, ``resume``), ``GET /workflow/{id}/progress``
    (run cost), ``GET /workflow/{id}/tasks`` (``status``, ``hash``, ``cost``).
    """
    require(tasks, ["run_id", "status", "cost", "hash"], "tasks")
    require(
        runs,
        ["run_id", "session_id", "cost", "submit", "complete", "resume", "project_name"],
        "runs",
    )
    r = runs.drop_duplicates("run_id", keep="last").copy()
    r["run_id"] = r["run_id"].astype("string")
    r["session_id"] = r["session_id"].astype("string").fillna(r["run_id"])
    r = r.sort_values("submit", kind="stable", na_position="last")

    # A cached task's original execution: a COMPLETED task of the same session with the same
    # hash. Matched on integer codes of (session, hash).
    run_codes, run_uniq = factorize(tasks["run_id"])
    session_of = r.set_index("run_id")["session_id"]
    session_of = session_of.set_axis(session_of.index.astype(object)).reindex(
        pd.Index(np.asarray(run_uniq, dtype=object))
    )
    sess_per_run, sess_uniq = factorize(session_of)
    tsess = (
        np.where(run_codes >= 0, sess_per_run[np.maximum(run_codes, 0)], -1)
        if len(sess_per_run)
        else np.full(len(tasks), -1, dtype=np.int64)
    )
    cached = is_value(tasks["status"], "CACHED")
    found = np.zeros(len(tasks), dtype=bool)
    if cached.any():
        hash_codes, hash_uniq = factorize(tasks["hash"])
        known = (tsess >= 0) & (hash_codes >= 0)
        idx = np.flatnonzero(known & (cached | is_value(tasks["status"], "COMPLETED")))
        pair, _ = _combine(
            [(tsess[idx], len(sess_uniq)), (hash_codes[idx], len(hash_uniq))], len(idx)
        )
        origin = np.zeros(int(pair.max()) + 1 if len(pair) else 0, dtype=bool)
        was_cached = cached[idx]
        origin[pair[~was_cached]] = True
        found[idx[was_cached]] = origin[pair[was_cached]]

    def metrics(t: pd.DataFrame) -> Mapping[str, np.ndarray]:
        m = dict(_cost_metrics_light(t))
        m["double"] = (m["cost"], found)
        m["found"] = found
        return m

    per_run = group_sums(
        tasks, None, by=("run_id",), period=None, lo=None, hi=None, metrics=metrics
    ).drop(columns=["period_ms", "runs"])

    df = r[["run_id", "session_id", "project_name", "cost", "submit", "complete", "resume"]].rename(
        columns={"cost": "seqera_cost"}
    )
    df = df.merge(per_run, on="run_id", how="left")
    for c in (
        "cost",
        "priced",
        "cached_cost",
        "tasks_cached",
        "cached_priced",
        "tasks",
        "double",
        "found",
    ):
        df[c] = df[c].astype("float64").fillna(0.0)
    df["seqera_cost"] = df["seqera_cost"].astype("Float64")
    df["resume"] = df["resume"].astype("boolean").fillna(False).astype(float)
    gb = df.groupby("session_id", sort=False, dropna=False)
    g = gb.agg(
        pipeline=("project_name", "first"),
        runs=("run_id", "size"),
        resumed_runs=("resume", "sum"),
        first_submit=("submit", "min"),
        last_complete=("complete", "max"),
        cost=("cost", "sum"),
        priced=("priced", "sum"),
        cached_cost=("cached_cost", "sum"),
        tasks_cached=("tasks_cached", "sum"),
        cached_priced=("cached_priced", "sum"),
        tasks=("tasks", "sum"),
        double_counted_cost=("double", "sum"),
        tasks_cached_origin_found=("found", "sum"),
    )
    g["seqera_cost"] = gb["seqera_cost"].sum(min_count=1)
    g["run_ids"] = gb["run_id"].agg(lambda s: [str(v) for v in s])
    g = g.reset_index()
    g["net_cost"] = with_na(
        g["cost"] - g["cached_cost"],
        g["tasks"] - g["tasks_cached"],
        g["priced"] - g["cached_priced"],
    )
    g["deduplicated_cost"] = with_na(g["cost"] - g["double_counted_cost"], g["tasks"], g["priced"])
    g["cost"] = with_na(g["cost"], g["tasks"], g["priced"])
    g["cached_cost"] = with_na(g["cached_cost"], g["tasks_cached"], g["cached_priced"])
    g["tasks_without_cost"] = g["tasks"] - g["priced"]
    return finalize(g, SESSIONS, sort=["first_submit", "session_id"])
