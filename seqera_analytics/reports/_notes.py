"""What a report says about what it read: the records it left out, and the span it covers.

* :func:`deleted_runs`: runs the Platform marks deleted (left out of every report).
* :func:`left_out`: the one line every report carries (``attrs["notes"]``) on the records
  whose values were found impossible (nulled, so no sum holds them), implausible (left out of
  efficiency and right-sizing), zone-less (read as UTC), and the deleted runs it left out;
  the classes are those of :mod:`seqera_analytics.frames._quality`.
* :func:`history_note`: runs kept although the Platform no longer lists them, and a cache
  history that starts inside the window.
* :func:`coverage`: the span the figures cover (the window, cut by the present and by the
  cache's sync history), from which :func:`._frame.finish` marks partial periods.

Both travel from the engine's result to the frame as Arrow schema metadata.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from ._relations import task_rows
from ._rules import in_window, run_instant, task_instant
from ._spec import COVERAGE_KEY, NOTES_KEY

if TYPE_CHECKING:
    from ._engine import Engine
    from ._inputs import Request, Sources

__all__ = ["attributed_tasks", "coverage", "deleted_runs", "history_note", "known_span", "left_out",
           "unlisted_runs", "with_notes"]

Window = tuple[int | None, int | None]


def _count(engine: Engine, table: ir.Table) -> int:
    return int(engine.execute(table.count().name("n").as_table()).column("n")[0].as_py() or 0)


def deleted_runs(engine: Engine, runs: ir.Table, window: Window) -> ir.Table | None:
    """The ids of runs marked deleted that the window can hold, or ``None`` when no run is
    marked at all (one small query over the runs, so that a cache without deleted runs pays
    no run filter on its tasks)."""
    gone = runs.filter(runs.deleted.fill_null(False))
    if _count(engine, gone) == 0:
        return None
    win = in_window(run_instant(gone), *window)
    return (gone if win is None else gone.filter(win)).select("run_id")


def unlisted_runs(engine: Engine, runs: ir.Table, window: Window, scope: Callable[[ir.Table], list[Any]]) -> int:
    """How many runs in the window and scope a full listing of their workspace no longer
    shows (``unlisted_since`` set): kept by the cache and counted, unlike deleted runs."""
    if "unlisted_since" not in runs.columns:
        return 0
    gone = runs.filter(runs.unlisted_since.notnull() & ~runs.deleted.fill_null(False))
    if _count(engine, gone) == 0:
        return 0
    conds = scope(gone)
    win = in_window(run_instant(gone), *window)
    if win is not None:
        conds.append(win)
    return _count(engine, gone.filter(*conds) if conds else gone)


def left_out(src: Sources, req: Request) -> list[str]:
    """The report's note on what it left out (an empty list when nothing was)."""
    notes = []
    t = None
    if src.tasks is not None and "quality" in src.tasks.columns:
        t = attributed_tasks(src, *req.window, flagged=True)
    if t is not None:

        def has(pred: Callable[[ir.StringValue], ir.BooleanValue]) -> ir.BooleanValue:
            return t.quality.filter(pred).length().fill_null(0) > 0

        # a value nulled: every class but those kept (frames._quality.QUALITY_CLASSES)
        nulled = has(lambda q: ~q.startswith("implausible_") & ~q.startswith("zoneless_")
                     & (q != "impossible_time:last_updated"))
        got = src.engine.execute(t.aggregate(
            nulled=t.count(where=nulled),
            implausible=t.count(where=has(lambda q: q.startswith("implausible_"))),
            zoneless=t.count(where=has(lambda q: q.startswith("zoneless_")))))
        n_null, n_odd, n_zone = (int(got.column(n)[0].as_py() or 0)
                                 for n in ("nulled", "implausible", "zoneless"))
        parts = []
        if n_null:
            parts.append(f"{n_null:,} task record{'s' * (n_null != 1)} with impossible values "
                         "(those values left out)")
        if n_odd:
            parts.append(f"{n_odd:,} with implausible usage (left out of efficiency and right-sizing)")
        if n_zone:
            parts.append(f"{n_zone:,} with times without a zone (read as UTC)")
        if parts:
            notes.append("; ".join(parts))
    if src.deleted_runs:
        n = src.deleted_runs
        notes.append(f"{n:,} run{'s' * (n != 1)} marked deleted on the Platform left out")
    if not notes:
        return []
    return ["Data quality: " + "; ".join(notes) + " (see `seqera-analytics report quality`)."]


