"""Cost per resume chain (session): runs sharing a Nextflow ``sessionId``, with and without
the cost of cached tasks that the Platform counts again on every resume (see
:mod:`._cost` for where the numbers come from)."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from .._exceptions import ReportError
from ._cost import cost_sums
from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import flag, join_on_run, money
from ._spec import ReportSpec, document, id_col, metric

__all__ = ["session_cost_report"]

SESSIONS = ReportSpec(
    "session_cost",
    (
        id_col(
            "session_id",
            "string",
            "Nextflow session id shared by a run and its resumes (the run_id for runs without one)",
        ),
        id_col("pipeline", "string", "runs.project_name of the chain's first run"),
        id_col(
            "run_ids", "object", "the chain's run ids, by submission (a list; ';'-joined on export)"
        ),
        metric("runs", "Int64", "count", "runs in the chain"),
        metric("resumed_runs", "Int64", "count", "runs launched with -resume"),
        id_col("first_submit", "datetime64[ms, UTC]", "submission of the first run", "UTC"),
        id_col("last_complete", "datetime64[ms, UTC]", "completion of the last run", "UTC"),
        metric(
            "seqera_cost",
            "Float64",
            "USD",
            "sum of the runs' Seqera cost: the Platform's total, "
            "cached tasks counted again in every resume",
        ),
        metric(
            "cost",
            "Float64",
            "USD",
            "sum of task cost, cached included (equals seqera_cost when the tasks reconcile)",
        ),
        metric("cached_cost", "Float64", "USD", "cost of CACHED tasks"),
        metric(
            "net_cost",
            "Float64",
            "USD",
            "cost without CACHED tasks: each execution once, in the run that executed it",
        ),
        metric(
            "double_counted_cost",
            "Float64",
            "USD",
            "cost of CACHED tasks whose original execution "
            "(same session, same task hash, not cached) is also in the data: counted twice by cost",
        ),
        metric(
            "deduplicated_cost",
            "Float64",
            "USD",
            "cost - double_counted_cost: each execution "
            "once; a cached task whose original run is not loaded still counts once",
        ),
        metric("tasks", "Int64", "count", "task attempts"),
        metric("tasks_cached", "Int64", "count", "CACHED tasks"),
        metric(
            "tasks_cached_origin_found",
            "Int64",
            "count",
            "CACHED tasks whose original execution is in the data",
        ),
        metric("tasks_without_cost", "Int64", "count", "task attempts whose cost is null"),
    ),
    "Cost per resume chain (session), with and without the cached double count.",
)
_BILLED = (
    metric("billed_cost", "Float64", "USD",
           "the chain's runs on the imported AWS bill (every line with their run tag: each "
           "execution once, cached tasks are not billed again); <NA> when no run has lines"),
    metric("runs_without_lines", "Int64", "count", "runs of the chain without bill lines"),
)
SESSIONS_BOTH = ReportSpec("session_cost_both", (*SESSIONS.columns, *_BILLED),
                           "Cost per resume chain, estimated and billed.")


#: Sorts a run with no submission time after every other run of its session.
_LAST = 2**62


@document(SESSIONS)
def session_cost_report(
    tasks: Any = None,
    runs: Any = None,
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
    """Cost per resume chain: runs sharing a ``session_id``, with and without the cost of
    cached tasks counted again.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cost``, ``hash``.
    runs : pandas.DataFrame
        Needs ``run_id``, ``session_id``, ``cost``, ``submit``, ``complete``, ``resume`` and
        ``project_name``.
    basis : {"estimate", "both"}, default "estimate"
        "both" adds the chain's cost on the imported AWS bill (``billed_cost``,
        ``runs_without_lines``; see ``seqera-analytics cur import``).
    billing : pandas.DataFrame, optional
        With frames and ``basis="both"``: ``seqera_analytics.billing.load_cur(...)``.
    {inputs}

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
    if basis not in ("estimate", "both"):
        raise ReportError(f"basis must be 'estimate' or 'both' (the bill sits beside the estimate "
                          f"per chain), got {basis!r}")
    req = Request(
        task_columns=["run_id", "status", "cost", "hash"],
        run_columns=[
            "run_id",
            "session_id",
            "cost",
            "submit",
            "complete",
            "resume",
            "project_name",
        ],
        runs_required="the session report",
        billing=basis != "estimate",
    )

    def build(src: Sources) -> ir.Table:
        assert src.runs is not None and src.tasks is not None
        r = src.runs.mutate(session=ibis.coalesce(src.runs.session_id, src.runs.run_id))
        t = join_on_run(src.tasks, r.select("run_id", "session"), "inner")
        # A cached task's original execution: a COMPLETED task of the same session and hash.
        origins = (
            t.filter(flag(t.status == "COMPLETED") & t.hash.notnull())
            .select("session", "hash")
            .distinct()
            .mutate(_origin=ibis.literal(True))
        )
        t = t.join(origins, [t.session == origins.session, t.hash == origins.hash], how="left")
        t = t.mutate(found=flag(t.status == "CACHED") & t._origin.notnull())
        per_run = t.group_by("run_id").aggregate(
            **cost_sums(t), double=t.cost.sum(where=t.found), n_found=t.count(where=t.found)
        )
        d = join_on_run(r, per_run)
        billed: dict[str, ir.Value] = {}
        if basis != "estimate":
            assert src.billing is not None
            b = src.billing.filter(src.billing.line_class == "usage", src.billing.run_id.notnull())
            bill = b.group_by("run_id").aggregate(_billed=b.billed_cost.sum(), _lines=b.lines.sum())
            d = join_on_run(d, bill)
        counts = ("tasks", "priced", "tasks_net", "tasks_cached", "n_found")
        d = d.mutate(**{c: d[c].fill_null(0) for c in counts})
        if basis != "estimate":
            billed = {"_billed": d._billed.sum(), "_no_lines": d.count(where=d._lines.isnull())}
        order = ibis.struct({"at": ibis.coalesce(d.submit, _LAST), "id": d.run_id})
        g = d.group_by("session").aggregate(
            pipeline=d.project_name.argmin(ibis.coalesce(d.submit, _LAST)),
            run_ids=order.collect().sort().map(lambda x: x.id),
            runs=d.count(),
            resumed_runs=d.count(where=flag(d.resume)),
            first_submit=d.submit.min(),
            last_complete=d.complete.max(),
            seqera_cost=d.cost.sum(),
            gross=d.gross.sum(),
            net=d.net.sum(),
            cached=d.cached.sum(),
            double=d.double.sum(),
            **{c: d[c].sum() for c in counts},
            **billed,
        )
        if billed:
            g = g.mutate(billed_cost=ibis.ifelse(g._no_lines < g.runs, g._billed, ibis.null("float64")),
                         runs_without_lines=g._no_lines)
        return g.mutate(
            session_id=g.session,
            cost=money(g.gross, g.tasks),
            cached_cost=money(g.cached, g.tasks_cached),
            net_cost=money(g.net, g.tasks_net),
            double_counted_cost=g.double.fill_null(0.0),
            deduplicated_cost=money(g.gross - g.double.fill_null(0.0), g.tasks),
            tasks_cached_origin_found=g.n_found,
            tasks_without_cost=g.tasks - g.priced,
        )

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend,
                           billing)
    )
    out = finish(table, SESSIONS if basis == "estimate" else SESSIONS_BOTH,
                 sort=["first_submit", "session_id"])
    out.attrs["basis"] = basis
    return out
