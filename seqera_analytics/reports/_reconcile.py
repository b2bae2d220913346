"""Seqera's estimate against the AWS bill: per run, and per period with every line of the
bill accounted for.

Per period the rows are (``row``):

* ``runs``: the cached runs' tasks and their bill lines, on both bases (the attribution of
  :mod:`._cost`: a task's billed cost counts in the period of its estimate);
* ``unattributed``: usage lines whose run tag names no cached run, or that have none
  (other workloads), by the period of their usage start;
* ``account``: account lines (tax, credits, refunds, fees, Savings Plan negation...), one row
  per ``line_item_type``;
* ``adjustment``: on usage lines billed at a Savings Plan or reservation effective cost, the
  unblended cost above it (the negation and fee lines offset it);
* ``allocated``: instance lines whose cost their tasks' split lines restate (billed 0; their
  unblended cost shown for the audit);
* ``total``: the sum of the rows above.

Lines without usage dates belong to no period: their rows have ``period_label`` ``undated``
and are shown whatever the window. With a run filter (workspace, pipeline, user, status)
only the ``runs`` rows are shown: the other lines belong to no workspace.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from ._cost import cost_groups
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import ratio
from ._rules import bounds, day_of, in_window, normalize_period, period_of_day
from ._spec import ReportSpec, id_col, metric

__all__ = ["billed_tasks", "reconcile_billing"]

_MONEY = (
    metric("cost", "Float64", "USD", "Seqera's estimate, cached tasks included (runs rows)"),
    metric("net_cost", "Float64", "USD", "the estimate without cached tasks (runs rows)"),
    metric("used_cost", "Float64", "USD", "billed: the tasks' share of their instances"),
    metric("idle_cost", "Float64", "USD", "billed: the tasks' share of their instances' idle capacity"),
    metric("billed_cost", "Float64", "USD",
           "billed cost: used_cost + idle_cost on runs rows; the lines' billed cost on the others "
           "(account lines: their amount)"),
    metric("billed_to_estimate", "Float64", "ratio", "billed_cost / net_cost"),
    metric("unblended_cost", "Float64", "USD",
           "the lines' line_item_unblended_cost (not on runs rows: split lines restate instance lines)"),
    metric("unmatched_cost", "Float64", "USD", "part of billed_cost on run lines matching no task"),
    metric("tasks", "Int64", "count", "task attempts"),
    metric("tasks_billed", "Int64", "count", "task attempts with bill lines"),
    metric("tasks_without_lines", "Int64", "count", "task attempts without bill lines"),
    metric("runs", "Int64", "count", "runs"),
    metric("runs_without_lines", "Int64", "count", "runs none of whose lines is in the imported bill"),
    metric("bill_lines", "Int64", "count", "CUR line items"),
    id_col("note", "string", "what a row means or lacks"),
)
RECONCILE_BILLING = ReportSpec(
    "billing_reconciliation",
    (id_col("row", "string", "runs, unattributed, account, adjustment, allocated or total"),
     id_col("line_item_type", "string", "account rows: the CUR line_item_line_item_type"),
     id_col("undated", "boolean", "lines with neither usage dates nor a billing period: in no period"),
     *_MONEY),
    "Seqera's estimate against the AWS bill, per period, every bill line accounted for.",
)
RECONCILE_BILLING_RUNS = ReportSpec(
    "billing_reconciliation_runs",
    (id_col("run_id", "string", "workflow run id"), id_col("run_name", "string", "run name"),
     id_col("pipeline", "string", "runs.project_name"),
     *(c for c in _MONEY if c.name not in ("unblended_cost", "runs_without_lines"))),
    "Seqera's estimate against the AWS bill, per run.",
)
_RUN_KEYS = ("run_id", "run_name", "pipeline")
_NUMS = [c.name for c in _MONEY if c.name != "note"]


def _other_rows(src: Sources, p: str | None, lo: int | None, hi: int | None) -> ir.Table:
    """The bill's lines that are not a cached run's, by period (null: undated) and row."""
    assert src.billing is not None and src.cached_runs is not None
    b = src.billing
    known = b.run_id.isin(src.cached_runs.run_id)
    row = ibis.cases(
        (b.line_class == "account", "account"),
        (b.line_class == "allocated", "allocated"),
        (b.run_id.isnull() | ~known.fill_null(False), "unattributed"),
        else_=ibis.null("string"))
    b = b.mutate(row=row)
    at = ibis.coalesce(b.usage_start, b.period_day)
    win = in_window(at, lo, hi)
    if win is not None:
        b = b.filter(win | at.isnull())
    period = ibis.ifelse(b.period_day.isnull(), ibis.null("int64"),
                         period_of_day(day_of(b.period_day), p))
    b = b.mutate(period_ms=period,
                 line_item_type=ibis.ifelse(b.row == "account", b.line_item_type, ibis.null("string")))
    eff = b.cost_basis.isin(["savings_plan", "reservation"]) & (b.line_class == "usage")
    adj = b.filter(eff).group_by("period_ms").aggregate(
        billed_cost=(b.unblended_cost.fill_null(0.0) - b.billed_cost).sum(where=eff),
        bill_lines=b.lines.sum(where=eff))
    adj = adj.mutate(row=ibis.literal("adjustment"), line_item_type=ibis.null("string"),
                     unblended_cost=ibis.literal(0.0))
    rows = b.filter(b.row.notnull()).group_by(["period_ms", "row", "line_item_type"]).aggregate(
        billed_cost=b.billed_cost.sum(), unblended_cost=b.unblended_cost.sum(),
        used_cost=b.used_cost.sum(), idle_cost=b.idle_cost.sum(), bill_lines=b.lines.sum())
    return rows.union(adj.select(*(c for c in rows.columns if c in adj.columns),
                                 used_cost=ibis.null("float64"), idle_cost=ibis.null("float64"))
                      .select(*rows.columns))


def reconcile_billing(
    per: str = "period",
    period: str | None = "month",
    since: Any = None,
    until: Any = None,
    *,
    tasks: Any = None,
    runs: Any = None,
    billing: Any = None,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Reconcile Seqera's estimate with the AWS bill (an imported Cost and Usage Report).

    Parameters
    ----------
    per : {"period", "run"}, default "period"
        "period": one row per period and kind of money (see the module docs); the rows of
        a period other than ``total`` add up to its ``total``, and over a file whose every
        line was imported the ``total`` rows add up to the file's unblended cost (split
        lines count as the instance lines they restate). "run": one row per period and run.
    period : {"month", "week", "day", "quarter", "year"} or None, default "month"
    since, until : str, datetime or Timestamp, optional
        ``[since, until)`` (UTC): tasks by their attribution, other lines by their usage start.
    tasks, runs, billing : pandas.DataFrame, optional
        Frames instead of a cache (``billing``: :func:`seqera_analytics.billing.load_cur`).
    cache, workspace, pipeline, user, run_status, backend
        As every report (see :func:`cost_report`).

    Returns
    -------
    pandas.DataFrame
        ``per="period"``: ``period``, ``period_label`` (``undated`` for lines without usage
        dates), ``row``, ``line_item_type``, then ``cost``, ``net_cost`` (estimate, USD),
        ``used_cost``, ``idle_cost``, ``billed_cost`` (bill, USD), ``billed_to_estimate``,
        ``unblended_cost``, ``unmatched_cost`` (USD), ``tasks``, ``tasks_billed``,
        ``tasks_without_lines``, ``runs``, ``runs_without_lines``, ``bill_lines`` (Int64
        counts), ``note``. ``per="run"``: ``period``, ``period_label``, ``run_id``,
        ``run_name``, ``pipeline`` and the same figures per run (a run without bill lines
        has ``billed_cost`` <NA> and the note "no bill lines").

    Raises
    ------
    ReportError
        Unknown ``per`` or ``period``, a malformed window, frames lacking columns, or no bill.
    CacheError
        As every report reading a cache.

    Source: the cache's ``billing_tasks`` (CUR ``split_line_item_split_cost``,
    ``split_line_item_unused_cost``, ``line_item_unblended_cost``,
    ``savings_plan_savings_plan_effective_cost``, ``reservation_effective_cost``,
    ``line_item_line_item_type``) and ``GET /workflow/{id}/tasks`` (task cost, hash, workdir).
    """
    from .._exceptions import ReportError

    if per not in ("period", "run"):
        raise ReportError(f"per must be 'period' or 'run', got {per!r}")
    p = normalize_period(period)
    lo, hi = bounds(since, until)
    req = Request(
        window=(lo, hi),
        task_columns=["run_id", "status", "cost", "cpus", "submit", "start", "complete",
                      "task_id", "hash", "workdir"],
        run_columns=["run_id", "run_name", "project_name"],
        run_optional=["submit"],
        billing=True,
    )

    def build(src: Sources) -> ir.Table:
        g = cost_groups(src, _RUN_KEYS, p, lo, hi, billed=True)
        g = g.mutate(runs_without_lines=ibis.ifelse(g.bill_lines == 0, 1, 0))
        if per == "run":
            return g.mutate(note=_run_note(g))
        sums = {c: g[c].sum() for c in ("cost", "net_cost", "used_cost", "idle_cost", "billed_cost",
                                        "unmatched_cost", "tasks", "tasks_billed",
                                        "tasks_without_lines", "bill_lines", "runs_without_lines")}
        r = g.group_by("period_ms").aggregate(**sums, runs=g.count())
        r = r.mutate(row=ibis.literal("runs"), line_item_type=ibis.null("string"),
                     unblended_cost=ibis.null("float64"))
        parts = [r]
        if not src.run_filter:
            o = _other_rows(src, p, lo, hi)
            parts.append(o.select(*[o[c] if c in o.columns else ibis.null().cast(r[c].type()).name(c)
                                    for c in r.columns]))
        allrows = parts[0].union(parts[1]) if len(parts) > 1 else parts[0]
        tot = allrows.group_by("period_ms").aggregate(
            billed_cost=allrows.billed_cost.sum(), cost=allrows.cost.sum(),
            net_cost=allrows.net_cost.sum(), bill_lines=allrows.bill_lines.sum())
        tot = tot.select(*[tot[c] if c in tot.columns else
                           (ibis.literal("total") if c == "row" else ibis.null().cast(r[c].type())).name(c)
                           for c in r.columns])
        out = allrows.union(tot)
        out = out.mutate(undated=out.period_ms.isnull())
        out = out.mutate(billed_to_estimate=ibis.ifelse(out.row == "runs",
                                                        ratio(out.billed_cost, out.net_cost),
                                                        ibis.null("float64")))
        return out.mutate(note=_period_note(out))

    table = run_query(build, req, Inputs(tasks, runs, cache, workspace, pipeline, user,
                                         run_status, backend, billing))
    if per == "run":
        out = finish(table, RECONCILE_BILLING_RUNS, by=_RUN_KEYS, period=p, grouped=True)
    else:
        out = _sorted(finish(table, RECONCILE_BILLING, by=(), period=p, grouped=True))
    if per == "period":
        undated = out["undated"].fillna(False).to_numpy(dtype=bool)
        if "period_label" not in out.columns:  # period=None: one span, the undated lines apart
            out.insert(0, "period_label", pd.array(["all"] * len(out), dtype="string"))
        out["period_label"] = out["period_label"].astype("string").mask(undated, "undated")
        if "partial" in out.columns:
            out.loc[undated, "partial"] = False
    out.attrs["basis"] = "both"
    return out


