"""The explorer driven programmatically: filters change the table and the chart, empty views
say so, reports and group-bys switch without re-reading tasks, export, run drill-down."""

from __future__ import annotations

import time

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from seqera_analytics import reports
from seqera_analytics.store import Cache, load_runs
from seqera_analytics.widgets import GROUPS, Explorer

SAREK_RUN = "3dLeF2W4ju5og4"


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def title(fig: Figure) -> str:
    return fig.axes[0].get_title()


def says_no_data(fig: Figure) -> bool:
    return any(t.startswith("no data") for t in texts(fig))


@pytest.fixture
def explorer(demo_cache: Cache) -> Explorer:
    return Explorer(demo_cache)


def test_initial_view_is_monthly_cost_by_pipeline(explorer):
    assert explorer.message is None
    assert explorer.report == "cost" and explorer.group_by == "pipeline"
    df = explorer.table_data
    assert set(df["pipeline"]) == {"nf-core/sarek", "nf-core/methylseq", "example-lab/sarek"}
    assert list(df["period_label"].unique()) == ["2025-03", "2025-09"]
    assert title(explorer.figure) == "Cost by month and pipeline"
    assert bytes(explorer.w_chart.value).startswith(b"\x89PNG")
    assert "cost [USD]" in explorer.w_table.value and "nf-core/methylseq" in explorer.w_table.value
    assert "5 runs in 2 workspaces" in explorer.w_header.value
    assert explorer.filters == {"workspace": None, "since": None, "until": None,
                                "pipeline": None, "user": None, "status": None}


def test_pipeline_filter_changes_table_and_chart(explorer):
    png_before = explorer.w_chart.value
    total_before = float(explorer.table_data["cost"].sum())
    explorer.set_filters(pipeline="nf-core/sarek")
    df = explorer.table_data
    assert set(df["pipeline"]) == {"nf-core/sarek"}
    assert float(df["cost"].sum()) < total_before
    legend = [t.get_text() for t in explorer.figure.axes[0].get_legend().get_texts()]
    assert legend == ["nf-core/sarek"]
    assert bytes(explorer.w_chart.value) != bytes(png_before)
    assert "nf-core/methylseq" not in explorer.w_table.value


def test_changing_a_control_updates_like_a_click(explorer):
    """What the browser does: set a widget's value; the observers recompute the view."""
    explorer.w_pipeline.value = "nf-core/methylseq"
    assert set(explorer.table_data["pipeline"]) == {"nf-core/methylseq"}
    explorer.w_report.value = "failures"
    assert title(explorer.figure).startswith("Run failure rate")
    explorer.w_group.value = "process"
    assert says_no_data(explorer.figure)  # methylseq had no failed task: good news
    explorer.w_pipeline.value = "nf-core/sarek"
    assert set(explorer.table_data["exit_status"]) == {2147483647}
    assert explorer.table_data["failed_attempts"].sum() == 19


def test_filter_matching_nothing_shows_a_message(explorer):
    explorer.set_filters(pipeline="no-such/pipeline")
    assert explorer.message is not None and "No runs match" in explorer.message
    assert "no-such/pipeline" in explorer.w_message.value
    assert explorer.table_data.empty
    assert says_no_data(explorer.figure)
    explorer.set_filters(pipeline=None, status="cancelled")
    assert "No runs match" in explorer.message
    explorer.set_filters(status=None)
    assert explorer.message is None and len(explorer.table_data) == 3


def test_date_workspace_and_user_filters(explorer):
    explorer.set_filters(since="2025-09-01", until="2025-10-01")
    assert list(explorer.table_data["period_label"].unique()) == ["2025-09"]
    assert explorer.filters["since"] == "2025-09-01"
    explorer.set_filters(since=None, until=None, workspace="scidev/testing")
    assert list(explorer.w_pipeline.options) == ["(all)", "example-lab/sarek"]
    assert set(explorer.table_data["pipeline"]) == {"example-lab/sarek"}
    explorer.set_filters(workspace=None, user="analyst-1")
    assert set(explorer.table_data["pipeline"]) == {"nf-core/sarek", "nf-core/methylseq"}


