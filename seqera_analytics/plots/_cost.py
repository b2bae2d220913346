"""Cost charts: cost per period stacked by group, and the Pareto of cost by process."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .._exceptions import ReportError
from ._style import (
    OTHER_COLOR,
    axis_label,
    category_height,
    colors_for,
    footnote,
    group_columns,
    group_labels,
    is_empty,
    new_axes,
    no_data,
    numeric,
    period_word,
    require_columns,
    styled,
    top_labels,
    usd,
)

__all__ = ["plot_cost_by_period", "plot_cost_pareto"]

_USD_TICKS = FuncFormatter(lambda v, _pos: usd(v) if v else "0")


def _periods(df: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Per-row period label and the labels in time order ("all time" without periods)."""
    if "period_label" not in df.columns:
        return pd.Series(["all time"] * len(df), index=df.index, dtype=object), ["all time"]
    lab = df["period_label"].astype("string").fillna("(no date)").astype(object)
    if "period" in df.columns:
        order = (
            pd.DataFrame({"p": df["period"], "l": lab}).drop_duplicates("l")
            .sort_values("p", na_position="last", kind="stable")["l"].tolist()
        )
    else:
        order = sorted(lab.unique().tolist())
    return lab, order


@styled
def plot_cost_by_period(report: pd.DataFrame, value: str = "cost",
                        by: str | Sequence[str] | None = None, *, top: int = 8,
                        ax: Axes | None = None, title: str | None = None) -> Figure:
    """Cost per UTC period as stacked bars, one colour per group (top ``top`` + "other").

    Parameters
    ----------
    report : pandas.DataFrame
        The output of :func:`seqera_analytics.reports.cost_report` (any ``period`` and
        ``by``). Columns used: ``period`` (datetime64[ms, UTC], for the order),
        ``period_label`` (string), the group keys (e.g. ``pipeline``) and ``value``.
        Without ``period_label`` (``period=None``) one bar shows all time.
    value : str, default "cost"
        The column stacked: ``cost``, ``net_cost``, ``cached_cost``, ``failed_cost`` [USD]
        or ``cpu_hours`` [h], ``tasks`` [count]...
    by : str or sequence of str, optional
        Key columns to colour by (default: every group key of the report). Their values are
        joined with " / "; process names are shortened.
    top : int, default 8
        Groups shown by name (largest total first); the rest is summed into "other (n)".
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure.
    title : str, optional
        Default e.g. "Cost by month and pipeline".

    Returns
    -------
    matplotlib.figure.Figure
        Bars in UTC period order with the total above each bar; y axis in the unit of
        ``value`` (USD for costs). An empty report gives a figure saying "no data".

    Raises
    ------
    ReportError
        The frame lacks ``value`` or a key column in ``by``.

    Notes
    -----
    Rows with a missing ``value`` (no task in the group has a cost) draw as 0 and are counted
    in a note under the chart. With ``label`` among the keys a run counts in each of its
    labels, so the stacked total overstates the spend (the reports say the same).
    """
    keys = group_columns(report, by)
    first = report["period_label"].dropna().head(1).tolist() if "period_label" in report else []
    what = axis_label(value).rsplit(" [", 1)[0]
    parts = ([period_word(first)] if first else []) + ([" / ".join(keys)] if keys else [])
    heading = title or f"{what.capitalize()} by {' and '.join(parts) or 'group'}"
    fig, ax = new_axes(ax, 9.0, 4.8)
    if is_empty(report):
        return no_data(ax, heading, "no task cost in the selected window")
    require_columns(report, [value], "the output of reports.cost_report")
    periods, order = _periods(report)
    labels = group_labels(report, keys)
    vals = numeric(report[value])
    missing = int(np.isnan(vals).sum())
    frame = pd.DataFrame({"period": periods.to_numpy(), "group": labels.to_numpy(),
                          "v": np.nan_to_num(vals)})
    totals = frame.groupby("group", sort=False)["v"].sum()
    keep, rest = top_labels(totals, top)
    other = f"other ({len(rest)})"
    if rest:
        frame.loc[frame["group"].isin(rest), "group"] = other
        keep = [*keep, other]
    table = frame.pivot_table(index="period", columns="group", values="v", aggfunc="sum",
                              fill_value=0.0).reindex(index=order, columns=keep, fill_value=0.0)
    colors = colors_for(keep, other)
    x = np.arange(len(order))
    bottom = np.zeros(len(order))
    width = 0.8 if len(order) > 1 else 0.5
    for g in keep:
        h = table[g].to_numpy(dtype=float)
        ax.bar(x, h, width, bottom=bottom, label=g, color=colors[g], edgecolor="white",
               linewidth=0.5)
        bottom += h
    is_money = value.endswith("cost")
    for xi, tot in zip(x, bottom):
        if tot > 0:
            ax.annotate(usd(tot) if is_money else f"{tot:,.1f}", (xi, tot), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, order)
    if len(order) > 12:
        step = int(np.ceil(len(order) / 12))
        for i, lab in enumerate(ax.get_xticklabels()):
            lab.set_visible(i % step == 0)
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_ylabel(axis_label(value))
    if is_money:
        ax.yaxis.set_major_formatter(_USD_TICKS)
    ax.set_xlabel(f"{period_word(order)} (UTC)" if "period_label" in report else "")
    ax.margins(y=0.12)
    ax.grid(axis="y")
    ax.set_axisbelow(True)
    ax.set_title(heading)
    if keys:
        ax.legend(title=" / ".join(keys), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, reverse=True)
    if missing:
        footnote(ax, f"{missing} row(s) without any priced task drawn as 0")
    return fig


