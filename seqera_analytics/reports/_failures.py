"""Failures: run failure rate, task failures by process and exit status, retries, and runs
that succeeded only thanks to retries.

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
    run_frame,
    span_ms,
    task_key_columns,
    ts_ms,
    with_na,
)

__all__ = [
    "exit_status_meaning",
    "failure_report",
    "runs_needing_attention",
    "task_attempts",
    "task_failures",
]

#: Nextflow records Integer.MAX_VALUE when a task ended without an exit code (the job or its
#: node vanished: spot reclaim, instance failure, kill before the wrapper wrote .exitcode).
NO_EXIT_CODE = 2_147_483_647


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
    uniq = s.dropna().unique()
    table: dict[int, str] = {}
    for code in (int(c) for c in uniq):
        table[code] = _meaning(code)
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


def _recovered(tasks: pd.DataFrame, failed: np.ndarray) -> np.ndarray:
    """True for failed rows whose run has a COMPLETED row with the same name and a higher
    attempt. Integer codes only; only runs with failures are searched."""
    out = np.zeros(len(tasks), dtype=bool)
    if not failed.any():
        return out
    run_codes, run_uniq = factorize(tasks["run_id"])
    with_failures = np.zeros(len(run_uniq), dtype=bool)
    with_failures[run_codes[failed & (run_codes >= 0)]] = True
    inrun = (run_codes >= 0) & with_failures[np.maximum(run_codes, 0)]
    completed = is_value(tasks["status"], "COMPLETED") & inrun
    cand = (completed | failed) & inrun
    name_codes, name_uniq = factorize(tasks["name"])
    idx = np.flatnonzero(cand)
    gi, _ = _combine([(run_codes[idx], len(run_uniq)), (name_codes[idx], len(name_uniq))], len(idx))
    attempt = num(tasks["attempt"])[idx]
    attempt = np.where(np.isnan(attempt), 1.0, attempt)
    is_done = completed[idx]
    best = np.full(int(gi.max()) + 1 if len(gi) else 0, -np.inf)
    np.maximum.at(best, gi[is_done], attempt[is_done])
    is_failed = failed[idx] & (name_codes[idx] >= 0)
    out[idx[is_failed]] = best[gi[is_failed]] > attempt[is_failed]
    return out


def _failure_metrics(t: pd.DataFrame) -> Mapping[str, np.ndarray]:
    failed = is_value(t["status"], "FAILED")
    executed = ~is_value(t["status"], "CACHED")
    cost = num(t["cost"])
    priced = ~np.isnan(cost)
    attempt = num(t["attempt"])
    rec = _recovered(t, failed)
    cpu_ms = np.nan_to_num(num(t["cpus"]) * span_ms(ts_ms(t["complete"]), ts_ms(t["start"])))
    return {
        "task_attempts": executed,
        "failed_attempts": failed,
        "retried_attempts": executed & (np.nan_to_num(attempt, nan=1.0) > 1),
        "failed_recovered": rec,
        "failed_cost": np.where(failed & priced, cost, 0.0),
        "failed_priced": failed & priced,
        "failed_cpu_ms": np.where(failed, cpu_ms, 0.0),
    }


_FAILURE_TASK_COLUMNS = (
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

FAILURE_REPORT = ReportSpec(
    "failures",
    (
        _m(
            "runs",
            "Int64",
            "count",
            "runs attributed to the period (by their complete, else start, else submit)",
        ),
        _m("runs_succeeded", "Int64", "count", "runs with status SUCCEEDED"),
        _m("runs_failed", "Int64", "count", "runs with status FAILED"),
        _m("runs_cancelled", "Int64", "count", "runs with status CANCELLED"),
        _m("failure_rate", "Float64", "fraction", "runs_failed / (runs_succeeded + runs_failed)"),
        _m(
            "runs_needing_attention",
            "Int64",
            "count",
            "SUCCEEDED runs with failed or retried tasks",
        ),
        _m(
            "task_attempts",
            "Int64",
            "count",
            "executed task attempts (not CACHED) attributed to the period by task completion",
        ),
        _m("failed_attempts", "Int64", "count", "attempts with status FAILED"),
        _m("retried_attempts", "Int64", "count", "attempts with attempt > 1"),
        _m(
            "failed_recovered",
            "Int64",
            "count",
            "failed attempts followed by a COMPLETED attempt of the same task name in the same run",
        ),
        _m("failed_unrecovered", "Int64", "count", "failed attempts never followed by success"),
        _m("failed_cost", "Float64", "USD", "cost of failed attempts"),
        _m("failed_cpu_hours", "Float64", "h", "cpus x (complete - start) of failed attempts"),
        _m("failed_without_cost", "Int64", "count", "failed attempts whose cost is null"),
    ),
    "Run failure rate and task failures by period and group.",
)


def _per_run_failures(
    tasks: pd.DataFrame, metrics: Mapping[str, np.ndarray] | None = None
) -> pd.DataFrame:
    m = metrics if metrics is not None else _failure_metrics(tasks)
    g = group_sums(tasks, None, by=("run_id",), period=None, lo=None, hi=None, metrics=lambda _: m)
    return g.drop(columns=["period_ms", "runs"])


@document(FAILURE_REPORT, grouped=True, keys=tuple(RUN_KEYS))
def failure_report(
    tasks: pd.DataFrame,
    runs: pd.DataFrame,
    period: str | None = "month",
    by: str | Sequence[str] | None = ("pipeline",),
    since: Any = None,
    until: Any = None,
) -> pd.DataFrame:
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
    require(tasks, _FAILURE_TASK_COLUMNS, "tasks")
    require(runs, ["run_id", "status", "submit", "start", "complete"], "runs")

    m = _failure_metrics(tasks)  # computed once, summed twice
    t = group_sums(tasks, runs, by=keys, period=p, lo=lo, hi=hi, metrics=lambda _: m)
    t = t.drop(columns=["runs"])
    r = run_frame(runs, by=keys, period=p, lo=lo, hi=hi, columns=["status"])
    pr = _per_run_failures(tasks, m)
    r = r.merge(pr[["run_id", "failed_attempts", "retried_attempts"]], on="run_id", how="left")
    st = r["status"].astype("string")
    r["ok"] = (st == "SUCCEEDED").to_numpy(dtype=bool, na_value=False)
    r["bad"] = (st == "FAILED").to_numpy(dtype=bool, na_value=False)
    r["cancelled"] = (st == "CANCELLED").to_numpy(dtype=bool, na_value=False)
    troubled = (r["failed_attempts"].fillna(0) + r["retried_attempts"].fillna(0)) > 0
    r["attention"] = r["ok"] & troubled.to_numpy(dtype=bool)
    rk = ["period_ms", *keys]
    rs = (
        r.groupby(rk, dropna=False, sort=True)
        .agg(
            runs=("run_id", "nunique"),
            runs_succeeded=("ok", "sum"),
            runs_failed=("bad", "sum"),
            runs_cancelled=("cancelled", "sum"),
            runs_needing_attention=("attention", "sum"),
        )
        .reset_index()
    )
    for c in keys:
        rs[c] = rs[c].astype("string")
        t[c] = t[c].astype("string")
    df = t.merge(rs, on=rk, how="outer")
    counts = (
        "task_attempts",
        "failed_attempts",
        "retried_attempts",
        "failed_recovered",
        "failed_cost",
        "failed_priced",
        "failed_cpu_ms",
        "runs",
        "runs_succeeded",
        "runs_failed",
        "runs_cancelled",
        "runs_needing_attention",
    )
    for c in counts:
        df[c] = df[c].astype("float64").fillna(0.0)
    df["failure_rate"] = ratio(df["runs_failed"], df["runs_succeeded"] + df["runs_failed"])
    df["failed_unrecovered"] = df["failed_attempts"] - df["failed_recovered"]
    df["failed_without_cost"] = df["failed_attempts"] - df["failed_priced"]
    df["failed_cost"] = with_na(df["failed_cost"], df["failed_attempts"], df["failed_priced"])
    df["failed_cpu_hours"] = df["failed_cpu_ms"] / MS_PER_HOUR
    return finalize(df, FAILURE_REPORT, by=keys, period=p, grouped=True)


TASK_FAILURES = ReportSpec(
    "task_failures",
    (
        _id(
            "exit_meaning", "string", "what the exit code usually means (when exit_status is a key)"
        ),
        _m("failed_attempts", "Int64", "count", "attempts with status FAILED"),
        _m(
            "recovered",
            "Int64",
            "count",
            "failed attempts followed by a COMPLETED attempt of the same task name in the same run",
        ),
        _m("unrecovered", "Int64", "count", "failed attempts never followed by success"),
        _m("runs", "Int64", "count", "distinct runs with such failures"),
        _m("cost", "Float64", "USD", "cost of the failed attempts"),
        _m("cpu_hours", "Float64", "h", "cpus x (complete - start) of the failed attempts"),
        _m("tasks_without_cost", "Int64", "count", "failed attempts whose cost is null"),
    ),
    "Failed task attempts by process and exit status.",
)

_TASK_FAILURE_KEYS = (*TASK_KEYS, *RUN_KEYS)


@document(TASK_FAILURES, grouped=True, keys=_TASK_FAILURE_KEYS)
def task_failures(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    by: str | Sequence[str] | None = ("process", "exit_status"),
    period: str | None = None,
    since: Any = None,
    until: Any = None,
) -> pd.DataFrame:
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

    Notes
    -----
    Group keys:

    {keys}

    Source: ``GET /workflow/{id}/tasks`` (``status``, ``exitStatus``, ``attempt``, ``cost``).
    """
    p = normalize_period(period)
    keys = normalize_by(by, _TASK_FAILURE_KEYS, report="task failure")
    lo, hi = bounds(since, until)
    require(
        tasks,
        [*_FAILURE_TASK_COLUMNS, *(c for k in keys if k in TASK_KEYS for c in task_key_columns(k))],
        "tasks",
    )

    def metrics(t: pd.DataFrame) -> Mapping[str, np.ndarray]:
        m = _failure_metrics(t)
        return {
            k: m[k]
            for k in (
                "failed_attempts",
                "failed_recovered",
                "failed_cost",
                "failed_priced",
                "failed_cpu_ms",
            )
        }

    df = group_sums(tasks, runs, by=keys, period=p, lo=lo, hi=hi, metrics=metrics)
    # `runs` counts runs with any task in the group: recount over failed attempts only.
    df = df[df["failed_attempts"] > 0].reset_index(drop=True)
    if len(df):
        failed_only = tasks[is_value(tasks["status"], "FAILED")]
        runs_count = group_sums(
            failed_only,
            runs,
            by=keys,
            period=p,
            lo=lo,
            hi=hi,
            metrics=lambda t: {"n": None},
        )
        on = ["period_ms", *keys]
        df = df.drop(columns=["runs"]).merge(runs_count[[*on, "runs"]], on=on, how="left")
    df = df.rename(columns={"failed_recovered": "recovered", "failed_cpu_ms": "cpu_ms"})
    df["unrecovered"] = df["failed_attempts"] - df["recovered"]
    df["tasks_without_cost"] = df["failed_attempts"] - df["failed_priced"]
    df["cost"] = with_na(df["failed_cost"], df["failed_attempts"], df["failed_priced"])
    df["cpu_hours"] = df["cpu_ms"] / MS_PER_HOUR
    if "exit_status" in keys:
        df["exit_meaning"] = exit_status_meaning(df["exit_status"]).array
    order = [*(["period"] if p else []), "failed_attempts", *keys]
    out = finalize(df, TASK_FAILURES, by=keys, period=p, grouped=True, sort=[])
    if len(out):
        asc = [c != "failed_attempts" for c in order]  # most failures first
        out = out.sort_values(order, ascending=asc, kind="stable", na_position="last").reset_index(
            drop=True
        )
    if "exit_status" not in keys:
        out = out.drop(columns=["exit_meaning"])
    return out


