"""Task timeline (Gantt chart) of one run: one lane per process, retries and failures marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .._exceptions import ReportError
from ._style import (
    FAILED_COLOR,
    OKABE_ITO,
    footnote,
    is_empty,
    new_axes,
    no_data,
    require_columns,
    short_process_names,
    styled,
)

__all__ = ["plot_task_timeline"]

_LABEL_MIN_IN = 0.16  # vertical room a lane label needs [in] (7-pt text plus spacing)
_MAX_HEIGHT_IN = 16.0
# Lane colours: Okabe-Ito without black, which marks retries.
_LANE_COLORS = tuple(c for c in OKABE_ITO if c != "#000000")
_QUEUE_COLOR = "#9A9A9A"
_ABORTED_COLOR = "#D0D0D0"


def _hours(ts: pd.Series, t0: pd.Timestamp) -> np.ndarray:
    d = (pd.to_datetime(ts, utc=True) - t0) / pd.Timedelta(hours=1)
    return d.astype("float64").to_numpy(na_value=np.nan)


def _pack(begin: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, int]:
    """Sub-row of each interval so that intervals in one sub-row never overlap (greedy)."""
    order = np.lexsort((end, begin))
    rows_end: list[float] = []
    row = np.zeros(len(begin), dtype=np.int64)
    for i in order:
        for r, e in enumerate(rows_end):
            if e <= begin[i]:
                rows_end[r] = end[i]
                row[i] = r
                break
        else:
            rows_end.append(end[i])
            row[i] = len(rows_end) - 1
    return row, max(1, len(rows_end))


@styled
def plot_task_timeline(tasks: pd.DataFrame, run_id: str | None = None, *, max_lanes: int = 60,
                       ax: Axes | None = None, title: str | None = None) -> Figure:
    """Gantt chart of one run's task attempts: one lane per process, coloured by process.

    Each attempt is a bar from its ``start`` to its ``complete``, preceded by a thin grey line
    for its queue time (``submit`` to ``start``). Concurrent tasks of a process stack within
    its lane. Failed attempts are hatched with a vermillion edge and an "x" at their end;
    retries (``attempt`` >= 2) carry a black dot at their start; aborted tasks are light grey.

    Parameters
    ----------
    tasks : pandas.DataFrame
        The tasks table (:data:`seqera_analytics.frames.TASKS`) of one run, or of several
        with ``run_id`` given. Columns used: ``run_id``, ``process`` (string), ``status``
        (string), ``attempt`` (Int64), ``submit``, ``start``, ``complete``
        (datetime64[ms, UTC]).
    run_id : str, optional
        The run to draw; required when ``tasks`` holds several runs.
    max_lanes : int, default 60
        Lanes drawn; processes beyond it (those with the fewest tasks) share one
        "other processes" lane.
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure whose height grows with the lanes.
    title : str, optional
        Default "Task timeline of run <run_id>".

    Returns
    -------
    matplotlib.figure.Figure
        x axis: hours since the run's first task submission [h] (its UTC time is in the
        title). CACHED tasks are not drawn (they ran in an earlier run; their timestamps are
        that run's) and are counted under the chart. Tasks still running end at the latest
        time in the data. Empty input gives a figure saying "no data".

    Raises
    ------
    ReportError
        The frame lacks a column used, holds several runs and ``run_id`` is not given, or
        does not hold ``run_id``.
    """
    heading = title or (f"Task timeline of run {run_id}" if run_id else "Task timeline")
    if is_empty(tasks):
        fig, ax = new_axes(ax, 10.0, 3.5)
        return no_data(ax, heading, "the run has no tasks")
    require_columns(tasks, ["run_id", "process", "status", "attempt", "submit", "start",
                            "complete"], "the tasks table of one run")
    ids = tasks["run_id"].astype("string").dropna().unique().tolist()
    if run_id is None:
        if len(ids) > 1:
            raise ReportError(f"the tasks frame holds {len(ids)} runs; pass run_id= (one of "
                              f"{', '.join(map(str, ids[:5]))}{', ...' if len(ids) > 5 else ''})")
        run_id = ids[0] if ids else None
        heading = title or f"Task timeline of run {run_id}"
    elif run_id not in ids:
        raise ReportError(f"run {run_id!r} is not in the tasks frame")
    t = tasks[tasks["run_id"].astype("string") == run_id] if run_id is not None else tasks
    status = t["status"].astype("string").str.upper().fillna("")
    cached = (status == "CACHED").to_numpy(dtype=bool)
    t = t[~cached]
    status = status[~cached]
    if t.empty:
        fig, ax = new_axes(ax, 10.0, 3.5)
        return no_data(ax, heading, f"all {int(cached.sum())} tasks were CACHED (ran in an earlier run)")
    times = pd.concat([pd.to_datetime(t[c], utc=True) for c in ("submit", "start", "complete")])
    t0 = times.min()
    if pd.isna(t0):
        fig, ax = new_axes(ax, 10.0, 3.5)
        return no_data(ax, heading, "no task has a submit, start or complete time")
    sub, st, co = _hours(t["submit"], t0), _hours(t["start"], t0), _hours(t["complete"], t0)
    latest = np.nanmax(np.concatenate([sub, st, co]))
    begin = np.where(np.isnan(st), sub, st)
    begin = np.where(np.isnan(begin), co, begin)
    sub = np.where(np.isnan(sub), begin, sub)
    running = np.isnan(co)
    end = np.where(running, latest, co)
    end = np.maximum(end, begin)
    attempt = pd.to_numeric(t["attempt"], errors="coerce").fillna(1).to_numpy()
    failed = (status == "FAILED").to_numpy(dtype=bool)
    aborted = (status == "ABORTED").to_numpy(dtype=bool)
    proc = t["process"].astype("string").fillna("(none)").to_numpy(dtype=object)

    # Lanes: processes in order of their first start; the smallest share a lane past max_lanes.
    first = pd.Series(begin, index=proc).groupby(level=0).min().sort_values(kind="stable")
    lanes = list(first.index)
    if len(lanes) > max_lanes:
        sizes = pd.Series(proc).value_counts()
        small = set(sizes.sort_values(kind="stable").index[: len(lanes) - max_lanes + 1])
        proc = np.where(np.isin(proc, list(small)), "other processes", proc)
        lanes = [p for p in lanes if p not in small] + ["other processes"]
    packed = {}
    for lane in lanes:
        idx = np.flatnonzero(proc == lane)
        rows, n_rows = _pack(sub[idx], end[idx])
        packed[lane] = (idx, rows, n_rows)

    # Vertical layout [in]: a sub-row is `row_in` tall, a lane at least _LABEL_MIN_IN so its
    # label never touches the next one; shrink sub-rows until the figure fits the cap.
    row_in = 0.045
    while True:
        lane_in = [max(packed[lane][2] * row_in, _LABEL_MIN_IN) for lane in lanes]
        total_in = sum(lane_in) + 0.05 * len(lanes)
        if total_in + 2.0 <= _MAX_HEIGHT_IN or row_in < 0.012:
            break
        row_in *= 0.85
    fig, ax = new_axes(ax, 10.0, min(_MAX_HEIGHT_IN, max(3.5, total_in + 2.0)))
    # Seconds-long tasks would be invisible: draw every bar at least 0.25 % of the x range.
    span = float(np.nanmax(end)) if len(end) else 1.0
    dur = np.maximum(end - begin, 0.0025 * (span if span > 0 else 1.0))
    y = 0.0
    centres, names = [], []
    short = dict(zip(lanes, short_process_names(lanes)))
    for k, lane in enumerate(lanes):
        idx, rows, n_rows = packed[lane]
        height = lane_in[k] / row_in  # lane height in sub-row units
        unit = height / n_rows
        color = _LANE_COLORS[k % len(_LANE_COLORS)]
        ybar = y + rows * unit + 0.12 * unit
        hbar = 0.76 * unit
        q = sub[idx] < begin[idx]
        if q.any():
            ax.hlines(ybar[q] + hbar / 2, sub[idx][q], begin[idx][q], color=_QUEUE_COLOR,
                      linewidth=0.6, zorder=1)
        for mask, face, edge, hatch in (
            (~failed[idx] & ~aborted[idx], color, "none", None),
            (failed[idx], "white", FAILED_COLOR, "////"),
            (aborted[idx], _ABORTED_COLOR, "#777777", None),
        ):
            if not mask.any():
                continue
            ax.bar(begin[idx][mask], hbar, width=dur[idx][mask], bottom=ybar[mask],
                   align="edge", color=face, edgecolor=edge, hatch=hatch,
                   linewidth=0.8 if hatch else 0.4, zorder=2)
        f = failed[idx]
        if f.any():
            ax.scatter(end[idx][f], ybar[f] + hbar / 2, marker="x", s=18, color=FAILED_COLOR,
                       linewidths=1.2, zorder=3)
        r = attempt[idx] >= 2
        if r.any():
            ax.scatter(begin[idx][r], ybar[r] + hbar / 2, marker="o", s=10, color="#000000",
                       zorder=3)
        centres.append(y + height / 2)
        n = len(idx)
        names.append(f"{short[lane]} ({n})")
        y += height
        if k < len(lanes) - 1:
            ax.axhline(y + 0.05 / row_in / 2, color="#E5E5E5", linewidth=0.6, zorder=0)
        y += 0.05 / row_in
    ax.set_yticks(centres, names)
    ax.tick_params(axis="y", length=0, labelsize=7)
    ax.set_ylim(y, 0)
    ax.set_xlim(0, span * 1.01 if span > 0 else 1)
    ax.set_xlabel("hours since the run's first task submission [h]")
    ax.grid(axis="x")
    ax.set_axisbelow(True)
    n_failed, n_retry = int(failed.sum()), int((attempt >= 2).sum())
    ax.set_title(f"{heading}\nfirst task submitted {t0:%Y-%m-%d %H:%M} UTC · {len(t)} attempts "
                 f"· {n_failed} failed · {n_retry} retr{'y' if n_retry == 1 else 'ies'}", fontsize=10)
    ax.legend(handles=[
        Patch(facecolor=_LANE_COLORS[0], label="task ran (colour = process)"),
        Patch(facecolor="white", edgecolor=FAILED_COLOR, hatch="////",
              label="failed attempt (x at its end)"),
        Line2D([], [], marker="o", linestyle="none", color="#000000", markersize=4,
               label="retry (attempt ≥ 2) starts"),
        Line2D([], [], color=_QUEUE_COLOR, linewidth=1.0, label="queued (submit → start)"),
        Patch(facecolor=_ABORTED_COLOR, edgecolor="#777777", label="aborted"),
    ], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    notes = []
    if cached.any():
        notes.append(f"{int(cached.sum())} CACHED task(s) not shown (they ran in an earlier run)")
    if running.any():
        notes.append(f"{int(running.sum())} task(s) without a completion time drawn to the latest time")
    footnote(ax, "; ".join(notes))
    return fig