@styled
def plot_cost_pareto(report: pd.DataFrame, value: str = "cost",
                     by: str | Sequence[str] | None = None, *, top: int = 25,
                     ax: Axes | None = None, title: str | None = None) -> Figure:
    """Pareto chart: groups (usually processes) by cost, largest first, with the cumulative share.

    Parameters
    ----------
    report : pandas.DataFrame
        The output of :func:`seqera_analytics.reports.cost_report` with ``period=None``
        (one row per group), e.g. ``cost_report(tasks, runs, period=None, by="process")``.
        Columns used: the group keys and ``value``.
    value : str, default "cost"
        Column ranked: ``cost``, ``net_cost``, ``failed_cost`` [USD], ``cpu_hours`` [h]...
    by : str or sequence of str, optional
        Key columns that name a bar (default: every group key of the report).
    top : int, default 25
        Bars shown by name; the remainder becomes one "other (n)" bar at the bottom.
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure whose height grows with the number of bars.
    title : str, optional
        Default e.g. "Cost by process (Pareto)".

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars (bottom axis in the unit of ``value``) and the cumulative share of
        the total (top axis, 0-100 %), with the 80 % line.

    Raises
    ------
    ReportError
        The frame lacks ``value`` or a key column, or holds several periods (pass
        ``period=None`` to the report: summing periods is the report's job).
    """
    keys = group_columns(report, by)
    what = axis_label(value).rsplit(" [", 1)[0]
    heading = title or f"{what.capitalize()} by {' / '.join(keys) or 'group'} (Pareto)"
    n_bars = 0 if is_empty(report) else min(len(report), top + 1)
    fig, ax = new_axes(ax, 9.0, category_height(n_bars, base=1.9))
    if is_empty(report):
        return no_data(ax, heading, "no task cost in the selected window")
    require_columns(report, [value], "the output of reports.cost_report(..., period=None)")
    if "period_label" in report.columns and report["period_label"].nunique(dropna=False) > 1:
        raise ReportError("the report has several periods; pass cost_report(..., period=None) "
                          "for a Pareto over the whole window")
    labels = group_labels(report, keys)
    vals = np.nan_to_num(numeric(report[value]))
    s = pd.Series(vals, index=labels.to_numpy()).groupby(level=0, sort=False).sum()
    s = s.sort_values(ascending=False, kind="stable")
    total = float(s.sum())
    if total <= 0:
        return no_data(ax, heading, f"every {what} is 0 or missing")
    shown = s.iloc[:top]
    rest = s.iloc[top:]
    names = list(shown.index)
    heights = list(shown.to_numpy())
    if len(rest):
        names.append(f"other ({len(rest)})")
        heights.append(float(rest.sum()))
    y = np.arange(len(names))
    colors = ["#0072B2"] * len(shown) + ([OTHER_COLOR] if len(rest) else [])
    ax.barh(y, heights, color=colors, height=0.7)
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # largest at the top
    ax.set_ylim(len(names) - 0.5, -0.5)
    is_money = value.endswith("cost")
    ax.set_xlabel(axis_label(value))
    if is_money:
        ax.xaxis.set_major_formatter(_USD_TICKS)
    ax.grid(axis="x")
    ax.set_axisbelow(True)
    # Cumulative share over the ranked groups ("other" last, so the line ends at 100 %).
    cum = np.cumsum(heights) / total
    top_ax = ax.twiny()
    top_ax.plot(cum * 100.0, y, color="#D55E00", marker="o", markersize=3, linewidth=1.2)
    top_ax.set_xlim(0, 105)
    top_ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    top_ax.set_xlabel("cumulative share of the total [%]", color="#D55E00")
    top_ax.tick_params(axis="x", colors="#D55E00")
    top_ax.axvline(80, color="#D55E00", linestyle=":", linewidth=0.8)
    top_ax.spines["top"].set_visible(True)
    top_ax.spines["right"].set_visible(False)
    n80 = int(np.searchsorted(np.cumsum(s.to_numpy()) / total, 0.8 - 1e-9) + 1)
    ax.set_title(f"{heading}\n{n80} of {len(s)} account for 80 % of {usd(total) if is_money else f'{total:,.1f}'}",
                 fontsize=10)
    return fig