ATTEMPTS = ReportSpec(
    "task_attempts",
    (
        _id("run_id", "string", "workflow run id"),
        _id("task_id", "Int64", "Nextflow task id within the run"),
        _id("name", "string", "task name: process (tag)"),
        _id("process", "string", "fully qualified process name"),
        _m("attempt", "Int64", "count", "attempt number, from 1"),
        _id("status", "string", "task status"),
        _id("exit_status", "Int64", "exit code"),
        _id("exit_meaning", "string", "what the exit code usually means"),
        _id("error_action", "string", "error strategy applied (RETRY, TERMINATE, IGNORE...)"),
        _id("complete", "datetime64[ms, UTC]", "completion time", "UTC"),
        _m("cost", "Float64", "USD", "Seqera's cost of the attempt"),
        _m("cpu_hours", "Float64", "h", "cpus x (complete - start)"),
        _id(
            "eventually_succeeded",
            "boolean",
            "the attempt is COMPLETED, or a COMPLETED attempt "
            "with the same name and a higher attempt exists in the run",
        ),
    ),
    "Every failed or retried task attempt.",
)


@document(ATTEMPTS)
def task_attempts(tasks: pd.DataFrame) -> pd.DataFrame:
    """Every failed attempt and every retry (``attempt > 1``), with whether the task
    eventually succeeded.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``task_id``, ``name``, ``process``, ``status``, ``attempt``,
        ``exit_status``, ``error_action``, ``cost``, ``cpus``, ``start``, ``complete``.

    Returns
    -------
    pandas.DataFrame
        One row per such attempt, sorted by run, name and attempt:

            {columns}

    Raises
    ------
    ReportError
        The frame lacks a needed column.

    Notes
    -----
    Source: ``GET /workflow/{id}/tasks``.
    """
    require(
        tasks,
        [
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
        ],
        "tasks",
    )
    failed = is_value(tasks["status"], "FAILED")
    attempt = np.nan_to_num(num(tasks["attempt"]), nan=1.0)
    rec = _recovered(tasks, failed)
    keep = failed | (attempt > 1)
    t = tasks.loc[
        keep,
        [
            "run_id",
            "task_id",
            "name",
            "process",
            "attempt",
            "status",
            "exit_status",
            "error_action",
            "complete",
            "cost",
        ],
    ].reset_index(drop=True)
    t["cpu_hours"] = (
        num(tasks["cpus"]) * span_ms(ts_ms(tasks["complete"]), ts_ms(tasks["start"]))
    )[keep] / MS_PER_HOUR
    t["exit_meaning"] = exit_status_meaning(t["exit_status"]).array
    done = is_value(tasks["status"], "COMPLETED")[keep]
    t["eventually_succeeded"] = done | rec[keep]
    return finalize(t, ATTEMPTS, sort=["run_id", "name", "attempt", "task_id"])