_ORDER = {"runs": 0, "unattributed": 1, "account": 2, "adjustment": 3, "allocated": 4, "total": 5}


def _sorted(df: Any) -> Any:
    key = df["row"].map(_ORDER).astype("Int64")
    by = [c for c in ("period", "undated") if c in df.columns]
    order = df.assign(_o=key).sort_values([*by, "_o", "line_item_type"], na_position="last",
                                          kind="stable").index
    return df.loc[order].reset_index(drop=True)


def _run_note(g: ir.Table) -> ir.StringValue:
    return ibis.cases(
        (g.bill_lines == 0, "no bill lines"),
        (g.tasks_without_lines > 0, g.tasks_without_lines.cast("string").concat(
            " without lines")),
        (g.unmatched_cost > 0.005, ibis.literal("lines matching no task: see unmatched_cost")),
        else_=ibis.null("string"))


def _period_note(t: ir.Table) -> ir.StringValue:
    return ibis.cases(
        ((t.row == "runs") & (t.runs_without_lines > 0),
         t.runs_without_lines.cast("string").concat(" run(s) without bill lines")),
        (t.row == "unattributed", "lines whose run tag names no cached run, or without one"),
        (t.row == "adjustment", "unblended cost above the effective cost of covered usage"),
        (t.row == "allocated", "instance lines restated by their tasks' split lines (billed 0)"),
        (t.row == "total", "sum of the rows above"),
        else_=ibis.null("string"))


