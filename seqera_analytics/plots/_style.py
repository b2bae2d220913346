"""Shared look and helpers of the charts: palette, figure sizing, short names, "no data".

Why these choices
-----------------
* Palette: Okabe & Ito's eight colours, distinguishable with the common colour-vision
  deficiencies; the remainder of a "top N + other" series is a neutral grey, and failures
  are always the vermillion of the palette.
* Figures are :class:`matplotlib.figure.Figure` objects made without pyplot: no global state,
  nothing left open when a widget redraws a hundred times, no duplicate display in notebooks
  (a returned Figure is shown once by IPython's formatter), and any backend can save them.
* Category axes get 0.28 in per category, so 30+ processes never overlap; long process names
  are shortened to their distinctive tail.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from .._exceptions import ReportError
from ..reports import RUN_KEYS, TASK_KEYS, column_unit

__all__ = [
    "FAILED_COLOR",
    "OKABE_ITO",
    "OTHER_COLOR",
    "save_figure",
    "short_process_names",
]

#: Okabe-Ito colours, ordered so the first few are the most distinct on white.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
#: Colour of the "other" remainder of a top-N series.
OTHER_COLOR = "#B0B0B0"
#: Colour of failures (Okabe-Ito vermillion).
FAILED_COLOR = "#D55E00"
#: Colour of successes when a chart contrasts them with failures (Okabe-Ito blue).
OK_COLOR = "#0072B2"

# Keys a report can be grouped by, in the order the reports document them.
GROUP_KEYS: tuple[str, ...] = (*RUN_KEYS, *TASK_KEYS)

_RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO)),
    "savefig.bbox": "tight",
    "savefig.dpi": 110,
    "figure.dpi": 100,
    "svg.fonttype": "none",  # keep text as text in SVG (searchable, editable)
    "pdf.fonttype": 42,  # embed TrueType in PDF, as journals ask
    # Labels are names and money: a process or pipeline named "a $x \\q$", or two "$1" in
    # one label, would otherwise be read as mathtext and fail to draw. No chart uses math.
    "text.parse_math": False,
}

F = TypeVar("F", bound=Callable[..., Figure])


def styled(func: F) -> F:
    """Run a ``plot_*`` function under the package's rc settings (fonts, palette, spines)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(_RC):
            fig = func(*args, **kwargs)
        # Tick labels after the first copy their look from it but not text.parse_math, so
        # the rc alone leaves most category labels (names) open to mathtext: switch it off
        # on every text the chart holds.
        for text in fig.findobj(Text):
            text.set_parse_math(False)
        return fig

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- figures
class ChartFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that shows itself as a PNG in Jupyter.

    The charts are made without pyplot (see the module notes), and IPython only knows how
    to show a bare Figure once pyplot's inline backend is active; ``_repr_png_`` makes a
    returned chart display in any notebook, without ``%matplotlib inline``.
    """

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        with mpl.rc_context(_RC):
            self.savefig(buf, format="png")
        return buf.getvalue()


def category_height(n: int, *, per: float = 0.28, base: float = 1.6, lo: float = 3.0,
                    hi: float = 18.0) -> float:
    """Figure height [in] for ``n`` categories on the y axis (0.28 in each keeps 8-pt labels apart)."""
    return float(min(hi, max(lo, base + per * n)))


def new_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    """The given Axes and its Figure, or a new constrained-layout Figure with one Axes."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = ChartFigure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def new_panels(ax: Any, n: int, width: float, height: float, *, sharex: bool = True,
               height_ratios: Sequence[float] | None = None) -> tuple[Figure, list[Axes]]:
    """``n`` stacked panels: the given sequence of Axes, or a new Figure."""
    if ax is not None:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != n:
            raise ReportError(f"this chart draws {n} panels: pass ax as a sequence of {n} Axes")
        return axes[0].figure, axes
    fig = ChartFigure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(n, 1, sharex=sharex, height_ratios=height_ratios)
    return fig, list(np.atleast_1d(axes))


