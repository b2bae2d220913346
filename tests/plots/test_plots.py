"""Charts drawn from the reports of the bundled real runs: titles, units, series, no empty
panels, readable labels with many processes, "no data" on empty input, PNG/SVG/PDF output."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from seqera_analytics import ReportError, plots, reports

SAREK_RUN = "3dLeF2W4ju5og4"  # 279 attempts, 19 failed and retried
RESUMED_RUN = "15dvxY1LnZYrYe"  # example-lab/sarek, 4 CACHED tasks


# ----------------------------------------------------------------------------- helpers
def all_text(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def says_no_data(fig: Figure) -> bool:
    return any(t.startswith("no data") for t in all_text(fig))


def drawn(ax: Axes) -> int:
    """Data artists on an Axes (bars, lines, markers, meshes, images)."""
    return len(ax.patches) + len(ax.lines) + len(ax.collections) + len(ax.images)


def assert_no_empty_panels(fig: Figure) -> None:
    assert not says_no_data(fig)
    for ax in fig.axes:
        if ax.get_visible():
            assert drawn(ax) > 0, f"empty panel: {ax.get_title() or ax.get_ylabel()!r}"


def labels_overlap(fig: Figure, ax: Axes, axis: str = "y") -> list[tuple[str, str]]:
    """Pairs of visible tick labels of ``ax`` whose rendered boxes overlap."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ticks
             if t.get_visible() and t.get_text()]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]


def legend_labels(ax: Axes) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