@pytest.fixture(scope="module")
def shared_explorer(demo_cache: Cache) -> Explorer:
    """One explorer for the read-only walk through every report and group-by."""
    return Explorer(demo_cache)


@pytest.mark.parametrize("report,group", [(r, g) for r, opts in GROUPS.items() for _, g in opts])
def test_every_report_and_group_renders(shared_explorer, report, group):
    explorer = shared_explorer
    explorer.set_report(report, group_by=group)
    assert explorer.message is None
    assert len(explorer.table_data) > 0
    assert explorer.table_data.attrs.get("report")  # a report frame, exportable with units
    fig = explorer.figure
    assert isinstance(fig, Figure) and not says_no_data(fig)
    assert fig.axes[0].get_title()
    labels = [ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes]
    assert any("[" in lab for lab in labels), labels  # units on an axis


# One view of each kind of chart.
SWITCHES = [("runtime", "pipeline"), ("runtime", "process"), ("failures", "process"),
            ("efficiency", "user"), ("cost", "process"), ("cost", "pipeline")]


def test_views_are_queried_once_per_filter_state(explorer):
    """Each view is one report query on the cache (no task reaches Python); a view already
    computed for a filter state is reused when the user flips back to it."""
    assert explorer.queries == 1  # the initial cost view
    for report, g in SWITCHES:
        explorer.set_report(report, group_by=g)
    assert explorer.queries == len(SWITCHES)  # ("cost", "pipeline") was the initial view
    for report, g in SWITCHES:
        explorer.set_report(report, group_by=g)
    assert explorer.queries == len(SWITCHES)
    explorer.set_group_by("user")
    assert explorer.group_by == "user" and "user" in explorer.table_data.columns
    assert explorer.queries == len(SWITCHES) + 1
    explorer.set_filters(pipeline="nf-core/sarek")
    assert explorer.queries == len(SWITCHES) + 2
    explorer.set_filters(pipeline=None)  # back to a filter state seen before
    assert explorer.queries == len(SWITCHES) + 2


def test_bad_choices_raise_in_the_api(explorer):
    with pytest.raises(ValueError, match="use one of"):
        explorer.set_report("nope")
    with pytest.raises(ValueError, match="not offered"):
        explorer.set_report("efficiency", group_by="label")
    with pytest.raises(ValueError, match="no column"):
        explorer.sort_table("nope")


def test_sort_table(explorer):
    explorer.set_report("cost", group_by="process")
    explorer.sort_table("tasks", ascending=True)
    assert explorer.table_data["tasks"].is_monotonic_increasing
    assert "tasks ▲" in explorer.w_table.value
    explorer.sort_table("cost", ascending=False)
    assert explorer.table_data["cost"].is_monotonic_decreasing
    assert "cost [USD] ▼" in explorer.w_table.value
    assert "showing 200 of" not in explorer.w_table.value  # 65 rows, all shown
    explorer.sort_table(None)
    assert list(explorer.table_data["process"]) == sorted(explorer.table_data["process"])


def test_export_writes_the_current_view(explorer, tmp_path):
    explorer.set_filters(pipeline="nf-core/sarek")
    explorer.set_report("efficiency", group_by="process")
    explorer.sort_table("wasted_cost", ascending=True)
    csv = explorer.export(tmp_path / "view.csv")
    parquet = explorer.export(tmp_path / "view.parquet")
    for path in (csv, parquet):
        back = reports.read_report(path)
        assert len(back) == len(explorer.table_data)
        assert list(back["process"]) == list(explorer.table_data["process"])
    assert (tmp_path / "view.csv.schema.json").exists()
    assert "wrote" in explorer.w_export_status.value
    # The export button writes to the path in the box.
    explorer.w_export_path.value = str(tmp_path / "clicked.csv")
    explorer.w_export.click()
    assert (tmp_path / "clicked.csv").exists()
    explorer.w_export_format.value = "parquet"
    assert explorer.w_export_path.value.endswith("clicked.parquet")