BILLED_TASKS = ReportSpec(
    "billed_tasks",
    (id_col("run_id", "string", "workflow run id"),
     id_col("task_id", "Int64", "task id within the run (one per attempt)"),
     id_col("hash", "string", "tasks.hash, e.g. 59/4f3195"),
     id_col("process", "string", "tasks.process"),
     id_col("status", "string", "tasks.status"),
     metric("cost", "Float64", "USD", "Seqera's estimate of the attempt"),
     metric("used_cost", "Float64", "USD", "billed: the attempt's share of its instance"),
     metric("idle_cost", "Float64", "USD", "billed: its share of the instance's idle capacity"),
     metric("billed_cost", "Float64", "USD", "used_cost + idle_cost; <NA> without bill lines"),
     metric("bill_lines", "Int64", "count", "CUR line items matched (0: none)"),
     id_col("matched_by", "string", "'hash' (full hash from the workdir), 'prefix' (8-digit "
            "prefix within the run) or <NA> (no bill lines)")),
    "Every task attempt with its bill lines.",
)


def billed_tasks(
    *,
    tasks: Any = None,
    runs: Any = None,
    billing: Any = None,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Every task attempt with the bill lines matched to it (see ``reports._billed``).

    Parameters
    ----------
    tasks, runs, billing : pandas.DataFrame, optional
        Frames instead of a cache: ``tasks`` needs ``run_id``, ``task_id``, ``hash``,
        ``workdir``, ``process``, ``status``, ``cost``; ``billing`` is
        :func:`seqera_analytics.billing.load_cur`'s frame.
    cache, workspace, pipeline, user, run_status, backend
        As every report.

    Returns
    -------
    pandas.DataFrame
        One row per task attempt in scope, sorted by ``run_id`` and ``task_id``: ``run_id``,
        ``task_id`` (Int64), ``hash``, ``process``, ``status`` (string), ``cost``,
        ``used_cost``, ``idle_cost``, ``billed_cost`` (Float64, USD), ``bill_lines`` (Int64),
        ``matched_by`` (string).

    Raises
    ------
    ReportError
        Frames lacking columns, or no bill (neither an imported one nor ``billing``).
    """
    from ._billed import task_bills

    req = Request(task_columns=["run_id", "task_id", "hash", "workdir", "process", "status", "cost"],
                  billing=True)

    def build(src: Sources) -> ir.Table:
        assert src.tasks is not None
        matched, _ = task_bills(src, src.tasks)
        t = src.tasks.left_join(matched, ["run_id", "task_id"])
        t = t.drop(*[c for c in t.columns if c.endswith("_right")])
        return t.select("run_id", "task_id", "hash", "process", "status", "cost",
                        used_cost=t.used, idle_cost=t.idle, billed_cost=t.billed,
                        bill_lines=t.lines.fill_null(0), matched_by=t.matched_by)

    table = run_query(build, req, Inputs(tasks, runs, cache, workspace, pipeline, user,
                                         run_status, backend, billing))
    return finish(table, BILLED_TASKS, sort=["run_id", "task_id"])