@pytest.fixture(scope="module")
def many_processes(demo_tasks: pd.DataFrame, demo_runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo tasks spread over 80 long, nested process names (some sharing a tail)."""
    names = [f"NFCORE_BIGPIPE:BIGPIPE:SUBWORKFLOW_{i % 7}:VERY_LONG_TOOL_NAME_{i // 2}"
             for i in range(80)]
    t = demo_tasks.copy()
    t["process"] = pd.array([names[i % 80] for i in range(len(t))], dtype="string")
    return t, demo_runs


# ----------------------------------------------------------------------------- cost
def test_cost_by_period_stacks_pipelines_per_month(demo_tasks, demo_runs):
    report = reports.cost_report(demo_tasks, demo_runs, period="month", by="pipeline")
    fig = plots.plot_cost_by_period(report)
    ax = fig.axes[0]
    assert ax.get_title() == "Cost by month and pipeline"
    assert ax.get_ylabel() == "cost [USD]"
    assert ax.get_xlabel() == "month (UTC)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2025-03", "2025-09"]
    assert sorted(legend_labels(ax)) == sorted(report["pipeline"].unique())
    assert len(ax.containers) == 3  # one stacked series per pipeline
    heights = np.array([[bar.get_height() for bar in c] for c in ax.containers]).sum(axis=0)
    expected = report.groupby("period_label")["cost"].sum().astype(float).to_numpy()
    np.testing.assert_allclose(heights, expected)
    colors = {to_hex(bar.get_facecolor()) for c in ax.containers for bar in c}
    assert colors <= {c.lower() for c in (*plots.OKABE_ITO, plots.OTHER_COLOR)}
    assert_no_empty_panels(fig)


def test_cost_by_period_top_n_groups_the_rest_as_other(many_processes):
    tasks, runs = many_processes
    report = reports.cost_report(tasks, runs, period="month", by="process")
    fig = plots.plot_cost_by_period(report, top=5)
    labels = legend_labels(fig.axes[0])
    assert len(labels) == 6 and any(lab.startswith("other (75)") for lab in labels)
    assert all(len(lab) <= 40 for lab in labels)


def test_cost_pareto_ranks_processes_with_cumulative_share(demo_tasks, demo_runs):
    report = reports.cost_report(demo_tasks, demo_runs, period=None, by="process")
    fig = plots.plot_cost_pareto(report, top=25)
    ax, top_ax = fig.axes[0], fig.axes[1]
    assert ax.get_xlabel() == "cost [USD]"
    assert "[%]" in top_ax.get_xlabel()
    assert "Pareto" in ax.get_title() and "80 %" in ax.get_title()
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 26  # 25 processes + "other (40)"
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[-1] == "other (40)" and "BISMARK_ALIGN" in names[0]
    widths = [b.get_width() for b in bars[:-1]]
    assert widths == sorted(widths, reverse=True)
    np.testing.assert_allclose(sum(b.get_width() for b in bars), float(report["cost"].sum()))
    cum = top_ax.lines[0].get_xdata()
    assert cum[-1] == pytest.approx(100.0)
    assert labels_overlap(fig, ax) == []
    assert_no_empty_panels(fig)


def test_cost_pareto_refuses_several_periods(demo_tasks, demo_runs):
    report = reports.cost_report(demo_tasks, demo_runs, period="month", by="process")
    with pytest.raises(ReportError, match="period=None"):
        plots.plot_cost_pareto(report)


# ----------------------------------------------------------------------------- runtime
def test_runtime_boxes_one_box_per_process_with_requested_time(demo_tasks):
    fig = plots.plot_runtime_boxes(demo_tasks, top=30)
    ax = fig.axes[0]
    assert "top 30 of 65 processes" in ax.get_title()
    assert ax.get_xlabel().startswith("task realtime [h]")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 30 and all("(n=" in lab for lab in labels)
    requested = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(requested) == 1 and len(requested[0].get_offsets()) == 30
    assert "requested time (median)" in legend_labels(ax)
    assert labels_overlap(fig, ax) == []
    assert_no_empty_panels(fig)


def test_run_trends_per_run_two_panels_with_units(demo_tasks, demo_runs):
    per_run = reports.run_runtimes(demo_tasks, demo_runs)
    fig = plots.plot_run_trends(per_run)
    wall, queue = fig.axes[:2]
    assert wall.get_title() == "Run wall time and queue time"
    assert wall.get_ylabel() == "run wall time [h]"
    assert queue.get_ylabel() == "run queue time [min]"
    assert queue.get_xlabel() == "run submission (UTC)"
    assert len(wall.collections) == 3  # one series per pipeline
    assert sum(len(c.get_offsets()) for c in wall.collections) == 5  # one dot per run
    ys = np.concatenate([c.get_offsets()[:, 1] for c in wall.collections])
    np.testing.assert_allclose(sorted(ys), sorted(per_run["wall_hours"].astype(float)))
    assert_no_empty_panels(fig)


def test_run_trends_from_the_aggregated_report(demo_tasks, demo_runs):
    report = reports.runtime_report(demo_tasks, demo_runs, period="month", by="pipeline")
    fig = plots.plot_run_trends(report)
    wall, queue = fig.axes[:2]
    assert len(wall.lines) == 6 and len(queue.lines) == 6  # median + p90 per pipeline
    assert {"median", "90th percentile"} <= set(legend_labels(wall))
    assert queue.get_xlabel() == "period start (UTC)"
    assert_no_empty_panels(fig)


# ----------------------------------------------------------------------------- failures
def test_failure_rate_lines_and_failed_attempts(demo_tasks, demo_runs):
    report = reports.failure_report(demo_tasks, demo_runs, period="month", by="pipeline")
    fig = plots.plot_failure_rate(report)
    rate_ax, task_ax = fig.axes[:2]
    assert rate_ax.get_title() == "Run failure rate by month and pipeline"
    assert rate_ax.get_ylabel() == "failed runs [%]"
    assert task_ax.get_ylabel() == "failed task attempts [count]"
    assert task_ax.get_xlabel() == "month (UTC)"
    assert len(rate_ax.lines) == 3
    bars = [p for p in task_ax.patches if isinstance(p, Rectangle)]
    assert sum(b.get_height() for b in bars) == pytest.approx(20)  # 1 + 19 failed attempts
    assert_no_empty_panels(fig)


def test_exit_status_heatmap_counts_failed_attempts(demo_tasks, demo_runs):
    report = reports.task_failures(demo_tasks, demo_runs)
    fig = plots.plot_exit_status_heatmap(report)
    ax = fig.axes[0]
    assert ax.get_title() == "Failed task attempts by process and exit status"
    assert ax.get_xlabel() == "exit status (code and usual meaning)"
    assert len(ax.get_yticklabels()) == 5
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert cols[0].startswith("2\n") and cols[1].startswith("none\n")
    cells = [int(t.get_text()) for t in ax.texts]
    assert sum(cells) == 20 and max(cells) == 12
    assert fig.axes[1].get_ylabel() == "failed attempts [count]"  # the colour bar
    assert_no_empty_panels(fig)


# ----------------------------------------------------------------------------- efficiency
def test_memory_efficiency_scatter_in_gib(demo_tasks, demo_runs):
    report = reports.efficiency_report(demo_tasks, demo_runs, by="process")
    fig = plots.plot_memory_efficiency(report)
    ax = fig.axes[0]
    assert ax.get_title() == "Requested vs peak memory per process"
    assert ax.get_xlabel() == "requested memory (largest request) [GiB]"
    assert ax.get_ylabel() == "peak memory used (largest peak RSS) [GiB]"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    measured = (report["memory_requested_gib"].notna() & report["memory_used_max_gib"].notna()).sum()
    assert len(points[0].get_offsets()) == measured
    named = [t for t in ax.texts if "$" in t.get_text()]
    assert len(named) == 8
    assert fig.axes[1].get_ylabel() == "cost of unused requests [USD]"
    assert_no_empty_panels(fig)


# ----------------------------------------------------------------------------- timeline
def test_task_timeline_lanes_failures_and_retries(demo_tasks):
    fig = plots.plot_task_timeline(demo_tasks, run_id=SAREK_RUN)
    ax = fig.axes[0]
    run = demo_tasks[demo_tasks["run_id"] == SAREK_RUN]
    assert ax.get_xlabel() == "hours since the run's first task submission [h]"
    title = ax.get_title()
    assert SAREK_RUN in title and "279 attempts" in title and "19 failed" in title
    assert "UTC" in title
    assert len(ax.get_yticklabels()) == run["process"].nunique()  # 49 lanes
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 279
    scatter = [c for c in ax.collections if isinstance(c, PathCollection)]
    failed_x = sum(len(c.get_offsets()) for c in scatter
                   if to_hex(c.get_edgecolor()[0]) == plots.FAILED_COLOR.lower())
    retry_dots = sum(len(c.get_offsets()) for c in scatter
                     if to_hex(c.get_facecolor()[0]) == "#000000")
    assert (failed_x, retry_dots) == (19, 19)
    assert labels_overlap(fig, ax) == []
    assert fig.get_size_inches()[1] <= 16.0
    assert_no_empty_panels(fig)


def test_task_timeline_leaves_cached_tasks_out_and_says_so(demo_tasks):
    fig = plots.plot_task_timeline(demo_tasks[demo_tasks["run_id"] == RESUMED_RUN])
    ax = fig.axes[0]
    assert RESUMED_RUN in ax.get_title()
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 12  # 16 tasks, 4 of them CACHED
    assert any("4 CACHED" in t for t in all_text(fig))


def test_task_timeline_needs_a_run_id_for_several_runs(demo_tasks):
    with pytest.raises(ReportError, match="run_id"):
        plots.plot_task_timeline(demo_tasks)
    with pytest.raises(ReportError, match="not in the tasks frame"):
        plots.plot_task_timeline(demo_tasks, run_id="nope")


# ----------------------------------------------------------------------------- many processes
def test_thirty_plus_processes_never_overlap(many_processes):
    tasks, runs = many_processes
    figs = {
        "pareto": plots.plot_cost_pareto(reports.cost_report(tasks, runs, period=None,
                                                             by="process"), top=40),
        "boxes": plots.plot_runtime_boxes(tasks, top=40),
        "timeline": plots.plot_task_timeline(tasks, run_id=SAREK_RUN),
        "heatmap": plots.plot_exit_status_heatmap(reports.task_failures(tasks, runs), top=40),
    }
    for name, fig in figs.items():
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) >= 10, name
        assert all(len(lab.split(" (")[0]) <= 40 for lab in labels), name
        assert labels_overlap(fig, ax) == [], name
        assert fig.get_size_inches()[1] <= 18.0, name


def test_short_process_names():
    names = [
        "NFCORE_SAREK:SAREK:BAM_MARKDUPLICATES:GATK4_MARKDUPLICATES",
        "NFCORE_SAREK:SAREK:CRAM_QC_RECAL:SAMTOOLS_STATS",
        "NFCORE_SAREK:SAREK:CRAM_QC_MOSDEPTH_SAMTOOLS:SAMTOOLS_STATS",
        "FASTQC",
        None,
        "A:" + "X" * 60,
    ]
    short = plots.short_process_names(names)
    assert short[:5] == ["GATK4_MARKDUPLICATES", "CRAM_QC_RECAL:SAMTOOLS_STATS",
                         "CRAM_QC_MOSDEPTH_SAMTOOLS:SAMTOOLS_STATS", "FASTQC", "(none)"]
    assert len(short[5]) == 40 and "…" in short[5]
    assert plots.short_process_names(["P:A", "P:A"]) == ["A", "A"]


# ----------------------------------------------------------------------------- empty input
EMPTY_CASES = {
    "cost_by_period": lambda t, r: plots.plot_cost_by_period(
        reports.cost_report(t.iloc[:0], r.iloc[:0])),
    "cost_pareto": lambda t, r: plots.plot_cost_pareto(
        reports.cost_report(t.iloc[:0], r.iloc[:0], period=None, by="process")),
    "runtime_boxes": lambda t, r: plots.plot_runtime_boxes(t.iloc[:0]),
    "run_trends": lambda t, r: plots.plot_run_trends(reports.run_runtimes(t.iloc[:0], r.iloc[:0])),
    "failure_rate": lambda t, r: plots.plot_failure_rate(
        reports.failure_report(t.iloc[:0], r.iloc[:0])),
    "exit_heatmap": lambda t, r: plots.plot_exit_status_heatmap(
        reports.task_failures(t.iloc[:0], r.iloc[:0])),
    "memory_efficiency": lambda t, r: plots.plot_memory_efficiency(
        reports.efficiency_report(t.iloc[:0], r.iloc[:0])),
    "task_timeline": lambda t, r: plots.plot_task_timeline(t.iloc[:0]),
    "bare_frame": lambda t, r: plots.plot_cost_by_period(pd.DataFrame()),
}


@pytest.mark.parametrize("case", sorted(EMPTY_CASES))
def test_empty_input_draws_no_data(case, demo_tasks, demo_runs, tmp_path):
    fig = EMPTY_CASES[case](demo_tasks, demo_runs)
    assert isinstance(fig, Figure)
    assert says_no_data(fig)
    assert fig.axes[0].get_title()  # still says what the chart would show
    plots.save_figure(fig, tmp_path / "empty.png")


def test_missing_columns_is_a_report_error(demo_tasks):
    with pytest.raises(ReportError, match="wasted|memory_requested_gib"):
        plots.plot_memory_efficiency(pd.DataFrame({"process": ["a"], "tasks": [1]}))
    with pytest.raises(ReportError, match="realtime"):
        plots.plot_runtime_boxes(demo_tasks.drop(columns=["realtime"]))


# ----------------------------------------------------------------------------- axes and saving
def test_draws_on_given_axes(demo_tasks, demo_runs):
    fig = Figure()
    ax = fig.add_subplot()
    report = reports.cost_report(demo_tasks, demo_runs, period=None, by="process")
    assert plots.plot_cost_pareto(report, ax=ax) is fig
    two = Figure()
    axes = two.subplots(2, 1)
    per_run = reports.run_runtimes(demo_tasks, demo_runs)
    assert plots.plot_run_trends(per_run, ax=axes) is two
    with pytest.raises(ReportError, match="2 panels"):
        plots.plot_run_trends(per_run, ax=fig.add_subplot())


MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF", "svg": b"<?xml"}


@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_saves_png_svg_pdf(fmt, demo_tasks, demo_runs, tmp_path):
    figs = {
        "pareto": plots.plot_cost_pareto(reports.cost_report(demo_tasks, demo_runs, period=None,
                                                             by="process")),
        "timeline": plots.plot_task_timeline(demo_tasks, run_id=SAREK_RUN),
        "heatmap": plots.plot_exit_status_heatmap(reports.task_failures(demo_tasks, demo_runs)),
    }
    for name, fig in figs.items():
        path = plots.save_figure(fig, tmp_path / "sub" / f"{name}.{fmt}")
        data = Path(path).read_bytes()
        assert data.startswith(MAGIC[fmt]), name
        assert len(data) > 5_000, name
    if fmt == "svg":  # text stays text: titles and units are searchable
        svg = (tmp_path / "sub" / "pareto.svg").read_text(encoding="utf-8")
        assert "cost [USD]" in svg


def test_figures_show_as_png_in_notebooks(demo_tasks, demo_runs):
    fig = plots.plot_cost_by_period(reports.cost_report(demo_tasks, demo_runs))
    assert fig._repr_png_().startswith(MAGIC["png"])