def no_data(ax: Axes, title: str, detail: str = "") -> Figure:
    """Write "no data" (and why) in the middle of ``ax``; keep the title; hide the ticks."""
    ax.set_title(title)
    msg = "no data" + (f"\n{detail}" if detail else "")
    ax.text(0.5, 0.5, msg, ha="center", va="center", transform=ax.transAxes, fontsize=11,
            color="#555555", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    return ax.figure  # type: ignore[return-value]


def is_empty(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def save_figure(fig: Figure, path: str | Path, *, dpi: int | None = None) -> Path:
    """Save a chart as PNG, SVG or PDF (by the file suffix), creating parent folders.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure returned by a ``plot_*`` function.
    path : str or Path
        Target file; the suffix picks the format (``.png``, ``.svg``, ``.pdf``, or any
        other format matplotlib knows).
    dpi : int, optional
        Resolution of raster output [dots per inch]; default 110.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        The suffix is not a format matplotlib can write.
    """
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(_RC):
        fig.savefig(p, dpi=dpi or _RC["savefig.dpi"])
    return p


# --------------------------------------------------------------------------- data checks
def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`ReportError` naming the missing columns and the expected input."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(f"the frame lacks column(s) {', '.join(missing)}; pass {what}")


def group_columns(df: pd.DataFrame, by: str | Sequence[str] | None = None,
                  exclude: Sequence[str] = ()) -> list[str]:
    """The group-key columns of a report frame (or ``by``, checked to exist)."""
    if by is not None:
        keys = [by] if isinstance(by, str) else list(by)
        require_columns(df, keys, "a report grouped by these keys")
        return keys
    return [c for c in df.columns if c in GROUP_KEYS and c not in exclude]


def group_labels(df: pd.DataFrame, keys: Sequence[str], *, short: bool = True) -> pd.Series:
    """One text label per row: the key values joined by " / " ("(none)" for missing)."""
    if not keys:
        return pd.Series(["all"] * len(df), index=df.index, dtype=object)
    parts = []
    for k in keys:
        vals = df[k].astype("string").fillna("(none)").astype(object)
        if k == "process" and short:
            vals = pd.Series(short_process_names(vals.tolist()), index=df.index, dtype=object)
        parts.append(vals)
    out = parts[0]
    for p in parts[1:]:
        out = out + " / " + p
    return out


def numeric(s: pd.Series) -> np.ndarray:
    """A nullable numeric column as float64 with NaN for missing values."""
    return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def utc_naive(s: pd.Series) -> np.ndarray:
    """Timestamps as naive UTC ``datetime64[ms]`` for matplotlib (its date axis is UTC)."""
    t = pd.to_datetime(s, utc=True)
    return t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ms]")


def date_axis(ax: Axes) -> None:
    """Concise UTC date ticks on the x axis."""
    loc = mdates.AutoDateLocator(minticks=3, maxticks=8, tz="UTC")
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz="UTC"))


# --------------------------------------------------------------------------- names and units
def shorten(text: str, max_len: int) -> str:
    """Cut ``text`` in the middle with an ellipsis to at most ``max_len`` characters."""
    if len(text) <= max_len:
        return text
    keep = max_len - 1
    head = keep // 3
    return text[:head] + "…" + text[len(text) - (keep - head):]


