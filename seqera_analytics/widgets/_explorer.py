"""The ipywidgets explorer: filters, a report, its chart and a sortable table, a run drill-down.

How it stays responsive on 100,000 runs
---------------------------------------
* Every view is a report query run on the reports' engine straight from the cache's
  committed files (:mod:`seqera_analytics.reports`): the filters (workspace, pipeline, user,
  run status, dates) are pushed down to the scan, and only the report's rows, one per
  period and group, or per process, reach Python. No task is loaded for a view.
* Report frames are kept per filter state, report and group-by (a small LRU), so switching
  back and forth or re-sorting never queries again.
* Charts are drawn from those report frames; the per-process box plots too (quartiles and
  whiskers come from :func:`~seqera_analytics.reports.process_runtimes`). Only a run's
  timeline reads tasks: that run's.
* On a large cache (more than ``full_history_runs`` runs) the date range starts on the last
  ``recent_months`` months instead of all history; widen it with the date pickers. The
  runs listed (filters, run picker) come from the runs table, newest first, capped at
  ``max_run_options``.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import plots, reports
from .._exceptions import SeqeraError
from ..store import Cache, load_runs, load_tasks

__all__ = ["Explorer"]

log = logging.getLogger("seqera_analytics.widgets")

ALL = "(all)"

#: Report name -> group-by choices as (label, key); the first is the default.
GROUPS: dict[str, list[tuple[str, str]]] = {
    "cost": [
        ("pipeline", "pipeline"), ("user", "user"), ("workspace", "workspace"),
        ("label", "label"), ("process (Pareto)", "process"), ("run status", "run_status"),
        ("compute environment", "compute_env"), ("machine type", "machine_type"),
        ("price model", "price_model"),
    ],
    "runtime": [
        ("pipeline", "pipeline"), ("user", "user"), ("workspace", "workspace"),
        ("label", "label"), ("run status", "run_status"), ("process (box plots)", "process"),
        ("each run", "run"),
    ],
    "failures": [
        ("pipeline", "pipeline"), ("user", "user"), ("workspace", "workspace"),
        ("label", "label"), ("run status", "run_status"),
        ("process x exit status", "process"),
    ],
    "efficiency": [
        ("process", "process"), ("pipeline", "pipeline"), ("user", "user"),
        ("workspace", "workspace"), ("machine type", "machine_type"),
    ],
}
REPORTS = tuple(GROUPS)

#: Runs columns the explorer lists (filter options, run picker, header).
RUN_COLUMNS = ("run_id", "workspace", "project_name", "user_name", "status", "run_name", "submit",
               "complete")

#: Efficiency has 36 columns; the table shows these (export writes them all).
_EFFICIENCY_SHOWN = (
    "tasks", "runs", "cost", "wasted_cost", "wasted_share", "cpu_usage_median",
    "memory_usage_median", "time_usage_median", "cpus_requested", "memory_requested_gib",
    "memory_used_max_gib", "time_requested_hours", "suggested_cpus", "suggested_memory",
    "suggested_time", "note",
)

_CSS = """
<style>
.sa-explorer .sa-table-box { max-height: 420px; overflow: auto; border: 1px solid #ddd; }
.sa-explorer table.sa-table { border-collapse: collapse; font-size: 12px; width: 100%; }
.sa-explorer table.sa-table th { position: sticky; top: 0; background: #f3f3f3; text-align: left;
  padding: 3px 6px; border-bottom: 1px solid #bbb; white-space: nowrap; }
.sa-explorer table.sa-table td { padding: 2px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
.sa-explorer table.sa-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sa-explorer table.sa-table tr:nth-child(even) td { background: #fafafa; }
.sa-explorer .sa-message { color: #8a4b00; font-weight: 600; }
</style>
"""


def _unit(column: str) -> str:
    """Header unit of a report column (fractions are shown as %)."""
    unit = reports.column_unit(column)
    return {"fraction": "%", "count": "", "UTC": ""}.get(unit, unit)


def _fmt(value: Any, column: str) -> tuple[str, bool]:
    """Cell text and whether it is a number (right-aligned)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "–", False
    if isinstance(value, pd.Timestamp):
        return (value.strftime("%Y-%m-%d %H:%M") if not pd.isna(value) else "–"), False
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), False
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}", True
    if isinstance(value, (float, np.floating)):
        if _unit(column) == "%":
            return f"{float(value) * 100:.1f}", True
        if abs(value) >= 1000:
            return f"{value:,.0f}", True
        return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}", True
    if isinstance(value, (list, tuple, np.ndarray)):
        return "; ".join(map(str, value)), False
    return str(value), False


def html_table(df: pd.DataFrame, *, columns: Sequence[str] | None = None, max_rows: int = 200,
               sort_by: str | None = None, ascending: bool = True) -> str:
    """Render a report frame as an HTML table (units in the headers, numbers right-aligned)."""
    cols = [c for c in (columns or df.columns) if c in df.columns]
    shown = df.head(max_rows)
    head = []
    for c in cols:
        unit = _unit(c)
        arrow = (" ▲" if ascending else " ▼") if c == sort_by else ""
        head.append(f"<th title='{html.escape(c)}'>{html.escape(c.replace('_', ' '))}"
                    f"{f' [{unit}]' if unit else ''}{arrow}</th>")
    body = []
    values = {c: shown[c].tolist() for c in cols}
    for i in range(len(shown)):
        cells = []
        for c in cols:
            text, num = _fmt(values[c][i], c)
            cells.append(f"<td class='num'>{html.escape(text)}</td>" if num
                         else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<div style='font-size:11px;color:#666'>showing {len(shown):,} of {len(df):,} rows "
            f"(sort or export for the rest)</div>" if len(df) > len(shown) else "")
    return (f"<div class='sa-table-box'><table class='sa-table'><thead><tr>{''.join(head)}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>{more}")


def _png(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _show_png(image: W.Image, fig: Figure) -> None:
    """Put a chart into an Image widget at its natural pixel width (never stretched)."""
    data = _png(fig)
    image.value = data
    # PNG header: width is the big-endian uint32 at bytes 16-19.
    image.width = str(int.from_bytes(data[16:20], "big")) if data[:8] == b"\x89PNG\r\n\x1a\n" else ""


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return str(value)


def _as_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    return pd.Timestamp(value).date()


class Explorer:
    """Interactive explorer of the runs and tasks in a cache (ipywidgets).

    Pick a workspace, a date range, a pipeline, a user and a run status; choose a report
    (cost, runtime, failures, efficiency) and what to group it by; the chart and the table
    follow. The table sorts by any column; the export button writes the current table to
    CSV or Parquet. The "Run" tab draws one run's task timeline and its per-process
    breakdown.

    Parameters
    ----------
    cache : Cache, str or Path, optional
        The cache to explore (default ``$SEQERA_ANALYTICS_CACHE`` or the user cache dir).
        Never touches the network.
    workspace, pipeline, user, status : str, optional
        Initial filters (``org/workspace``, ``project_name``, ``user_name``, run status).
    since, until : date-like, optional
        Initial date range, UTC, ``until`` exclusive: runs active in it, and report figures
        attributed to it (see the reports). Default: all history, or the last
        ``recent_months`` months on a cache of more than ``full_history_runs`` runs.
    report : {"cost", "runtime", "failures", "efficiency"}, default "cost"
    group_by : str, optional
        A key of :data:`GROUPS` for the report (default its first: ``pipeline``, or
        ``process`` for efficiency).
    max_rows : int, default 200
        Table rows rendered (the table data and exports hold every row).
    max_run_options : int, default 500
        Runs listed in the run picker (newest first); :meth:`open_run` takes any run id.
    recent_months, full_history_runs : int, default 3 and 5000
        The default date range on large caches (see ``since``).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole explorer (displaying the Explorer displays it).
    table_data : pandas.DataFrame
        The report behind the current table, in its current sort order (every row and
        column; the columns, dtypes and units are those of the report function).
    figure : matplotlib.figure.Figure
        The current chart.
    message : str or None
        What the message line says (empty cache, nothing matches, a bad choice), else None.
    run_table, run_figure
        The opened run's per-process breakdown and task timeline.
    queries : int
        How many report queries ran on the cache (views already computed for a filter state
        are reused; for tests and the curious).

    Raises
    ------
    CacheError
        The cache is of another schema version.

    Examples
    --------
    >>> ex = Explorer.from_demo()  # doctest: +SKIP
    >>> ex.set_filters(pipeline="nf-core/sarek")  # doctest: +SKIP
    >>> ex.set_report("failures", group_by="process")  # doctest: +SKIP
    >>> ex.table_data.head()  # doctest: +SKIP
    >>> ex  # in a notebook: shows the widget  # doctest: +SKIP
    """

    def __init__(self, cache: Cache | str | Path | None = None, *, workspace: str | None = None,
                 since: Any = None, until: Any = None, pipeline: str | None = None,
                 user: str | None = None, status: str | None = None, report: str = "cost",
                 group_by: str | None = None, max_rows: int = 200, max_run_options: int = 500,
                 recent_months: int = 3, full_history_runs: int = 5000) -> None:
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.max_rows = int(max_rows)
        self.max_run_options = int(max_run_options)
        self.queries = 0
        self.table_data: pd.DataFrame = pd.DataFrame()
        self.figure: Figure = plots.plot_cost_by_period(pd.DataFrame())
        self.message: str | None = None
        self.run_table: pd.DataFrame = pd.DataFrame()
        self.run_figure: Figure | None = None
        self._runs: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._views: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._hold = False
        self._build_widgets()
        self._load_index()
        if since is None and until is None and len(self._index) > full_history_runs:
            last = self._index["submit"].max()
            if not pd.isna(last):
                last = last.tz_convert("UTC")
                months = last.year * 12 + last.month - 1 - (recent_months - 1)
                since = dt.date(months // 12, months % 12 + 1, 1)
        with self._batch():
            self.w_report.value = report if report in GROUPS else "cost"
            self._set_group_options()
            if group_by is not None:
                self._check_group(group_by)
                self.w_group.value = group_by
            self._apply_filters(workspace=workspace, since=since, until=until, pipeline=pipeline,
                                user=user, status=status)
        self.update()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_demo(cls, **kwargs: Any) -> Explorer:
        """An explorer over the bundled real runs, no token needed.

        Starts the local API emulator, syncs its runs into a temporary cache
        (:func:`seqera_analytics.demo.build_demo_cache`) and opens it. Keyword arguments
        are those of :class:`Explorer`.
        """
        from ..demo import build_demo_cache

        return cls(build_demo_cache(), **kwargs)

    def _build_widgets(self) -> None:
        style = {"description_width": "70px"}
        wide = W.Layout(width="260px")
        self.w_workspace = W.Dropdown(description="workspace", options=[ALL], style=style, layout=wide)
        self.w_pipeline = W.Dropdown(description="pipeline", options=[ALL], style=style, layout=wide)
        self.w_user = W.Dropdown(description="user", options=[ALL], style=style, layout=wide)
        self.w_status = W.Dropdown(description="run status", options=[ALL], style=style, layout=wide)
        self.w_since = W.DatePicker(description="since", style=style, layout=wide)
        self.w_until = W.DatePicker(description="until (excl.)", style={"description_width": "80px"},
                                    layout=W.Layout(width="270px"))
        self.w_report = W.ToggleButtons(options=list(REPORTS), value="cost",
                                        tooltips=["cost [USD] by period and group",
                                                  "run wall/queue time, task realtime",
                                                  "run failure rate, failed task attempts",
                                                  "requested vs used memory, right-sizing"],
                                        style={"button_width": "86px"})
        self.w_group = W.Dropdown(description="group by", options=[("pipeline", "pipeline")],
                                  style=style, layout=wide)
        self.w_reload = W.Button(description="reload cache", icon="refresh",
                                 tooltip="read the cache again (after a sync)",
                                 layout=W.Layout(width="130px"))
        self.w_header = W.HTML()
        self.w_message = W.HTML()
        self.w_chart = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.w_sort = W.Dropdown(description="sort by", options=[("report order", "")], style=style,
                                 layout=W.Layout(width="300px"))
        self.w_desc = W.ToggleButton(value=True, description="descending", icon="sort-amount-desc",
                                     layout=W.Layout(width="120px"))
        self.w_table = W.HTML()
        self.w_export_path = W.Text(description="export to", style=style,
                                    layout=W.Layout(width="420px"))
        self.w_export_format = W.Dropdown(options=["csv", "parquet"], value="csv",
                                          layout=W.Layout(width="90px"))
        self.w_export = W.Button(description="export", icon="download", button_style="primary",
                                 tooltip="write the whole current table (every row and column)")
        self.w_export_status = W.HTML()
        self.w_run = W.Dropdown(description="run", options=[], style=style,
                                layout=W.Layout(width="620px"))
        self.w_open = W.Button(description="open run", icon="search", button_style="info")
        self.w_run_message = W.HTML()
        self.w_run_chart = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.w_run_table = W.HTML()
        # CSS classes let browser tests (and users' themes) find the parts.
        for w, cls in ((self.w_workspace, "sa-filter-workspace"), (self.w_pipeline, "sa-filter-pipeline"),
                       (self.w_user, "sa-filter-user"), (self.w_status, "sa-filter-status"),
                       (self.w_since, "sa-filter-since"), (self.w_until, "sa-filter-until"),
                       (self.w_report, "sa-report"), (self.w_group, "sa-group"),
                       (self.w_chart, "sa-chart"), (self.w_table, "sa-table-widget"),
                       (self.w_message, "sa-message-widget"), (self.w_export, "sa-export"),
                       (self.w_run, "sa-run-picker"), (self.w_open, "sa-open-run"),
                       (self.w_run_chart, "sa-run-chart"), (self.w_sort, "sa-sort"),
                       (self.w_desc, "sa-sort-desc")):
            w.add_class(cls)
        report_tab = W.VBox([
            self.w_chart,
            W.HBox([self.w_sort, self.w_desc]),
            self.w_table,
            W.HBox([self.w_export_path, self.w_export_format, self.w_export]),
            self.w_export_status,
        ])
        run_tab = W.VBox([W.HBox([self.w_run, self.w_open]), self.w_run_message, self.w_run_chart,
                          self.w_run_table])
        self.w_tabs = W.Tab(children=[report_tab, run_tab])
        self.w_tabs.set_title(0, "Report")
        self.w_tabs.set_title(1, "Run drill-down")
        self.widget = W.VBox([
            W.HTML(_CSS),
            self.w_header,
            W.HBox([self.w_workspace, self.w_pipeline, self.w_user, self.w_status]),
            W.HBox([self.w_since, self.w_until, self.w_reload]),
            W.HBox([self.w_report, self.w_group]),
            self.w_message,
            self.w_tabs,
        ])
        self.widget.add_class("sa-explorer")
        for w in (self.w_workspace, self.w_pipeline, self.w_user, self.w_status, self.w_since,
                  self.w_until, self.w_group):
            w.observe(self._on_filter, names="value")
        self.w_report.observe(self._on_report, names="value")
        self.w_sort.observe(self._on_sort, names="value")
        self.w_desc.observe(self._on_sort, names="value")
        self.w_export_format.observe(self._on_format, names="value")
        self.w_export.on_click(lambda _b: self._guard(self._export_clicked))
        self.w_open.on_click(lambda _b: self._guard(lambda: self.open_run(self.w_run.value)))
        self.w_reload.on_click(lambda _b: self._guard(self.reload))

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        f = self.filters
        return (f"Explorer({self.cache!r}, report={self.w_report.value!r}, "
                f"group_by={self.w_group.value!r}, filters={f})")

    # ------------------------------------------------------------------ index and options
    def _load_index(self) -> None:
        """Read the runs once: the filter options and the run picker come from here."""
        self._index = load_runs(cache=self.cache, columns=RUN_COLUMNS)
        self._runs.clear()
        self._views.clear()
        ws = sorted(self._index["workspace"].dropna().unique().tolist()) if len(self._index) else []
        with self._batch():
            keep = self.w_workspace.value
            self.w_workspace.options = [ALL, *ws]
            self.w_workspace.value = keep if keep in self.w_workspace.options else ALL
            self._refresh_options()
        n_ws = len(ws)
        self.w_header.value = (
            f"<b>Seqera runs explorer</b> &nbsp; cache <code>{html.escape(str(self.cache.path))}</code>"
            f" · {len(self._index):,} runs in {n_ws} workspace{'s' if n_ws != 1 else ''}")

    def _refresh_options(self) -> None:
        """Pipeline, user and status choices present in the selected workspace."""
        idx = self._index
        ws = self.w_workspace.value
        if ws != ALL and len(idx):
            idx = idx[(idx["workspace"] == ws).fillna(False).to_numpy(dtype=bool)]
        for w, col in ((self.w_pipeline, "project_name"), (self.w_user, "user_name"),
                       (self.w_status, "status")):
            vals = sorted(idx[col].dropna().unique().tolist()) if len(idx) else []
            keep = w.value
            w.options = [ALL, *vals]
            w.value = keep if keep in w.options else ALL

    def reload(self) -> None:
        """Read the cache again (after a sync) and redraw; cached data is dropped."""
        self._load_index()
        self.update()

    # ------------------------------------------------------------------ programmatic API
    @property
    def filters(self) -> dict[str, Any]:
        """Current filters: workspace, since, until (ISO dates), pipeline, user, status."""
        def val(w: W.Dropdown) -> Any:
            return None if w.value == ALL else w.value
        return {"workspace": val(self.w_workspace), "since": _iso(self.w_since.value),
                "until": _iso(self.w_until.value), "pipeline": val(self.w_pipeline),
                "user": val(self.w_user), "status": val(self.w_status)}

    @property
    def report(self) -> str:
        """The selected report: cost, runtime, failures or efficiency."""
        return str(self.w_report.value)

    @property
    def group_by(self) -> str:
        """The selected group-by key (see :data:`GROUPS`)."""
        return str(self.w_group.value)

    _UNSET: Any = object()

    def set_filters(self, *, workspace: Any = _UNSET, since: Any = _UNSET, until: Any = _UNSET,
                    pipeline: Any = _UNSET, user: Any = _UNSET, status: Any = _UNSET) -> Explorer:
        """Change filters (``None`` clears one; omitted ones stay) and update once.

        Parameters
        ----------
        workspace : str, optional
            ``org/workspace`` as cached.
        since, until : date-like, optional
            UTC dates, ``until`` exclusive (``"2025-09-01"``, ``datetime.date``...).
        pipeline, user, status : str, optional
            A ``project_name``, ``user_name`` and run status present in the cache. A value
            the cache does not hold selects nothing (the explorer says so).

        Returns
        -------
        Explorer
            ``self``, so calls chain.
        """
        with self._batch():
            self._apply_filters(workspace=workspace, since=since, until=until, pipeline=pipeline,
                                user=user, status=status)
        self.update()
        return self

    def _apply_filters(self, **values: Any) -> None:
        if values.get("workspace", self._UNSET) is not self._UNSET:
            self._choose(self.w_workspace, values["workspace"])
            self._refresh_options()
        for key, w in (("pipeline", self.w_pipeline), ("user", self.w_user),
                       ("status", self.w_status)):
            v = values.get(key, self._UNSET)
            if v is not self._UNSET:
                self._choose(w, v.upper() if key == "status" and isinstance(v, str) else v)
        for key, w in (("since", self.w_since), ("until", self.w_until)):
            v = values.get(key, self._UNSET)
            if v is not self._UNSET:
                w.value = _as_date(v)

    @staticmethod
    def _choose(w: W.Dropdown, value: Any) -> None:
        if value is None or value == ALL:
            w.value = ALL
            return
        if value not in w.options:
            # Not in the cache (or not in this workspace): keep it selectable, so the view
            # says "nothing matches" instead of silently showing everything.
            w.options = [*w.options, value]
        w.value = value

    def set_report(self, report: str, group_by: str | None = None) -> Explorer:
        """Switch the report (and optionally the group-by key) and update.

        Raises
        ------
        ValueError
            Unknown report or group-by key (the message lists the valid ones).
        """
        if report not in GROUPS:
            raise ValueError(f"report={report!r}: use one of {', '.join(REPORTS)}")
        with self._batch():
            self.w_report.value = report
            self._set_group_options()
            if group_by is not None:
                self._check_group(group_by)
                self.w_group.value = group_by
        self.update()
        return self

    def set_group_by(self, group_by: str) -> Explorer:
        """Change the group-by key of the current report and update.

        Raises
        ------
        ValueError
            The key is not offered for the current report.
        """
        self._check_group(group_by)
        self.w_group.value = group_by  # the observer updates
        return self

    def _check_group(self, group_by: str) -> None:
        valid = [k for _, k in GROUPS[self.w_report.value]]
        if group_by not in valid:
            raise ValueError(f"group_by={group_by!r} is not offered for the {self.w_report.value} "
                             f"report; use one of {', '.join(valid)}")

    def sort_table(self, column: str | None, ascending: bool = False) -> Explorer:
        """Sort the table (and :attr:`table_data`) by a column; ``None`` = the report's order.

        Raises
        ------
        ValueError
            The current table has no such column.
        """
        if column is not None and column not in self.table_data.columns:
            raise ValueError(f"no column {column!r} in the table; columns: "
                             f"{', '.join(map(str, self.table_data.columns))}")
        with self._batch():
            self.w_sort.value = column or ""
            self.w_desc.value = not ascending
        self._render_table()
        return self

    def export(self, path: str | Path | None = None, *, layout: str = "wide") -> Path:
        """Write the current table (every row and column) to CSV or Parquet.

        Parameters
        ----------
        path : str or Path, optional
            ``.csv`` or ``.parquet`` file (default: the path in the export box).
        layout : {"wide", "long"}, default "wide"
            "wide" as shown; "long" is the tidy metric/value/unit layout of
            :func:`seqera_analytics.reports.export`.

        Returns
        -------
        Path
            The file written (a CSV comes with a ``.schema.json`` sidecar with units).

        Raises
        ------
        ReportError
            Another suffix or a missing directory.
        """
        target = Path(path if path is not None else self.w_export_path.value).expanduser()
        written = reports.export(self.table_data, target, layout=layout)
        self.w_export_status.value = (f"wrote {len(self.table_data):,} rows to "
                                      f"<code>{html.escape(str(written))}</code>")
        return written

    # ------------------------------------------------------------------ events
    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Change several controls with one update at the end (the caller updates)."""
        prev, self._hold = self._hold, True
        try:
            yield
        finally:
            self._hold = prev

    def _guard(self, fn: Callable[[], Any]) -> None:
        """Run a UI action; show an error in the message line instead of raising."""
        try:
            fn()
        except (SeqeraError, ValueError, OSError) as exc:
            log.warning("explorer action failed: %s", exc)
            self._say(f"Could not do that: {exc}")

    def _on_filter(self, change: dict[str, Any]) -> None:
        if self._hold:
            return
        if change["owner"] is self.w_workspace:
            with self._batch():
                self._refresh_options()
        self._guard(self.update)

    def _on_report(self, _change: dict[str, Any]) -> None:
        if self._hold:
            return
        with self._batch():
            self._set_group_options()
        self._guard(self.update)

    def _on_sort(self, _change: dict[str, Any]) -> None:
        if not self._hold:
            self._guard(self._render_table)

    def _on_format(self, change: dict[str, Any]) -> None:
        p = self.w_export_path.value
        if p:
            self.w_export_path.value = str(Path(p).with_suffix("." + change["new"]))

    def _export_clicked(self) -> None:
        self.export()

    def _set_group_options(self) -> None:
        opts = GROUPS[self.w_report.value]
        keep = self.w_group.value
        self.w_group.options = opts
        self.w_group.value = keep if keep in [k for _, k in opts] else opts[0][1]

    # ------------------------------------------------------------------ data
    def _key(self) -> tuple[Any, ...]:
        f = self.filters
        return tuple(f[k] for k in ("workspace", "since", "until", "pipeline", "user", "status"))

    def _selected_runs(self) -> pd.DataFrame:
        """Runs active in the current filters (the run picker), read once per filter state."""
        key = self._key()
        if key in self._runs:
            self._runs.move_to_end(key)
            return self._runs[key]
        f = self.filters
        args: dict[str, Any] = {k: f[k] for k in ("workspace", "since", "until", "pipeline",
                                                  "user", "status")}
        runs = load_runs(**args, columns=RUN_COLUMNS, cache=self.cache)
        self._runs[key] = runs
        while len(self._runs) > 8:
            self._runs.popitem(last=False)
        return runs

    def _query(self, rep: str, g: str) -> pd.DataFrame:
        """The report frame of a report and group-by under the current filters, from the
        cache (filters pushed down), kept per filter state."""
        vkey = (self._key(), rep, g)
        cached = self._views.get(vkey)
        if cached is not None:
            self._views.move_to_end(vkey)
            return cached
        f = self.filters
        src: dict[str, Any] = {"cache": self.cache, "workspace": f["workspace"],
                               "pipeline": f["pipeline"], "user": f["user"],
                               "run_status": f["status"], "since": f["since"], "until": f["until"]}
        if rep == "cost":
            df = (reports.cost_report(period=None, by=("process",), **src) if g == "process"
                  else reports.cost_report(period="month", by=(g,), **src))
        elif rep == "runtime":
            if g == "process":
                df = reports.process_runtimes(by=("process",), **src)
            elif g == "run":
                df = reports.run_runtimes(**src)
            else:
                df = reports.runtime_report(period="month", by=(g,), **src)
        elif rep == "failures":
            df = (reports.task_failures(by=("process", "exit_status"), **src) if g == "process"
                  else reports.failure_report(period="month", by=(g,), **src))
        else:
            df = reports.efficiency_report(by=(g,), **src)
        self.queries += 1
        self._views[vkey] = df
        while len(self._views) > 24:
            self._views.popitem(last=False)
        return df

    def _figure(self, df: pd.DataFrame) -> Figure:
        """The chart of a report frame of the current report and group-by."""
        rep, g = self.w_report.value, self.w_group.value
        if rep == "cost":
            return plots.plot_cost_pareto(df) if g == "process" else plots.plot_cost_by_period(df)
        if rep == "runtime":
            return plots.plot_runtime_boxes(df) if g == "process" else plots.plot_run_trends(df)
        if rep == "failures":
            return (plots.plot_exit_status_heatmap(df) if g == "process"
                    else plots.plot_failure_rate(df))
        return plots.plot_memory_efficiency(df)

    # ------------------------------------------------------------------ rendering
    def _say(self, text: str | None) -> None:
        self.message = text
        self.w_message.value = (f"<div class='sa-message'>{html.escape(text)}</div>" if text else "")

    def update(self) -> None:
        """Recompute the view from the current controls (the controls call this themselves)."""
        if len(self._index) == 0:
            self._say(f"The cache at {self.cache.path} holds no runs yet. Sync a workspace "
                      "first (`seqera-analytics sync --workspace org/workspace`), or try "
                      "Explorer.from_demo().")
            self._show(pd.DataFrame(), self._empty_figure())
            self._set_runs(pd.DataFrame())
            return
        runs = self._selected_runs()
        if len(runs) == 0:
            described = ", ".join(f"{k}={v}" for k, v in self.filters.items() if v is not None)
            self._say(f"No runs match these filters ({described or 'none'}). Widen the date "
                      "range or clear a filter.")
            self._show(pd.DataFrame(), self._empty_figure())
            self._set_runs(runs)
            return
        df = self._query(self.w_report.value, self.w_group.value)
        if len(df) == 0:
            self._say(f"The {self.report} report is empty for these filters "
                      f"({len(runs):,} runs).")
        else:
            # what the report left out (data-quality findings, deleted runs), as the CLI says
            self._say(" ".join(df.attrs.get("notes", [])) or None)
        self._show(df, self._figure(df))
        self._set_runs(runs)
        self.w_header.value = self.w_header.value.split(" · showing")[0] + (
            f" · showing {len(runs):,} runs")

    def _empty_figure(self) -> Figure:
        rep, g = self.w_report.value, self.w_group.value
        draw = {
            "cost": plots.plot_cost_pareto if g == "process" else plots.plot_cost_by_period,
            "runtime": plots.plot_runtime_boxes if g == "process" else plots.plot_run_trends,
            "failures": plots.plot_exit_status_heatmap if g == "process" else plots.plot_failure_rate,
            "efficiency": plots.plot_memory_efficiency,
        }[rep]
        return draw(pd.DataFrame())

    def _show(self, df: pd.DataFrame, fig: Figure) -> None:
        self._report_frame = df
        self.figure = fig
        _show_png(self.w_chart, fig)
        cols = [("report order", "")] + [(c.replace("_", " "), c) for c in df.columns
                                         if c != "period" or "period_label" not in df.columns]
        with self._batch():
            keep = self.w_sort.value
            self.w_sort.options = cols
            self.w_sort.value = keep if keep in [v for _, v in cols] else ""
        self._render_table()
        stem = f"{self.report}-by-{self.group_by}"
        current = self.w_export_path.value
        if not current or Path(current).stem.count("-by-"):
            self.w_export_path.value = str(Path.cwd() / f"{stem}.{self.w_export_format.value}")

    def _render_table(self) -> None:
        df = getattr(self, "_report_frame", pd.DataFrame())
        col, asc = self.w_sort.value or None, not self.w_desc.value
        if col and col in df.columns and len(df):
            sorted_df = df.sort_values(col, ascending=asc, na_position="last", kind="stable")
            sorted_df = sorted_df.reset_index(drop=True)
            sorted_df.attrs = dict(df.attrs)  # the export reads the report name from attrs
        else:
            sorted_df = df
        self.table_data = sorted_df
        if len(df) == 0:
            self.w_table.value = "<i>no rows</i>"
            return
        shown: list[str] = [c for c in df.columns if c != "period" or "period_label" not in df]
        if self.report == "efficiency":
            keys = [c for c in df.columns if c in reports.RUN_KEYS or c in reports.TASK_KEYS]
            shown = [*keys, *(c for c in _EFFICIENCY_SHOWN if c in df.columns)]
        self.w_table.value = html_table(sorted_df, columns=shown, max_rows=self.max_rows,
                                        sort_by=col, ascending=asc)

    # ------------------------------------------------------------------ run drill-down
    def _set_runs(self, runs: pd.DataFrame) -> None:
        if len(runs) == 0:
            self.w_run.options = []
            return
        shown = runs.head(self.max_run_options)
        labels = []
        for rid, sub, pipe, name, status in zip(
                shown["run_id"], shown["submit"], shown["project_name"], shown["run_name"],
                shown["status"]):
            when = "" if pd.isna(sub) else sub.strftime("%Y-%m-%d %H:%M")
            labels.append((f"{when} · {pipe} · {name} · {status} · {rid}", rid))
        keep = self.w_run.value
        self.w_run.options = labels
        if keep in [v for _, v in labels]:
            self.w_run.value = keep
        extra = len(runs) - len(shown)
        self.w_run.tooltip = (f"newest {len(shown):,} of {len(runs):,} runs" if extra else None)

    def open_run(self, run_id: str | None) -> Explorer:
        """Show one run's task timeline and per-process breakdown in the "Run" tab.

        Parameters
        ----------
        run_id : str
            Any cached run id (not only those listed in the picker).

        Returns
        -------
        Explorer
            ``self``; the breakdown is in :attr:`run_table` (one row per process: cost
            [USD], task attempts, failed and cached attempts, CPU-hours [h], median and
            longest realtime [min]), the chart in :attr:`run_figure`.
        """
        if not run_id:
            self.w_run_message.value = "<i>pick a run first</i>"
            return self
        tasks = load_tasks(run_ids=[run_id], cache=self.cache)
        runs = load_runs(run_ids=[run_id], cache=self.cache)
        self.w_tabs.selected_index = 1
        if len(runs) == 0:
            self.w_run_message.value = (f"<div class='sa-message'>Run {html.escape(run_id)} is "
                                        "not in the cache.</div>")
            self.run_table, self.run_figure = pd.DataFrame(), None
            self.w_run_table.value = ""
            self.w_run_chart.value = b""
            return self
        r = runs.iloc[0]
        cost = reports.cost_report(tasks, runs, period=None, by=("process",))
        rt = reports.process_runtimes(tasks, runs, by=("process",))
        table = cost[["process", "cost", "tasks", "tasks_failed", "tasks_cached", "cpu_hours"]].merge(
            rt[["process", "realtime_minutes_median", "realtime_minutes_max"]], on="process",
            how="left")
        table = table.sort_values("cost", ascending=False, na_position="last",
                                  kind="stable").reset_index(drop=True)
        self.run_table = table
        self.run_figure = plots.plot_task_timeline(tasks, run_id=run_id,
                                                   title=f"Task timeline of {r['run_name']} ({run_id})")
        _show_png(self.w_run_chart, self.run_figure)
        self.w_run_table.value = html_table(table, max_rows=500)
        started = "" if pd.isna(r["start"]) else f", started {r['start']:%Y-%m-%d %H:%M} UTC"
        self.w_run_message.value = html.escape(
            f"{r['project_name']} · {r['run_name']} · {r['status']} · {r['user_name']}{started} · "
            f"{len(tasks):,} task attempts")
        if run_id in [v for _, v in self.w_run.options]:
            with self._batch():
                self.w_run.value = run_id
        return self
