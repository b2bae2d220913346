"""The billed basis: the AWS bill's cost joined to the tasks it paid for.

What the cache keeps of an imported Cost and Usage Report (``billing_tasks``, see
:mod:`seqera_analytics.billing`) is matched to tasks here, at report time, so a task
synced after the import still finds its lines:

* **run**: the line's run tag (``user_unique_run_id``) is the task's ``run_id``;
* **task**: the line's task tag (``user_task_hash``, the full 32-hex hash) equals the full
  hash that the task's ``workdir`` ends with (``.../ab/cdef12...``); for a task whose
  ``workdir`` does not give it, the first 8 hex digits of the line's hash equal the
  task's ``hash`` (``ab/cdef12``) within the run, when exactly one task and one billed hash
  of the run have that prefix (an ambiguous prefix matches nothing).

A run's lines that match none of its tasks (a head job, a hash no cached task has) stay
the run's: reports put them in the run's groups with no task-level key, attributed like
a task without times (to the run's submission). Lines whose run tag names no cached run, or
that have no run tag, are *unattributed*; lines without usage dates are *undated*; account
lines (tax, credits, fees, negation) belong to the account: the reconciliation shows
each of these as its own row and no other report spreads them.

A task's billed cost belongs to the same period as its estimate (the attribution rule of
:mod:`._cost`), so the two bases compare row by row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from .._exceptions import ReportError
from ..frames import BILLING_TASKS
from ._convert import to_arrow
from ._relations import flag
from ._spec import metric

if TYPE_CHECKING:
    from ._engine import Engine
    from ._inputs import Sources

__all__ = ["BASES", "BILLED_TASK_COLUMNS", "BILLING_CANONICAL", "billed_task_rows",
           "canonical_billing", "full_hash", "normalize_basis", "open_billing", "task_bills",
           "with_task_bill"]

#: The task columns the matching reads.
BILLED_TASK_COLUMNS = ("task_id", "hash", "workdir")

BASES = ("estimate", "billed", "both")
_TIMES = ("usage_day", "usage_start", "usage_end")

#: The billing rows as reports see them: timestamps as int64 ms (UTC), plus ``period``.
BILLING_CANONICAL = pa.schema(
    [pa.field(c.name, pa.int64() if c.name in _TIMES else c.type) for c in BILLING_TASKS.columns]
    + [pa.field("period", pa.string()), pa.field("period_day", pa.int64())]
)


def normalize_basis(basis: object) -> str:
    if not isinstance(basis, str) or basis.strip().lower() not in BASES:
        raise ReportError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    return basis.strip().lower()


def canonical_billing(table: pa.Table) -> pa.Table:
    """Billing rows (``Cache.read_billing``, a ``billing_tasks`` frame, or ``load_cur``'s
    line items) in :data:`BILLING_CANONICAL`: a line-items frame becomes one row per line."""
    n = table.num_rows
    cols = {}
    names = set(table.column_names)
    if "usage_day" not in names and "usage_start" in names:
        start = table["usage_start"].cast(pa.timestamp("ms", "UTC"))
        cols["usage_day"] = pc.floor_temporal(start, unit="day")
    if "lines" not in names:
        cols["lines"] = pa.array([1] * n, pa.int64())
    if "period" not in names:
        src = table if "usage_day" in names else None
        day = (src["usage_day"] if src is not None else cols.get("usage_day"))
        month = (pc.strftime(day.cast(pa.timestamp("ms", "UTC")), "%Y-%m")
                 if day is not None else pa.nulls(n, pa.string()))
        bp = table["billing_period"] if "billing_period" in names else pa.nulls(n, pa.string())
        cols["period"] = pc.coalesce(bp.cast(pa.string()), month, pa.scalar("undated"))
    out = []
    for f in BILLING_CANONICAL:
        if f.name == "period_day":
            continue
        col = cols.get(f.name) if f.name in cols else (table[f.name] if f.name in names else None)
        if col is None:
            col = pa.nulls(n, f.type)
        elif f.name in _TIMES:
            col = col.cast(pa.timestamp("ms", "UTC")).cast(pa.int64())
        out.append(col.cast(f.type))
    # the day a line counts from in period reports: its usage day, else the first day of the
    # billing period the file states; null (undated) when it has neither
    period = out[BILLING_CANONICAL.get_field_index("period")]
    month = pc.if_else(pc.equal(period, "undated"), pa.scalar(None, pa.string()), period)
    first = pc.strptime(pc.binary_join_element_wise(month, "-01", ""), format="%Y-%m-%d", unit="ms",
                        error_is_null=True).cast(pa.int64())
    out.append(pc.coalesce(out[BILLING_CANONICAL.get_field_index("usage_day")], first))
    return pa.Table.from_arrays(out, schema=BILLING_CANONICAL)


def billing_query(paths: list[str]) -> str:
    """DuckDB SQL reading committed ``billing_tasks`` files as :data:`BILLING_CANONICAL`
    (``period`` from the partition path; a bill of millions of rows never passes through
    Python)."""
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    cols = []
    for f in BILLING_CANONICAL:
        if f.name in _TIMES:
            cols.append(f'epoch_ms("{f.name}") AS "{f.name}"')
        elif f.name == "period_day":
            cols.append("coalesce(epoch_ms(usage_day), epoch_ms(try_strptime(period || '-01', "
                        "'%Y-%m-%d'))) AS period_day")
        else:
            cols.append(f'CAST("{f.name}" AS {_DUCK[str(f.type)]}) AS "{f.name}"')
    return (f"SELECT {', '.join(cols)} FROM read_parquet([{listed}], hive_partitioning = true, "
            "hive_types = {'period': VARCHAR}, union_by_name = true)")


_DUCK = {"string": "VARCHAR", "double": "DOUBLE", "int64": "BIGINT"}


def mark_allocated(billing: ir.Table, parents: ir.Table) -> ir.Table:
    """Untagged instance rows whose hour falls in a span that split lines of another import
    restate (``parents``: ``resource_id``, ``usage_start``, ``usage_end`` int ms) become
    ``allocated``, billed 0: their cost is already in the split lines of the instance's tasks."""
    cand = billing.filter(billing.instance_id.notnull()).select("instance_id", "usage_start").distinct()
    p = parents
    hits = cand.semi_join(p, [cand.instance_id == p.resource_id, cand.usage_start >= p.usage_start,
                              cand.usage_start < p.usage_end])
    hits = hits.select(_pid="instance_id", _pstart="usage_start", _parent=ibis.literal(True))
    j = billing.left_join(hits, [billing.instance_id == hits._pid, billing.usage_start == hits._pstart])
    hit = (j.line_class == "usage") & j.run_id.isnull() & j._parent.notnull()
    zero = ibis.literal(0.0)
    return j.mutate(
        line_class=ibis.ifelse(hit, ibis.literal("allocated"), j.line_class),
        used_cost=ibis.ifelse(hit, zero, j.used_cost),
        idle_cost=ibis.ifelse(hit, zero, j.idle_cost),
        billed_cost=ibis.ifelse(hit, zero, j.billed_cost),
    ).select(*billing.columns)


