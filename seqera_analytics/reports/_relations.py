"""Relations the reports are built from: tasks and runs by period and group key.

* :func:`task_sums`: additive task metrics by period and keys, in two stages so that the
  task table is scanned once and never joined row by row: first per run, UTC day and
  task-level key (tasks alone), then, joined to the runs (their keys, labels, and the
  attribution fallback of tasks without times), per period and key.
* :func:`task_rows`: tasks with their period and key columns, for statistics that cannot be
  summed in stages (quantiles).
* :func:`run_rows`: runs in the window with their period and keys.
* :func:`merge_parts`: parts of one report computed on different tables, matched on their
  key columns (nulls match nulls) without an outer join.

Money follows one rule everywhere (:func:`money`): a sum over rows of which none has a cost
is ``<NA>`` (unknown), never 0; 0 means there was nothing to count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from ._rules import (
    day_of,
    in_window,
    period_of_day,
    period_start,
    run_instant,
    run_keys_table,
    task_instant,
    task_key,
)
from ._spec import RUN_KEYS, TASK_KEYS

if TYPE_CHECKING:  # annotations only: _inputs imports _notes, which builds on these relations
    from ._inputs import Sources

__all__ = [
    "flag",
    "implausible",
    "join_on_run",
    "merge_parts",
    "money",
    "ms_span",
    "ratio",
    "run_rows",
    "task_rows",
    "task_sums",
]

Metrics = Callable[[ir.Table], Mapping[str, ir.Value]]


def flag(cond: ir.BooleanValue) -> ir.BooleanValue:
    """A condition with null taken as false (a task without a status is not FAILED)."""
    return cond.fill_null(False)


def implausible(t: ir.Table, reading: str | None = None) -> ir.BooleanValue:
    """Tasks with an implausible usage reading (``frames._quality``: pcpu or peak_rss beyond
    the machine, realtime beyond the run; only ``reading``'s, e.g. ``"realtime"``, when
    given): kept, but no figure read from that measurement may include them."""
    prefix = "implausible_" if reading is None else f"implausible_{reading}:"
    return t.quality.filter(lambda q: q.startswith(prefix)).length().fill_null(0) > 0


def money(total: ir.NumericValue, count: ir.IntegerValue) -> ir.NumericValue:
    """A cost sum: 0.0 when there is nothing to count, else the sum (``<NA>`` when none of
    the rows counted has a cost, as SQL's ``sum`` of nulls)."""
    return ibis.ifelse(count.fill_null(0) == 0, ibis.literal(0.0), total.cast("float64"))


def ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.NumericValue:
    """``num / den`` as float64, null where the denominator is 0 or null."""
    return num.cast("float64") / den.cast("float64").nullif(0.0)


def ms_span(end: ir.IntegerValue, begin: ir.IntegerValue) -> ir.NumericValue:
    """``end - begin`` in ms as float64 (null when either is null)."""
    return (end - begin).cast("float64")


def join_on_run(left: ir.Table, right: ir.Table, how: str = "left") -> ir.Table:
    """``left`` joined to ``right`` on ``run_id``, keeping one ``run_id`` column."""
    j = left.join(right, left.run_id == right.run_id, how=how)
    return j.drop("run_id_right") if "run_id_right" in j.columns else j


def task_sums(
    src: Sources,
    *,
    keys: Sequence[str],
    period: str | None,
    lo: int | None,
    hi: int | None,
    metrics: Metrics,
    tasks: ir.Table | None = None,
) -> ir.Table:
    """Additive task metrics by period and group keys, with the distinct runs of each row.

    Parameters
    ----------
    keys : sequence of str
        Validated keys from RUN_KEYS and TASK_KEYS; run-level keys need ``src.runs``.
    metrics : callable
        Called with the (windowed) tasks; returns the per-row aggregates, which must be
        additive (sums and counts): they are summed again per period and key.
    tasks : ibis Table, optional
        The tasks to aggregate (default: the source's tasks).

    Returns
    -------
    ibis Table
        ``period_ms`` (int64 ms of the period start; 0 for period=None; null for tasks with
        no instant), one column per key, one per metric, and ``runs`` (distinct runs).
    """
    runs = src.runs
    if tasks is None:
        # Run filters are applied by the inner join of stage 2, on the aggregated rows.
        tasks = src.tasks_in(lo, hi, all_runs=runs is not None)
    assert tasks is not None
    tkeys = [k for k in keys if k in TASK_KEYS]
    at = task_instant(tasks)
    t = tasks.mutate(_day=day_of(at), **{k: task_key(tasks, k) for k in tkeys})
    win = in_window(at, lo, hi)
    if win is not None:
        # Tasks without times may still fall in the window by their run's submission.
        t = t.filter(win | at.isnull()) if runs is not None else t.filter(win)
    stage1 = t.group_by(["run_id", "_day", *tkeys]).aggregate(**metrics(t))
    names = [c for c in stage1.columns if c not in ("run_id", "_day", *tkeys)]
    if runs is None:
        rows = stage1.mutate(period_ms=period_of_day(stage1._day, period))
    else:
        rk = run_keys_table(runs, keys, _run_submit=runs.submit)
        how = "inner" if src.run_filter else "left"
        j = join_on_run(stage1, rk, how)
        if win is not None:
            j = j.filter(j._day.notnull() | in_window(j._run_submit, lo, hi))
        day = ibis.coalesce(j._day, day_of(j._run_submit))
        rows = j.mutate(period_ms=period_of_day(day, period))
    agg = {n: rows[n].sum() for n in names}
    return rows.group_by(["period_ms", *keys]).aggregate(**agg, runs=rows.run_id.nunique())


def task_rows(
    src: Sources,
    *,
    keys: Sequence[str],
    period: str | None,
    lo: int | None,
    hi: int | None,
    tasks: ir.Table | None = None,
) -> ir.Table:
    """Tasks in the window with ``period_ms`` and one column per key (task keys computed,
    run keys joined; one row per label when ``label`` is a key), plus every task column.

    ``tasks`` defaults to the source's tasks that the window can hold (run filters applied).
    """
    tasks = src.tasks_in(lo, hi) if tasks is None else tasks
    tkeys = [k for k in keys if k in TASK_KEYS]
    t = tasks.mutate(**{k: task_key(tasks, k) for k in tkeys})
    runs = src.runs
    at = task_instant(t)
    if runs is not None:
        rk = run_keys_table(runs, [k for k in keys if k in RUN_KEYS], _run_submit=runs.submit)
        t = join_on_run(t, rk)
        at = ibis.coalesce(task_instant(t), t._run_submit)
    t = t.mutate(_at=at)
    win = in_window(t._at, lo, hi)
    if win is not None:
        t = t.filter(win)
    return t.mutate(period_ms=period_start(t._at, period))


def run_rows(
    src: Sources, *, keys: Sequence[str], period: str | None, lo: int | None, hi: int | None
) -> ir.Table:
    """Runs attributed to the window (complete, else start, else submit) with ``period_ms``,
    one column per run-level key (one row per label when ``label`` is a key) and every run
    column."""
    r = src.runs
    assert r is not None
    r = r.mutate(_at=run_instant(r))
    win = in_window(r._at, lo, hi)
    if win is not None:
        r = r.filter(win)
    r = r.mutate(period_ms=period_start(r._at, period))
    return run_keys_table(r, [k for k in keys if k in RUN_KEYS and k != "run_id"], keep=True)


def merge_parts(parts: Sequence[ir.Table], on: Sequence[str]) -> ir.Table:
    """Parts of one report (each one row per ``on`` combination, disjoint other columns)
    matched on ``on``: missing combinations give nulls. A union and a group-by, so null keys
    match null keys, as an equality join would not."""
    schemas = [p.schema() for p in parts]
    columns: dict[str, str] = {}
    for s in schemas:
        for name, typ in s.items():
            if name not in on:
                columns[name] = typ
    key_types = {k: next(s[k] for s in schemas if k in s) for k in on}
    aligned = []
    for p, s in zip(parts, schemas):
        sel = {k: p[k].cast(key_types[k]) for k in on}
        for name, typ in columns.items():
            sel[name] = p[name] if name in s else ibis.null(typ)
        aligned.append(p.select(**sel))
    u = ibis.union(*aligned, distinct=False)
    return u.group_by(list(on)).aggregate(**{name: u[name].max() for name in columns})
