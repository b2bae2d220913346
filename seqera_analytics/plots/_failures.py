"""Failure charts: run failure rate over time, and failed attempts by process x exit status."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .._exceptions import ReportError
from ..reports import exit_status_meaning
from ._style import (
    category_height,
    colors_for,
    footnote,
    group_columns,
    group_labels,
    is_empty,
    new_axes,
    new_panels,
    no_data,
    numeric,
    period_word,
    require_columns,
    short_process_names,
    styled,
    top_labels,
    wrap,
)

__all__ = ["plot_exit_status_heatmap", "plot_failure_rate"]

#: Nextflow's exit status for a task that ended without one (node or spot instance lost).
_NO_EXIT = 2_147_483_647


@styled
def plot_failure_rate(report: pd.DataFrame, by: str | Sequence[str] | None = None, *,
                      top: int = 7, ax: Sequence[Axes] | None = None,
                      title: str | None = None) -> Figure:
    """Run failure rate per group over time, and the failed task attempts behind it.

    Parameters
    ----------
    report : pandas.DataFrame
        The output of :func:`seqera_analytics.reports.failure_report` (e.g.
        ``period="month", by="pipeline"``). Columns used: ``period`` (datetime64[ms, UTC],
        order), ``period_label`` (string), the group keys, ``failure_rate`` [fraction],
        ``runs``, ``runs_failed``, ``failed_recovered`` and ``failed_unrecovered`` [count].
    by : str or sequence of str, optional
        Key columns naming a series (default: every group key of the report).
    top : int, default 7
        Groups drawn by name (most runs first); the rest is summed into "other" in the
        lower panel and left out of the upper one (a rate of a remainder means little).
    ax : pair of matplotlib.axes.Axes, optional
        The two panels; default a new figure.
    title : str, optional
        Default "Run failure rate by month and pipeline".

    Returns
    -------
    matplotlib.figure.Figure
        Upper panel: FAILED / (SUCCEEDED + FAILED) runs [%] per group and period, with the
        run count at each point. Lower panel: failed task attempts [count] per period and
        group, split into recovered by a retry (solid) and not recovered (hatched).
        Empty input gives a figure saying "no data".

    Raises
    ------
    ReportError
        The frame lacks a column used, or ``ax`` is not two Axes.
    """
    keys = group_columns(report, by)
    first = report["period_label"].dropna().head(1).tolist() if "period_label" in report else []
    parts = ([period_word(first)] if first else []) + ([" / ".join(keys)] if keys else [])
    heading = title or f"Run failure rate by {' and '.join(parts) or 'group'}"
    fig, (rate_ax, task_ax) = new_panels(ax, 2, 9.0, 6.0, height_ratios=(1.0, 1.0))
    if is_empty(report):
        no_data(rate_ax, heading, "no runs in the selected window")
        task_ax.set_visible(False)
        return fig
    require_columns(report, ["failure_rate", "runs", "runs_failed", "failed_recovered",
                             "failed_unrecovered"], "the output of reports.failure_report")
    if "period_label" in report.columns:
        lab = report["period_label"].astype("string").fillna("(no date)").astype(object)
        order = (pd.DataFrame({"p": report.get("period", lab), "l": lab}).drop_duplicates("l")
                 .sort_values("p", kind="stable")["l"].tolist())
    else:
        lab = pd.Series(["all time"] * len(report), index=report.index, dtype=object)
        order = ["all time"]
    pos = {p: i for i, p in enumerate(order)}
    groups = group_labels(report, keys).to_numpy()
    runs = np.nan_to_num(numeric(report["runs"]))
    keep, rest = top_labels(pd.Series(runs, index=groups).groupby(level=0, sort=False).sum(), top)
    other = f"other ({len(rest)})"
    colors = colors_for([*keep, other], other)
    xs = np.array([pos[v] for v in lab])

    # Upper panel: one line per named group, dodged like the bars below so groups with equal
    # rates stay visible; the run count labels each point.
    rate = numeric(report["failure_rate"]) * 100.0
    shown = [*keep, *([other] if rest else [])]
    width = 0.8 / max(1, len(shown))
    offset = {g: -0.4 + width * (j + 0.5) for j, g in enumerate(shown)}
    for g in keep:
        m = (groups == g) & ~np.isnan(rate)
        if not m.any():
            continue
        o = np.argsort(xs[m])
        xg = xs[m][o] + offset[g]
        rate_ax.plot(xg, rate[m][o], marker="o", markersize=5, linewidth=1.5,
                     color=colors[g], label=g, clip_on=False, zorder=3)
        for xi, yi, n in zip(xg, rate[m][o], runs[m][o]):
            rate_ax.annotate(f"{int(n)}", (xi, yi), xytext=(0, 5), textcoords="offset points",
                             ha="center", fontsize=6.5, color=colors[g])
    top_rate = np.nanmax(rate) if np.isfinite(rate).any() else 0.0
    ymax = max(10.0, top_rate * 1.25)
    rate_ax.set_ylim(-0.05 * ymax, ymax)  # room below 0 so points at 0 % stay whole
    rate_ax.yaxis.set_major_formatter(
        FuncFormatter(lambda v, _p: "" if v < -1e-9 else f"{v:.0f}%"))
    rate_ax.set_ylabel("failed runs [%]")
    rate_ax.grid(axis="y")
    rate_ax.set_axisbelow(True)
    rate_ax.set_title(heading)
    if keep:
        rate_ax.legend(title=" / ".join(keys) or None, loc="upper left",
                       bbox_to_anchor=(1.01, 1.0), frameon=False)

    # Lower panel: failed attempts per period, one bar per group side by side, recovered
    # (solid) stacked under unrecovered (hatched).
    rec = np.nan_to_num(numeric(report["failed_recovered"]))
    unrec = np.nan_to_num(numeric(report["failed_unrecovered"]))
    mapped = np.where(np.isin(groups, rest), other, groups)
    for g in shown:
        m = mapped == g
        if not m.any():
            continue
        per = pd.DataFrame({"x": xs[m], "r": rec[m], "u": unrec[m]}).groupby("x").sum()
        x = per.index.to_numpy() + offset[g]
        task_ax.bar(x, per["r"], width, color=colors[g], edgecolor="white", linewidth=0.4)
        task_ax.bar(x, per["u"], width, bottom=per["r"], color="white", edgecolor=colors[g],
                    hatch="////", linewidth=0.8)
    task_ax.set_ylabel("failed task attempts [count]")
    task_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    task_ax.grid(axis="y")
    task_ax.set_axisbelow(True)
    task_ax.legend(handles=[Patch(facecolor="#777777", label="recovered by a retry"),
                            Patch(facecolor="white", edgecolor="#777777", hatch="////",
                                  label="not recovered")],
                   loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    task_ax.set_xticks(np.arange(len(order)), order)
    task_ax.set_xlim(-0.6, len(order) - 0.4)
    if len(order) > 12:
        task_ax.tick_params(axis="x", labelrotation=45)
    task_ax.set_xlabel(f"{period_word(order)} (UTC)" if first else "")
    total_failed = int(rec.sum() + unrec.sum())
    footnote(task_ax, f"failure rate = FAILED / (SUCCEEDED + FAILED) runs; numbers on the "
                      f"points are runs; {total_failed} failed task attempts in all")
    return fig


def _exit_label(code: int | None, meaning: str | None) -> str:
    if code is None:
        return "no status"
    head = "none" if code == _NO_EXIT else str(code)
    short = (meaning or "").split(":")[0].replace("the task ", "").strip()
    if code == _NO_EXIT:
        short = "task lost"
    return f"{head}\n{wrap(short, 13, 2)}" if short else head


@styled
def plot_exit_status_heatmap(report: pd.DataFrame, value: str = "failed_attempts", *,
                             top: int = 30, ax: Axes | None = None,
                             title: str | None = None) -> Figure:
    """Heatmap of failed task attempts: processes (rows) x exit statuses (columns).

    Parameters
    ----------
    report : pandas.DataFrame
        The output of :func:`seqera_analytics.reports.task_failures` with the default
        ``by=("process", "exit_status")`` and ``period=None``. Columns used: ``process``
        (string), ``exit_status`` (Int64), ``exit_meaning`` (string, optional) and
        ``value``.
    value : str, default "failed_attempts"
        Cell value: ``failed_attempts``, ``unrecovered`` [count], ``cost`` [USD] or
        ``cpu_hours`` [h].
    top : int, default 30
        Processes shown by name (most failures first); the rest is one "other (n)" row.
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure whose height grows with the number of rows.
    title : str, optional
        Default "Failed task attempts by process and exit status".

    Returns
    -------
    matplotlib.figure.Figure
        Cells coloured on the colour-blind-safe ``cividis`` scale and annotated with their
        value; column labels give the exit code and what it usually means ("none" is
        Nextflow's 2147483647: the task was lost with its node or spot instance). Empty
        input gives a figure saying "no data" (no failed attempt: good news).

    Raises
    ------
    ReportError
        The frame lacks ``process``, ``exit_status`` or ``value``, or holds several periods.
    """
    heading = title or "Failed task attempts by process and exit status"
    n_rows = 0 if is_empty(report) else min(top + 1, report["process"].nunique()
                                                if "process" in report else 0)
    n_cols = 0 if is_empty(report) or "exit_status" not in report else report["exit_status"].nunique(dropna=False)
    width = min(12.0, max(6.5, 4.8 + 1.1 * n_cols))  # cells stay about square-ish
    fig, ax = new_axes(ax, width, category_height(n_rows, base=2.4, lo=3.2))
    if is_empty(report):
        return no_data(ax, heading, "no failed task attempts in the selected window")
    require_columns(report, ["process", "exit_status", value],
                    "the output of reports.task_failures(by=('process', 'exit_status'))")
    if "period_label" in report.columns and report["period_label"].nunique(dropna=False) > 1:
        raise ReportError("the report has several periods; pass task_failures(..., period=None)")
    codes = report["exit_status"].astype("Int64")
    meaning = (report["exit_meaning"] if "exit_meaning" in report
               else exit_status_meaning(codes)).astype("string")
    frame = pd.DataFrame({
        "process": report["process"].astype("string").fillna("(none)").astype(object),
        "code": codes.astype("float64").fillna(-1).astype(np.int64).to_numpy(),
        "meaning": meaning.astype(object).where(meaning.notna(), None),
        "v": np.nan_to_num(numeric(report[value])),
    })
    totals = frame.groupby("process", sort=False)["v"].sum()
    keep, rest = top_labels(totals, top)
    other = f"other ({len(rest)})"
    if rest:
        frame.loc[frame["process"].isin(rest), "process"] = other
    rows = [*keep, *([other] if rest else [])]
    cols = sorted(frame["code"].unique().tolist())
    grid = (frame.pivot_table(index="process", columns="code", values="v", aggfunc="sum",
                              fill_value=0.0).reindex(index=rows, columns=cols, fill_value=0.0))
    data = np.ma.masked_equal(grid.to_numpy(dtype=float), 0.0)
    vmax = float(data.max()) if data.count() else 1.0
    mesh = ax.pcolormesh(np.arange(len(cols) + 1) - 0.5, np.arange(len(rows) + 1) - 0.5, data,
                         cmap="cividis", vmin=0, vmax=vmax, edgecolors="white", linewidth=1.0)
    money = value.endswith("cost")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = grid.iat[i, j]
            if v:
                text = f"${v:,.2f}" if money else (f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}")
                ax.text(j, i, text, ha="center", va="center", fontsize=7.5,
                        color="black" if v > 0.55 * vmax else "white")
    meanings = frame.drop_duplicates("code").set_index("code")["meaning"].to_dict()
    ax.set_xticks(np.arange(len(cols)),
                  [_exit_label(None if c == -1 else int(c), meanings.get(c)) for c in cols])
    row_names = short_process_names([r for r in rows if r != other]) + ([other] if rest else [])
    ax.set_yticks(np.arange(len(rows)), row_names)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("exit status (code and usual meaning)")
    ax.set_ylabel("process")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    unit = "USD" if money else ("h" if value.endswith("hours") else "count")
    fig.colorbar(mesh, ax=ax, label=f"{value.replace('_', ' ')} [{unit}]", shrink=0.8,
                 pad=0.02)
    ax.set_title(heading)
    return fig