def attributed_tasks(src: Sources, lo: int | None, hi: int | None, *, flagged: bool = False) -> ir.Table | None:
    """The tasks the window holds by the attribution rule (``._rules``): their own
    complete/start/submit, else their run's submit. Without a window, or without task
    times (reports that read none), the tasks in scope. ``flagged``: only tasks with a
    finding (:meth:`Sources.flagged_tasks_in`, which reads only files with findings), or
    ``None`` when there are none."""
    assert src.tasks is not None
    if flagged:
        found = src.flagged_tasks_in(lo, hi)
        if found is None:
            return None
        t = found
    else:
        t = src.tasks if lo is None and hi is None else src.tasks_in(lo, hi)
    if lo is None and hi is None:
        return t
    if not all(c in t.columns for c in ("complete", "start", "submit")):
        return t
    if src.runs is not None and "submit" in src.runs.columns:
        return task_rows(src, keys=(), period=None, lo=lo, hi=hi, tasks=t)
    win = in_window(task_instant(t), lo, hi)
    return t if win is None else t.filter(win)


def history_note(src: Sources, req: Request) -> list[str]:
    """A line when the cache's history starts inside the report's window: earlier periods
    are partial or absent, and syncing without ``--since`` would fetch the rest."""
    lines = []
    if src.unlisted_runs:
        n = src.unlisted_runs
        lines.append(f"History: {n:,} run{'s' * (n != 1)} here {'are' if n != 1 else 'is'} no longer listed by the "
                     "Platform (its run history is limited); the cache keeps them and they are counted "
                     "(runs column unlisted_since).")
    start = src.known[0]
    lo = req.window[0]
    if start is None or (lo is not None and lo >= start):
        return lines
    when = pd.Timestamp(start, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    line = (f"History: the cache holds these workspaces' runs submitted from {when} on (synced "
            "with --since); periods before are partial or absent. A sync without --since "
            "fetches the rest.")
    return [*lines, line]


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(pd.Timestamp(iso).value // 1_000_000)  # .value is ns whatever the unit
    except (ValueError, TypeError):
        return None


def known_span(state: Any, wids: list[int] | None) -> Window:
    """``(covered since, last synced)`` [int ms] of the cache's history over the workspaces
    read (``None``: open): a period outside it is not wholly in the cache."""
    spaces = list(state.workspaces.values()) if wids is None else [
        ws for w in wids if (ws := state.workspace(w)) is not None]
    since = [m for ws in spaces if (m := _ms(ws.covered_since)) is not None]
    synced = [m for ws in spaces if (m := _ms(ws.synced_at)) is not None]
    return (max(since) if since else None, min(synced) if synced else None)


def coverage(src: Sources, req: Request) -> list[int | None]:
    """The span the report's figures cover [int ms]: its window, cut by the present and by
    what the cache's sync history holds. A period reaching outside it is partial."""
    lo, hi = req.window
    known_lo, known_hi = src.known
    upper = [m for m in (hi, known_hi, int(time.time() * 1000)) if m is not None]
    lower = [m for m in (lo, known_lo) if m is not None]
    return [max(lower) if lower else None, min(upper)]


def with_notes(table: pa.Table, notes: list[str], span: list[int | None]) -> pa.Table:
    """``table`` carrying its notes and coverage as schema metadata (read by ``finish``)."""
    meta = dict(table.schema.metadata or {})
    meta[COVERAGE_KEY] = json.dumps(span).encode()
    if notes:
        meta[NOTES_KEY] = json.dumps(notes).encode()
    return table.replace_schema_metadata(meta)
