"""Runtime charts: per-process realtime box plots and run wall/queue time trends."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cbook import boxplot_stats
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ._style import (
    FAILED_COLOR,
    category_height,
    colors_for,
    date_axis,
    footnote,
    group_columns,
    group_labels,
    is_empty,
    new_axes,
    new_panels,
    no_data,
    numeric,
    require_columns,
    short_process_names,
    styled,
    top_labels,
    utc_naive,
)

__all__ = ["plot_run_trends", "plot_runtime_boxes"]

_MS_PER = {"min": 60_000.0, "h": 3_600_000.0}

# matplotlib 3.10 replaced bxp(vert=False) by orientation="horizontal" (and deprecated vert).
_MPL = tuple(int(p) for p in mpl.__version__.split(".")[:2] if p.isdigit())
_HORIZONTAL: dict[str, object] = (
    {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
)


def _ms(s: pd.Series) -> np.ndarray:
    """A timedelta column as float milliseconds (NaN for missing)."""
    td = pd.to_timedelta(s)
    return (td / pd.Timedelta(milliseconds=1)).astype("float64").to_numpy(na_value=np.nan)


_BOX_COLUMNS = ("process", "tasks", "realtime_minutes_median", "realtime_minutes_q1",
                "realtime_minutes_q3", "realtime_minutes_whisker_low",
                "realtime_minutes_whisker_high")


def _boxes_from_tasks(tasks: pd.DataFrame, statuses: Sequence[str]) -> pd.DataFrame | str:
    """One row per process: matplotlib box stats in ms, from the task attempts."""
    require_columns(tasks, ["process", "status", "realtime", "time"], "the tasks table")
    wanted = {s.upper() for s in statuses}
    keep = tasks["status"].astype("string").str.upper().isin(wanted).to_numpy(dtype=bool, na_value=False).copy()
    real = _ms(tasks["realtime"])
    keep = keep & ~np.isnan(real)
    if not keep.any():
        return f"no {', '.join(sorted(wanted)).lower()} task has a realtime"
    frame = pd.DataFrame({
        "process": tasks["process"].astype("string").fillna("(none)").to_numpy(dtype=object)[keep],
        "real": real[keep],
        "req": _ms(tasks["time"])[keep],
    })
    rows = []
    for p, g in frame.groupby("process", sort=False):
        st = boxplot_stats(g["real"].to_numpy(), whis=1.5)[0]
        r = g["req"].dropna()
        rows.append({"process": str(p), "stats": st, "n": len(g), "total": float(g["real"].sum()),
                     "req": float(np.median(r)) if len(r) else np.nan, "outliers": 0})
    return pd.DataFrame(rows)


def _boxes_from_report(report: pd.DataFrame) -> pd.DataFrame | str:
    """The same from :func:`seqera_analytics.reports.process_runtimes` (quartiles and
    whiskers computed by the report; outliers counted, not drawn)."""
    require_columns(report, list(_BOX_COLUMNS), "the process_runtimes report")
    minute = 60_000.0
    rows = []
    for r in report.itertuples(index=False):
        if pd.isna(r.realtime_minutes_median):
            continue
        st = {key: float(getattr(r, f"realtime_minutes_{col}")) * minute for key, col in
              (("med", "median"), ("q1", "q1"), ("q3", "q3"), ("whislo", "whisker_low"),
               ("whishi", "whisker_high"))}
        st["fliers"] = np.array([])
        req = getattr(r, "time_requested_minutes_median", np.nan)
        rows.append({"process": "(none)" if pd.isna(r.process) else str(r.process), "stats": st,
                     "n": int(r.tasks), "total": float(getattr(r, "realtime_hours", 0.0)) * 60 * minute,
                     "req": np.nan if pd.isna(req) else float(req) * minute,
                     "outliers": int(getattr(r, "realtime_outliers", 0) or 0)})
    if not rows:
        return "no process has a realtime"
    return pd.DataFrame(rows)


@styled
def plot_runtime_boxes(data: pd.DataFrame, *, top: int = 30,
                       statuses: Sequence[str] = ("COMPLETED",), unit: str = "auto",
                       log: bool | None = None, ax: Axes | None = None,
                       title: str | None = None) -> Figure:
    """Box plots of task realtime per process, with each process's requested time marked.

    Takes either the :func:`seqera_analytics.reports.process_runtimes` report (by process:
    its quartile and whisker columns, computed by the engine, so only one row per process
    reaches Python; outliers are counted in the footnote, not drawn) or the tasks frame
    (the individual attempts: boxes with their outliers as dots).

    Parameters
    ----------
    data : pandas.DataFrame
        The ``process_runtimes`` report grouped by ``process`` (columns ``process``,
        ``tasks``, ``realtime_minutes_{median,q1,q3,whisker_low,whisker_high}`` [min],
        ``realtime_hours`` [h], ``time_requested_minutes_median`` [min],
        ``realtime_outliers``), or the tasks table (:data:`seqera_analytics.frames.TASKS`;
        columns used: ``process`` (string), ``status`` (string), ``realtime``
        (timedelta64[ms], the task's wall time without staging) and ``time``
        (timedelta64[ms], the requested time limit)).
    top : int, default 30
        Processes shown: those with the largest total realtime. The title says how many
        were left out.
    statuses : sequence of str, default ("COMPLETED",)
        Task statuses drawn from a tasks frame (CACHED tasks did not run; FAILED ones stop
        early); a report already chose its statuses.
    unit : {"auto", "min", "h"}, default "auto"
        Time unit of the axis; "auto" picks hours when the longest task exceeds 2 h.
    log : bool, optional
        Log-scaled axis; default when the realtimes span more than two orders of magnitude.
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure whose height grows with the number of processes.
    title : str, optional
        Default "Task realtime per process".

    Returns
    -------
    matplotlib.figure.Figure
        One horizontal box per process (longest median at the top), labelled with the short
        process name and the number of tasks; a vermillion diamond at the median requested
        ``time`` of the process. Empty input gives a figure saying "no data".

    Raises
    ------
    ReportError
        The frame lacks one of the columns used.
    """
    heading = title or "Task realtime per process"
    from_report = "realtime_minutes_q1" in getattr(data, "columns", ())
    n_proc = 0
    if not is_empty(data) and "process" in data:
        n_proc = len(data) if from_report else data["process"].nunique()
    fig, ax = new_axes(ax, 9.0, category_height(min(top, n_proc), base=1.9))
    if is_empty(data):
        return no_data(ax, heading, "no tasks in the selected window")
    boxes = _boxes_from_report(data) if from_report else _boxes_from_tasks(data, statuses)
    if isinstance(boxes, str):
        return no_data(ax, heading, boxes)
    # Exactly `top` boxes (no "other" box: a distribution of unrelated processes means nothing).
    chosen = boxes.sort_values("total", ascending=False, kind="stable").head(top)
    hidden = len(boxes) - len(chosen)
    longest = max(float(st["whishi"]) if not len(st["fliers"]) else float(max(st["whishi"], max(st["fliers"])))
                  for st in chosen["stats"])
    u = unit if unit in _MS_PER else ("h" if longest > 2 * _MS_PER["h"] else "min")
    scale_u = _MS_PER[u]
    stats = []
    for st in chosen["stats"]:
        scaled = {k: (np.asarray(v) / scale_u if k == "fliers" else v / scale_u)
                  for k, v in st.items() if k in ("med", "q1", "q3", "whislo", "whishi", "fliers")}
        stats.append(scaled)
    reqs = list(chosen["req"].to_numpy(dtype=float) / scale_u)
    names = list(chosen["process"])
    counts = list(chosen["n"])
    order = np.argsort([-s["med"] for s in stats], kind="stable")
    stats = [stats[i] for i in order]
    reqs = [reqs[i] for i in order]
    labels = short_process_names([names[i] for i in order])
    counts = [counts[i] for i in order]
    for st, lab, n in zip(stats, labels, counts):
        st["label"] = f"{lab} (n={n})"
    pos = np.arange(len(stats))
    ax.bxp(stats, positions=pos, widths=0.6, patch_artist=True, **_HORIZONTAL,
           showfliers=True,
           boxprops={"facecolor": "#56B4E9", "edgecolor": "#0072B2", "linewidth": 0.8},
           medianprops={"color": "#000000", "linewidth": 1.2},
           whiskerprops={"color": "#0072B2", "linewidth": 0.8},
           capprops={"color": "#0072B2", "linewidth": 0.8},
           flierprops={"marker": ".", "markersize": 3, "markerfacecolor": "#0072B2",
                       "markeredgecolor": "none", "alpha": 0.6, "rasterized": True})
    ax.scatter(reqs, pos, marker="D", s=22, color=FAILED_COLOR, zorder=3,
               label="requested time (median)")
    ax.set_ylim(len(stats) - 0.5, -0.5)  # longest median at the top
    values = np.concatenate([np.r_[st["whislo"], st["whishi"], st["fliers"]] for st in stats])
    positive = values[values > 0]
    reqs_ok = np.array([r for r in reqs if np.isfinite(r) and r > 0])
    span = (positive.max() / positive.min()) if len(positive) else 1.0
    if log if log is not None else span > 100:
        ax.set_xscale("log")
        lo = positive.min() if len(positive) else 1e-3
        hi = max(positive.max() if len(positive) else 1.0, reqs_ok.max() if len(reqs_ok) else 0)
        ax.set_xlim(lo / 1.6, hi * 1.6)
        scale = " (log scale)"
    else:
        ax.set_xlim(left=0)
        scale = ""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_xlabel(f"task realtime [{u}]{scale}")
    ax.grid(axis="x", which="major")
    ax.set_axisbelow(True)
    ax.legend(handles=[
        Line2D([], [], marker="s", linestyle="none", markerfacecolor="#56B4E9",
               markeredgecolor="#0072B2", markersize=8, label="realtime: quartiles, whiskers 1.5 IQR"),
        Line2D([], [], marker="D", linestyle="none", color=FAILED_COLOR, markersize=5,
               label="requested time (median)"),
    ], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    extra = f" (top {len(stats)} of {len(boxes)} processes by total realtime)" if hidden else ""
    ax.set_title(heading + extra)
    attempts = int(sum(counts))
    if from_report:
        outliers = int(chosen["outliers"].sum())
        footnote(ax, f"{attempts:,} task attempts; {outliers:,} beyond the whiskers (not drawn)")
    else:
        st_text = ", ".join(sorted(s.lower() for s in statuses))
        footnote(ax, f"{attempts:,} {st_text} task attempts")
    return fig


def _per_run(df: pd.DataFrame) -> bool:
    return "wall_hours" in df.columns and "queue_minutes" in df.columns


@styled
def plot_run_trends(report: pd.DataFrame, color_by: str | Sequence[str] | None = None, *,
                    top: int = 7, ax: Sequence[Axes] | None = None,
                    title: str | None = None) -> Figure:
    """Run wall time and queue time over time, in two stacked panels sharing the UTC date axis.

    Takes either table of the runtime reports:

    * :func:`seqera_analytics.reports.run_runtimes` (one row per run): one dot per run at
      its ``submit`` time. Columns used: ``submit`` (datetime64[ms, UTC]), ``wall_hours``
      [h], ``queue_minutes`` [min] and the colour key (default ``pipeline``).
    * :func:`seqera_analytics.reports.runtime_report` (one row per period and group,
      already aggregated, which suits 100,000 runs): the median as a solid line and the 90th
      percentile dashed. Columns used: ``period`` (datetime64[ms, UTC]),
      ``wall_hours_median``, ``wall_hours_p90`` [h], ``queue_minutes_median``,
      ``queue_minutes_p90`` [min] and the group keys.

    Parameters
    ----------
    report : pandas.DataFrame
        One of the two frames above.
    color_by : str or sequence of str, optional
        Key columns giving the colour (default: ``pipeline`` for per-run input when present,
        else the report's group keys).
    top : int, default 7
        Groups coloured by name; the rest is grey "other".
    ax : pair of matplotlib.axes.Axes, optional
        The two panels (wall time, queue time); default a new figure.
    title : str, optional
        Default "Run wall time and queue time".

    Returns
    -------
    matplotlib.figure.Figure
        Top panel: wall time (complete - start) [h]; bottom: queue time (start - submit)
        [min]. Empty input gives a figure saying "no data".

    Raises
    ------
    ReportError
        The frame is neither of the two report tables, or ``ax`` is not two Axes.
    """
    heading = title or "Run wall time and queue time"
    fig, (top_ax, bottom_ax) = new_panels(ax, 2, 9.0, 5.8, height_ratios=(1.2, 1.0))
    if is_empty(report):
        no_data(top_ax, heading, "no runs in the selected window")
        bottom_ax.set_visible(False)
        return fig
    per_run = _per_run(report)
    if per_run:
        require_columns(report, ["submit", "wall_hours", "queue_minutes"],
                        "reports.run_runtimes() or reports.runtime_report()")
        default_keys = ["pipeline"] if "pipeline" in report.columns else []
        keys = group_columns(report, color_by) if color_by is not None else default_keys
        x = utc_naive(report["submit"])
    else:
        require_columns(report, ["period", "wall_hours_median", "wall_hours_p90",
                                 "queue_minutes_median", "queue_minutes_p90"],
                        "reports.run_runtimes() or reports.runtime_report()")
        keys = group_columns(report, color_by)
        x = utc_naive(report["period"])
    labels = group_labels(report, keys).to_numpy()
    if per_run:
        weight = pd.Series(1.0, index=labels).groupby(level=0).sum()
    else:
        runs = numeric(report["runs"]) if "runs" in report else np.ones(len(report))
        weight = pd.Series(np.nan_to_num(runs), index=labels).groupby(level=0).sum()
    keep, rest = top_labels(weight, top)
    other = f"other ({len(rest)})"
    if rest:
        labels = np.where(np.isin(labels, rest), other, labels)
        keep = [*keep, other]
    colors = colors_for(keep, other)
    panels = ((top_ax, "wall_hours", "run wall time [h]"),
              (bottom_ax, "queue_minutes", "run queue time [min]"))
    many = len(report) > 2000
    for axis, col, ylabel in panels:
        for g in keep:
            m = labels == g
            if not m.any():
                continue
            if per_run:
                axis.scatter(x[m], numeric(report[col])[m], s=4 if many else 16,
                             color=colors[g], alpha=0.5 if many else 0.85, linewidths=0,
                             label=g, rasterized=many)
            else:
                order = np.argsort(x[m])
                xs = x[m][order]
                axis.plot(xs, numeric(report[f"{col}_median"])[m][order], color=colors[g],
                          marker="o", markersize=4, linewidth=1.5, label=g)
                axis.plot(xs, numeric(report[f"{col}_p90"])[m][order], color=colors[g],
                          marker="^", markersize=3, linewidth=1.0, linestyle="--")
        axis.set_ylabel(ylabel)
        axis.set_ylim(bottom=0)
        axis.margins(x=0.04)
        axis.grid(axis="y")
        axis.set_axisbelow(True)
    date_axis(bottom_ax)
    bottom_ax.set_xlabel("run submission (UTC)" if per_run else "period start (UTC)")
    handles, names = top_ax.get_legend_handles_labels()
    if not per_run:
        handles += [Line2D([], [], color="#333333", marker="o", markersize=4, label="median"),
                    Line2D([], [], color="#333333", marker="^", markersize=3, linestyle="--",
                           label="90th percentile")]
        names += ["median", "90th percentile"]
    if handles:
        top_ax.legend(handles, names, title=" / ".join(keys) or None, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), frameon=False)
    top_ax.set_title(heading)
    if per_run:
        footnote(bottom_ax, f"{len(report):,} runs; wall time = complete - start, "
                            f"queue time = start - submit")
    else:
        footnote(bottom_ax, "per period: median (solid) and 90th percentile (dashed) of the runs "
                            "attributed to it")
    return fig
