"""Efficiency chart: requested vs peak memory per process."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ._style import (
    footnote,
    group_columns,
    group_labels,
    is_empty,
    new_axes,
    no_data,
    numeric,
    require_columns,
    styled,
    usd,
)

__all__ = ["plot_memory_efficiency"]


def _gib_ticks(v: float, _pos: int) -> str:
    if v >= 1:
        return f"{v:g}"
    return f"{v:.2g}"


def _spread_labels(ys: np.ndarray, min_gap: float) -> np.ndarray:
    """Nudge label positions (in log10 units) apart by at least ``min_gap``, keeping order."""
    order = np.argsort(ys)
    out = ys.astype(float).copy()
    placed = out[order]
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + min_gap)
    out[order] = placed
    return out


@styled
def plot_memory_efficiency(report: pd.DataFrame, by: str | Sequence[str] | None = None, *,
                           label_top: int = 8, ax: Axes | None = None,
                           title: str | None = None) -> Figure:
    """Scatter of requested vs peak memory, one point per process (or other group).

    Parameters
    ----------
    report : pandas.DataFrame
        The output of :func:`seqera_analytics.reports.efficiency_report` (or
        :func:`~seqera_analytics.reports.right_size`). Columns used: the group keys,
        ``memory_requested_gib`` (largest request) [GiB], ``memory_used_max_gib`` (largest
        ``peak_rss`` of a successful task) [GiB], ``tasks`` or ``tasks_completed`` [count]
        (point size) and, when present, ``wasted_cost`` [USD] (colour and which points are
        named) and ``suggested_memory_bytes`` [bytes] (the right-sizing suggestion).
    by : str or sequence of str, optional
        Key columns naming a point (default: every group key of the report).
    label_top : int, default 8
        Points named on the chart: the largest ``wasted_cost`` (else the largest request).
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure.
    title : str, optional
        Default "Requested vs peak memory per process".

    Returns
    -------
    matplotlib.figure.Figure
        Log-log axes in GiB; the diagonal is "peak = request", dotted guides mark 50 % and
        10 % use. Points far below the diagonal request memory they never use. A small
        vermillion tick on each named point shows the suggested request. Empty input gives
        a figure saying "no data".

    Raises
    ------
    ReportError
        The frame lacks a column used.
    """
    keys = group_columns(report, by)
    heading = title or f"Requested vs peak memory per {' / '.join(keys) or 'group'}"
    fig, ax = new_axes(ax, 10.0, 6.4)
    if is_empty(report):
        return no_data(ax, heading, "no successful tasks with memory data")
    require_columns(report, ["memory_requested_gib", "memory_used_max_gib"],
                    "the output of reports.efficiency_report or reports.right_size")
    x = numeric(report["memory_requested_gib"])
    y = numeric(report["memory_used_max_gib"])
    n_col = "tasks" if "tasks" in report else ("tasks_completed" if "tasks_completed" in report else None)
    n = np.nan_to_num(numeric(report[n_col])) if n_col else np.ones(len(report))
    waste = numeric(report["wasted_cost"]) if "wasted_cost" in report else np.full(len(report), np.nan)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if not ok.any():
        return no_data(ax, heading, "no group has both a memory request and a measured peak")
    labels = group_labels(report, keys).to_numpy()
    x, y, n, waste, labels = x[ok], y[ok], n[ok], waste[ok], labels[ok]
    size = 18 + 140 * np.sqrt(n / max(n.max(), 1))
    has_waste = np.isfinite(waste).any()
    lo = min(x.min(), y.min()) / 2.0
    hi = max(x.max(), y.max()) * 2.0
    guide = np.array([lo, hi])
    ax.plot(guide, guide, color="#333333", linewidth=1.0, label="peak = request")
    ax.plot(guide, guide * 0.5, color="#777777", linewidth=0.8, linestyle=":")
    ax.plot(guide, guide * 0.1, color="#777777", linewidth=0.8, linestyle=":")
    for frac, text in ((1.0, "100 % used"), (0.5, "50 %"), (0.1, "10 %")):
        xt = lo * 4 / frac  # lower left, away from the points that matter
        ax.annotate(text, (xt, xt * frac), xytext=(3, -3), textcoords="offset points",
                    fontsize=7, color="#555555", ha="left", va="top", rotation=45,
                    rotation_mode="anchor")
    if has_waste:
        sc = ax.scatter(x, y, s=size, c=np.nan_to_num(waste), cmap="cividis_r", alpha=0.85,
                        edgecolors="#333333", linewidths=0.5, zorder=3)
        fig.colorbar(sc, ax=ax, label="cost of unused requests [USD]", shrink=0.8, pad=0.02,
                     format=FuncFormatter(lambda v, _p: usd(v)))
    else:
        ax.scatter(x, y, s=size, color="#0072B2", alpha=0.8, edgecolors="#333333",
                   linewidths=0.5, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(_gib_ticks))
    ax.set_xlabel("requested memory (largest request) [GiB]")
    ax.set_ylabel("peak memory used (largest peak RSS) [GiB]")
    ax.grid(which="major")
    ax.set_axisbelow(True)

    # Name the points that matter most in a column right of the plot, spread vertically in
    # the order of their points, with leader lines: labels never cover points or each other.
    rank = np.argsort(-(np.nan_to_num(waste, nan=-1.0) if has_waste else x), kind="stable")
    named = rank[:label_top]
    if len(named):
        span = np.log10(hi) - np.log10(lo)
        ly = _spread_labels(np.log10(y[named]), min_gap=span / 26)
        shift = max(0.0, ly.max() - (np.log10(hi) - span / 40))
        ly = ly - shift  # keep the column inside the axes' height
        for i, yl in zip(named, ly):
            tag = labels[i]
            if has_waste and np.isfinite(waste[i]):
                tag = f"{tag} ({usd(waste[i])})"
            ax.annotate(tag, (x[i], y[i]), xytext=(1.03, 10 ** yl),
                        textcoords=("axes fraction", "data"), fontsize=7, va="center",
                        ha="left", annotation_clip=False,
                        arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.5,
                                    "shrinkA": 0, "shrinkB": 3})
    if "suggested_memory_bytes" in report:
        # An arrow from the current request to the suggested one, for the named points.
        sug = numeric(report["suggested_memory_bytes"])[ok] / 1024**3
        drawn = False
        for i in named:
            if np.isfinite(sug[i]) and sug[i] > 0 and not np.isclose(sug[i], x[i]):
                ax.annotate("", xy=(sug[i], y[i]), xytext=(x[i], y[i]),
                            arrowprops={"arrowstyle": "->", "color": "#D55E00",
                                        "linewidth": 1.0, "shrinkA": 4, "shrinkB": 0},
                            zorder=4)
                drawn = True
        if drawn:
            ax.plot([], [], color="#D55E00", marker=">", markersize=4, linewidth=1.0,
                    label="to the suggested request")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", linestyle="none", color="#999999",
                          markersize=6, label=f"point size: {n_col or 'groups'}"))
    ax.legend(handles=handles, loc="upper left", frameon=True, framealpha=0.9)
    ax.set_title(heading)
    left_out = len(report) - len(x)
    if left_out:
        footnote(ax, f"{left_out} group(s) without a memory request or peak not shown")
    return fig