def test_open_run_shows_timeline_and_breakdown(explorer):
    assert SAREK_RUN in [v for _, v in explorer.w_run.options]
    explorer.open_run(SAREK_RUN)
    table = explorer.run_table
    assert table["tasks"].sum() == 279 and table["tasks_failed"].sum() == 19
    assert table["process"].nunique() == len(table) == 49
    assert table["cost"].is_monotonic_decreasing
    assert SAREK_RUN in title(explorer.run_figure)
    assert bytes(explorer.w_run_chart.value).startswith(b"\x89PNG")
    assert explorer.w_tabs.selected_index == 1
    assert "279 task attempts" in explorer.w_run_message.value
    explorer.open_run("not-a-run")
    assert "not in the cache" in explorer.w_run_message.value


def test_run_picker_follows_filters(explorer):
    explorer.set_filters(pipeline="nf-core/methylseq")
    assert len(explorer.w_run.options) == 2
    explorer.w_run.value = explorer.w_run.options[0][1]
    explorer.w_open.click()
    assert explorer.run_table["tasks"].sum() == 58


def test_empty_cache_shows_a_message(tmp_path):
    ex = Explorer(tmp_path / "empty-cache")
    assert ex.message is not None and "holds no runs" in ex.message
    assert ex.table_data.empty and says_no_data(ex.figure)
    ex.set_report("runtime", group_by="process")  # still no exception
    assert says_no_data(ex.figure)


def test_displays_as_a_widget(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Explorer(" in repr(explorer)


def test_from_demo_needs_no_token(monkeypatch):
    monkeypatch.delenv("TOWER_ACCESS_TOKEN", raising=False)
    ex = Explorer.from_demo(report="runtime", group_by="run")
    assert ex.message is None
    assert len(ex.table_data) == 5
    assert ex.figure.axes[1].get_ylabel() == "run queue time [min]"


@pytest.mark.slow
def test_responsive_on_100000_runs(big_cache):
    """Filters push down, each view is one query, charts come from aggregates.

    Timings are printed for the record (``pytest -s``); the assertions are structural, as
    timed assertions do not belong in tests on a shared machine.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ex = Explorer(big_cache)
    timings["open"] = time.perf_counter() - t0
    index = load_runs(cache=big_cache)
    assert len(index) == 100_000
    # A large cache opens on its last three months, not on all history.
    assert ex.filters["since"] == "2025-07-01"
    assert ex.message is None and ex.queries == 1
    runs_shown = int(ex.w_header.value.split("showing ")[1].split(" runs")[0].replace(",", ""))
    assert 0 < runs_shown < 25_000
    # Reports and group-bys switch, each one query on the cache.
    for report, g in [*SWITCHES, ("runtime", "run")]:
        t0 = time.perf_counter()
        ex.set_report(report, group_by=g)
        timings[f"{report}/{g}"] = time.perf_counter() - t0
        assert ex.message is None, (report, g)
    assert ex.queries == len(SWITCHES) + 1
    # The aggregated charts plot one point per period and group, not per run or task.
    ex.set_report("cost", group_by="pipeline")
    # 3 months x 4 pipelines, plus October for tasks of late-September runs that ended then
    assert len(ex.table_data) <= 4 * 4
    # A filter change queries the current view again, filters pushed down.
    before = ex.queries
    t0 = time.perf_counter()
    ex.set_filters(pipeline="nf-core/rnaseq", user="analyst-2")
    timings["filter"] = time.perf_counter() - t0
    assert ex.queries == before + 1
    assert set(ex.table_data["pipeline"]) == {"nf-core/rnaseq"}
    t0 = time.perf_counter()
    ex.set_filters(since="2024-01-01")
    timings["all history, filtered"] = time.perf_counter() - t0
    assert len(ex.table_data["period_label"].unique()) == 19  # 2024-04 to 2025-10
    ex.set_filters(pipeline="none/such")
    assert "No runs match" in ex.message
    t0 = time.perf_counter()
    ex.open_run("big0099999")
    timings["open run"] = time.perf_counter() - t0
    assert ex.run_table["tasks"].sum() == 8
    print("\nexplorer on 100,000 runs [s]: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