def short_process_names(names: Sequence[Any], max_len: int = 40) -> list[str]:
    """Shorten fully qualified Nextflow process names to their distinctive tail.

    ``NFCORE_SAREK:SAREK:BAM_MARKDUPLICATES:GATK4_MARKDUPLICATES`` becomes
    ``GATK4_MARKDUPLICATES``; when two names share that tail, enough of the enclosing
    workflow names are kept to tell them apart (``CRAM_QC_RECAL:SAMTOOLS_STATS`` vs
    ``CRAM_QC_MOSDEPTH_SAMTOOLS:SAMTOOLS_STATS``). Names longer than ``max_len`` are cut in
    the middle with "…".

    Parameters
    ----------
    names : sequence of str
        Process names (``None``/``NA`` become "(none)").
    max_len : int, default 40
        Longest label returned [characters].

    Returns
    -------
    list of str
        One label per input name, in order; equal inputs give equal labels.
    """
    full = ["(none)" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
            else str(v) for v in names]
    uniq = list(dict.fromkeys(full))
    parts = {n: n.split(":") for n in uniq}
    depth = {n: 1 for n in uniq}
    for _ in range(max((len(p) for p in parts.values()), default=1)):
        label = {n: ":".join(parts[n][-depth[n]:]) for n in uniq}
        seen: dict[str, list[str]] = {}
        for n, lab in label.items():
            seen.setdefault(lab, []).append(n)
        clash = [n for group in seen.values() if len(group) > 1 for n in group]
        if not clash:
            break
        for n in clash:
            depth[n] = min(depth[n] + 1, len(parts[n]))
    label = {n: shorten(":".join(parts[n][-depth[n]:]), max_len) for n in uniq}
    return [label[n] for n in full]


def wrap(text: str, width: int = 14, max_lines: int = 3) -> str:
    """Wrap a label onto at most ``max_lines`` lines of ``width`` characters."""
    lines = textwrap.wrap(text, width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = shorten(lines[-1] + "…", width)
    return "\n".join(lines)


_UNIT_LABELS = {
    "USD": "USD",
    "h": "h",
    "min": "min",
    "GiB": "GiB",
    "count": "count",
    "fraction": "%",
}


def unit_of(column: str) -> str:
    """The unit of a report column, as the report specs document it (``count`` if none)."""
    return column_unit(column) or "count"


def axis_label(column: str, text: str | None = None) -> str:
    """``"net cost [USD]"`` from ``"net_cost"`` (or a given text), with the column's unit."""
    base = text or column.replace("_", " ")
    unit = unit_of(column)
    return f"{base} [{_UNIT_LABELS.get(unit, unit)}]"


def usd(value: float) -> str:
    """Money as ``$1,234`` / ``$12.3`` / ``$0.42`` (precision by size)."""
    if not np.isfinite(value):
        return ""
    a = abs(value)
    if a >= 1000:
        return f"${value:,.0f}"
    if a >= 10:
        return f"${value:,.1f}"
    return f"${value:,.2f}"


def period_word(labels: Sequence[str]) -> str:
    """"month", "week", "day", "quarter" or "year", read from ``period_label`` values."""
    for lab in labels:
        s = str(lab)
        if "-W" in s:
            return "week"
        if "-Q" in s:
            return "quarter"
        if len(s) == 10:
            return "day"
        if len(s) == 7:
            return "month"
        if len(s) == 4:
            return "year"
    return "period"


def colors_for(labels: Sequence[str], other: str | None = None) -> dict[str, str]:
    """A colour per label, in order (Okabe-Ito, cycling), grey for the ``other`` label."""
    out: dict[str, str] = {}
    i = 0
    for lab in labels:
        if other is not None and lab == other:
            out[lab] = OTHER_COLOR
            continue
        out[lab] = OKABE_ITO[i % len(OKABE_ITO)]
        i += 1
    return out


def top_labels(totals: pd.Series, top: int) -> tuple[list[str], list[str]]:
    """Split labels into the ``top`` largest by total (descending) and the rest."""
    order = totals.sort_values(ascending=False, kind="stable")
    keep = [str(x) for x in order.index[:top]]
    rest = [str(x) for x in order.index[top:]]
    if len(rest) == 1:  # "other (1)" helps nobody: show it by name
        keep, rest = keep + rest, []
    return keep, rest


def footnote(ax: Axes, text: str) -> None:
    """A small grey note under the x-axis label of ``ax`` (data caveats).

    Anchored to the axis label, so constrained layout makes room for it and it never
    overlaps the tick labels.
    """
    if text:
        ax.annotate(text, xy=(0, 0), xycoords=("axes fraction", ax.xaxis.label),
                    xytext=(0, -3), textcoords="offset points", ha="left", va="top",
                    fontsize=7, color="#555555")