ATTENTION = ReportSpec(
    "runs_needing_attention",
    (
        _id("run_id", "string", "workflow run id"),
        _id("run_name", "string", "run name"),
        _id("pipeline", "string", "runs.project_name"),
        _id("user", "string", "runs.user_name"),
        _id("workspace", "string", "'org/workspace'"),
        _id("complete", "datetime64[ms, UTC]", "run completion", "UTC"),
        _m("failed_attempts", "Int64", "count", "FAILED attempts"),
        _m("retried_attempts", "Int64", "count", "attempts with attempt > 1"),
        _m(
            "failed_unrecovered",
            "Int64",
            "count",
            "failed attempts never followed by success (ignored by the error strategy)",
        ),
        _m("failed_cost", "Float64", "USD", "cost of the failed attempts"),
        _m("failed_cpu_hours", "Float64", "h", "cpus x (complete - start) of the failed attempts"),
        _m("failed_cost_share", "Float64", "fraction", "failed_cost / the run's task cost"),
    ),
    "Succeeded runs with failed or retried tasks.",
)


@document(ATTENTION)
def runs_needing_attention(
    tasks: pd.DataFrame, runs: pd.DataFrame, since: Any = None, until: Any = None
) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        One row per such run, most failed cost first:

            {columns}

    Raises
    ------
    ReportError
        Malformed ``since``/``until`` or a frame lacking a needed column.
    """
    lo, hi = bounds(since, until)
    require(tasks, _FAILURE_TASK_COLUMNS, "tasks")
    require(runs, ["run_id", "status", "submit", "start", "complete"], "runs")
    shown = [c for c in ("run_name", "project_name", "user_name", "workspace") if c in runs]
    r = run_frame(runs, by=(), period=None, lo=lo, hi=hi, columns=["status", "complete", *shown])
    r = r[(r["status"].astype("string") == "SUCCEEDED").to_numpy(dtype=bool, na_value=False)]

    def metrics(t: pd.DataFrame) -> Mapping[str, np.ndarray]:
        m = dict(_failure_metrics(t))
        cost = num(t["cost"])
        m["all_cost"] = np.nan_to_num(cost)
        return m

    pr = group_sums(tasks, None, by=("run_id",), period=None, lo=None, hi=None, metrics=metrics)
    df = r.merge(pr, on="run_id", how="inner")
    df = df[(df["failed_attempts"] + df["retried_attempts"]) > 0].copy()
    df = df.rename(columns={"project_name": "pipeline", "user_name": "user"})
    df["failed_unrecovered"] = df["failed_attempts"] - df["failed_recovered"]
    df["failed_cost_share"] = ratio(df["failed_cost"], df["all_cost"])
    df["failed_cost"] = with_na(df["failed_cost"], df["failed_attempts"], df["failed_priced"])
    df["failed_cpu_hours"] = df["failed_cpu_ms"] / MS_PER_HOUR
    out = finalize(df, ATTENTION, sort=[])
    if len(out):
        out = out.sort_values(
            ["failed_cost", "run_id"], ascending=[False, True], na_position="last", kind="stable"
        ).reset_index(drop=True)
    return out