_FULL = r"([0-9a-f]{2})/([0-9a-f]{30})/*$"


def full_hash(workdir: ir.StringValue) -> ir.StringValue:
    """The 32-hex task hash a work directory ends with (``.../ab/cdef...``), else null."""
    a = workdir.re_extract(_FULL, 1).nullif("")
    b = workdir.re_extract(_FULL, 2).nullif("")
    return a.concat(b)


def task_bills(src: Sources, tasks: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Per-task billed sums and the run lines that match no task.

    ``tasks``: every task of the runs in scope (``run_id``, ``task_id``, ``hash``,
    ``workdir``), not windowed: a line matches its task wherever the window falls.

    Returns
    -------
    (ibis Table, ibis Table)
        ``run_id, task_id, used, idle, billed, lines, matched_by`` ("hash" or "prefix") per
        task with lines; ``run_id, used, idle, billed, lines`` per cached run for its lines
        that match no task.
    """
    assert src.billing is not None and src.cached_runs is not None
    b = src.billing.filter(src.billing.line_class == "usage", src.billing.run_id.notnull())
    per = b.group_by(["run_id", "task_hash"]).aggregate(
        used=b.used_cost.sum(), idle=b.idle_cost.sum(), billed=b.billed_cost.sum(),
        lines=b.lines.sum())
    t = tasks.select("run_id", "task_id", _full=full_hash(tasks.workdir),
                     _prefix=tasks.hash.replace("/", "").nullif(""))
    t = t.semi_join(per.select("run_id"), "run_id")
    by_full = t.filter(t._full.notnull()).join(
        per, [t.run_id == per.run_id, t._full == per.task_hash]).select(
        "run_id", "task_id", "task_hash", "used", "idle", "billed", "lines")
    rest = per.filter(per.task_hash.notnull()).anti_join(
        by_full.select("run_id", "task_hash"), ["run_id", "task_hash"])
    rest = rest.mutate(_prefix=rest.task_hash.left(8))
    loose = t.filter(t._full.isnull(), t._prefix.notnull())
    one_task = loose.group_by(["run_id", "_prefix"]).aggregate(n=loose.count()).filter(lambda x: x.n == 1)
    one_hash = rest.group_by(["run_id", "_prefix"]).aggregate(n=rest.count()).filter(lambda x: x.n == 1)
    ok = one_task.select("run_id", "_prefix").semi_join(
        one_hash.select("run_id", "_prefix"), ["run_id", "_prefix"])
    lt = loose.semi_join(ok, ["run_id", "_prefix"])
    by_prefix = lt.join(rest, [lt.run_id == rest.run_id, lt._prefix == rest._prefix]).select(
        "run_id", "task_id", "task_hash", "used", "idle", "billed", "lines")
    matched = by_full.mutate(matched_by=ibis.literal("hash")).union(
        by_prefix.mutate(matched_by=ibis.literal("prefix")))
    unmatched = per.anti_join(matched.select("run_id", "task_hash"), ["run_id", "task_hash"])
    unmatched = unmatched.semi_join(src.cached_runs, "run_id")
    unmatched = unmatched.group_by("run_id").aggregate(
        used=unmatched.used.sum(), idle=unmatched.idle.sum(), billed=unmatched.billed.sum(),
        lines=unmatched.lines.sum())
    return matched.drop("task_hash"), unmatched


def _joined(t: ir.Table, matched: ir.Table) -> ir.Table:
    m = matched.select("run_id", "task_id", _used="used", _idle="idle", _billed="billed",
                       _lines="lines")
    j = t.left_join(m, ["run_id", "task_id"])
    return j.drop(*[c for c in j.columns if c.endswith("_right")])


def with_task_bill(src: Sources, t: ir.Table) -> ir.Table:
    """Task rows ``t`` with their bill: ``_used``, ``_idle``, ``_billed``, ``_lines`` (null
    for an attempt without lines), for reports that sum task attempts only."""
    assert src.tasks is not None
    matched, _ = task_bills(src, src.tasks)
    return _joined(t, matched)


def billed_task_rows(src: Sources, windowed: ir.Table) -> ir.Table:
    """``windowed`` tasks with their bill (``_used``, ``_idle``, ``_billed``, ``_lines``;
    null without lines) and ``_is_task`` true, plus one row per run for its lines that match
    no task (``_is_task`` false, every task column null: attributed to the run's submission)."""
    assert src.tasks is not None
    matched, unmatched = task_bills(src, src.tasks)
    tasks = _joined(windowed, matched).mutate(_is_task=ibis.literal(True))
    if src.run_filter and src.runs is not None:
        unmatched = unmatched.semi_join(src.runs.select("run_id"), "run_id")
    extra = {c: ibis.null().cast(windowed[c].type()) for c in windowed.columns if c != "run_id"}
    rows = unmatched.select("run_id", **extra, _used=unmatched.used, _idle=unmatched.idle,
                            _billed=unmatched.billed, _lines=unmatched.lines,
                            _is_task=ibis.literal(False))
    return tasks.union(rows.select(*tasks.columns))


def billed_sums(t: ir.Table) -> dict[str, ir.Value]:
    """Additive billed figures of :func:`billed_task_rows` rows."""
    task = flag(t._is_task)
    return {
        "used": t._used.sum(),
        "idle": t._idle.sum(),
        "billed": t._billed.sum(),
        "bill_lines": t._lines.sum(),
        "unmatched": t._billed.sum(where=~task),
        "tasks_billed": t.count(where=task & t._lines.notnull()),
    }


IDLE_MODES = ("task", "spread", "row")
#: The first key of the row that holds a period's idle capacity with ``idle="row"``.
IDLE_ROW = "(idle capacity)"

BILLED_COLUMNS = (
    metric("billed_cost", "Float64", "USD",
           "billed cost from the AWS bill (CUR): used_cost + idle_cost of the group's tasks and "
           "of its runs' lines that match no task; <NA> when none has bill lines"),
    metric("used_cost", "Float64", "USD",
           "the tasks' share of the instances they ran on (split_line_item_split_cost; the "
           "effective or unblended cost of lines without split data)"),
    metric("idle_cost", "Float64", "USD",
           "the tasks' share of their instances' unused capacity (split_line_item_unused_cost); "
           "with idle='spread' the period's idle spread over groups by used_cost, with "
           "idle='row' 0 here and all of it in the '(idle capacity)' row"),
    metric("unmatched_cost", "Float64", "USD",
           "part of billed_cost on lines of the group's runs that match no task (head jobs, "
           "hashes no cached task has)"),
    metric("tasks_billed", "Int64", "count", "task attempts with bill lines"),
    metric("tasks_without_lines", "Int64", "count",
           "task attempts without bill lines (cached tasks, failed attempts that never ran, "
           "periods not imported)"),
    metric("bill_lines", "Int64", "count", "CUR line items summed"),
)
BOTH_COLUMNS = (
    metric("billed_to_estimate", "Float64", "ratio",
           "billed_cost / net_cost (the estimate of the executions that were billed: cached "
           "tasks are not billed again)"),
)


def normalize_idle(idle: object) -> str:
    if not isinstance(idle, str) or idle.strip().lower() not in IDLE_MODES:
        raise ReportError(f"idle must be one of {', '.join(IDLE_MODES)}, got {idle!r}")
    return idle.strip().lower()


def billed_columns(g: ir.Table, keys: tuple[str, ...], idle: str) -> ir.Table:
    """The documented billed columns from summed :func:`billed_sums` figures, idle capacity
    per ``idle`` ("task": as AWS split it over the tasks; "spread": the period's idle over
    the groups in proportion to their used cost; "row": one row per period holding it)."""
    lines = g.bill_lines.fill_null(0)
    has = lines > 0
    g = g.mutate(used_cost=ibis.ifelse(has, g.used.fill_null(0.0), ibis.null("float64")),
                 idle_cost=ibis.ifelse(has, g.idle.fill_null(0.0), ibis.null("float64")),
                 unmatched_cost=ibis.ifelse(has, g.unmatched.fill_null(0.0), ibis.null("float64")),
                 bill_lines=lines, tasks_billed=g.tasks_billed.fill_null(0))
    if idle == "spread":
        w = ibis.window(group_by="period_ms")
        used_p = g.used_cost.sum().over(w)
        idle_p = g.idle_cost.sum().over(w)
        share = ibis.ifelse(used_p.fill_null(0.0) == 0, ibis.literal(0.0), g.used_cost / used_p)
        g = g.mutate(idle_cost=ibis.ifelse(has, idle_p.fill_null(0.0) * share, ibis.null("float64")))
    elif idle == "row":
        idle_rows = g.group_by("period_ms").aggregate(_idle=g.idle_cost.sum(), _lines=g.bill_lines.sum())
        idle_rows = idle_rows.filter(idle_rows._lines > 0)
        g = g.mutate(idle_cost=ibis.ifelse(has, ibis.literal(0.0), ibis.null("float64")))
        fill = {c: ibis.null().cast(g[c].type()) for c in g.columns if c not in ("period_ms", *keys)}
        keyed = {k: (ibis.literal(IDLE_ROW) if i == 0 else ibis.null("string")) for i, k in enumerate(keys)}
        row = idle_rows.select("period_ms", **keyed, **{**fill, "idle_cost": idle_rows._idle,
                                                       "used_cost": ibis.literal(0.0),
                                                       "unmatched_cost": ibis.literal(0.0),
                                                       "bill_lines": ibis.literal(0, "int64")})
        g = g.union(row.select(*g.columns))
    return g.mutate(billed_cost=g.used_cost + g.idle_cost,
                    tasks_without_lines=g.tasks.fill_null(0) - g.tasks_billed.fill_null(0))


def open_billing(src: Sources, engine: Engine, billing: Any, cache: Any, state: Any,
                  tasks: Any, runs: Any) -> None:
    """Set ``src.billing`` (:data:`BILLING_CANONICAL`, split parents marked allocated) and
    ``src.cached_runs``, from the cache (a local one read by DuckDB itself) or from frames.

    Raises
    ------
    ReportError
        Both a frame and a cache, neither, or a frame lacking columns.
    """
    if cache is not None:
        if billing is not None:
            raise ReportError("pass either billing=... (a frame) or cache=..., not both")
        files = state.files.get("billing_tasks", [])
        if engine.name == "duckdb" and not cache.is_remote and files:
            src.billing = engine.from_duckdb_query(
                billing_query([str(cache.path / f) for f in files]), BILLING_CANONICAL, src.cleanup)
            table = None
        else:
            table = cache.read_billing(state)
        ids = cache.read_table("runs", columns=["run_id"]).column("run_id")
    else:
        if billing is None:
            raise ReportError("the billed basis needs the bill: cache=... after `seqera-analytics "
                              "cur import`, or billing=load_cur(...) with the frames")
        missing = [c for c in ("run_id", "task_hash", "line_class", "billed_cost") if c not in billing.columns]
        if missing:
            raise ReportError(f"the billing frame lacks column(s) {', '.join(missing)} (pass "
                              "seqera_analytics.billing.load_cur(...) or a billing_tasks frame)")
        table = pa.Table.from_pandas(billing, preserve_index=False)
        parts = [to_arrow(f, ["run_id"], n).column("run_id") for f, n in ((runs, "runs"), (tasks, "tasks"))
                 if f is not None and "run_id" in f.columns]
        ids = pa.chunked_array([c for p in parts for c in p.chunks], pa.string()) if parts else pa.array([], pa.string())
    if table is not None:
        src.billing = engine.from_arrow(canonical_billing(table), src.cleanup)
    if cache is not None:
        parents = cache.read_billing_parents(state)
        if parents.num_rows:
            parents = pa.table({"resource_id": parents["resource_id"],
                                "usage_start": parents["usage_start"].cast(pa.int64()),
                                "usage_end": parents["usage_end"].cast(pa.int64())})
            src.billing = mark_allocated(src.billing, engine.from_arrow(parents, src.cleanup))
    ids = pc.unique(pc.drop_null(ids.cast(pa.string())))
    src.cached_runs = engine.from_arrow(pa.table({"run_id": ids}), src.cleanup)
