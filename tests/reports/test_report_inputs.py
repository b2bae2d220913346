"""Reports straight from a cache: the same figures as from frames, read from exactly the
committed files, with filters pushed down; and the errors of bad inputs.

Expected values come from the raw JSON of the bundled runs (``raw``), never from the code
under test; the frame path is compared too, since both must run one definition.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter

import duckdb
import pandas as pd
import pytest

from seqera_analytics import CacheError, ReportError
from seqera_analytics import reports as R

SAREK, METHYLSEQ = "nf-core/sarek", "nf-core/methylseq"


def raw_monthly_cost(raw, keep=lambda doc: True):
    out: dict[tuple[str, str], float] = {}
    for doc in raw.values():
        if not keep(doc):
            continue
        pipeline = doc["workflow"]["projectName"]
        for t in doc["tasks"]:
            month = (t["complete"] or t["start"] or t["submit"])[:7]
            out[(month, pipeline)] = out.get((month, pipeline), 0.0) + (t["cost"] or 0.0)
    return out


def test_monthly_cost_from_the_cache_matches_the_raw_json(cache, raw):
    rep = R.cost_report(cache=cache.path)
    got = {(r.period_label, r.pipeline): r.cost for r in rep.itertuples()}
    expected = raw_monthly_cost(raw)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-9)
    assert rep["tasks"].sum() == sum(len(d["tasks"]) for d in raw.values())


# Every report, from the cache and from the frames it holds: one definition, same rows.
CALLS = {
    "cost": (R.cost_report, {"by": "pipeline,user,label,compute_env", "period": "week"}),
    "reconcile": (R.reconcile_costs, {}),
    "sessions": (R.session_cost_report, {}),
    "runtime": (R.runtime_report, {"by": "pipeline,label"}),
    "run_runtimes": (R.run_runtimes, {"since": "2025-09-01"}),
    "process_runtimes": (R.process_runtimes, {"by": "pipeline,process", "period": "month"}),
    "failures": (R.failure_report, {"by": "workspace"}),
    "task_failures": (R.task_failures, {"by": "process,exit_status,machine_type"}),
    "attempts": (R.task_attempts, {}),
    "attention": (R.runs_needing_attention, {}),
    "efficiency": (R.efficiency_report, {"by": "pipeline,process"}),
    "right_size": (R.right_size, {"by": "process", "min_tasks": 2}),
}
#: Reports on the billed basis (the demo cache holds the bundled CUR extract).
BILLED_CALLS = {
    "cost_both": (R.cost_report, {"basis": "both", "by": "pipeline,process"}),
    "cost_spread": (R.cost_report, {"basis": "billed", "idle": "spread", "by": "user"}),
    "cost_idle_row": (R.cost_report, {"basis": "billed", "idle": "row", "by": "pipeline", "period": None}),
    "reconcile_period": (R.reconcile_billing, {}),
    "reconcile_run": (R.reconcile_billing, {"per": "run", "since": "2025-09"}),
    "billed_tasks": (R.billed_tasks, {}),
    "failures_both": (R.failure_report, {"basis": "both", "by": "pipeline"}),
    "task_failures_billed": (R.task_failures, {"basis": "billed", "by": "process,exit_status"}),
    "efficiency_both": (R.efficiency_report, {"basis": "both", "by": "pipeline,process"}),
    "sessions_both": (R.session_cost_report, {"basis": "both"}),
}


@pytest.fixture(scope="module")
def cached_frames(cache):
    """The cache's runs and tasks as frames: the same rows (a sync derives a finished run's
    load from its tasks, so the bundles' /progress values differ in CPU time and net cost)."""
    from seqera_analytics.store import load_runs, load_tasks

    return load_tasks(cache=cache.path), load_runs(cache=cache.path)


@pytest.mark.parametrize("name", list(CALLS))
def test_the_cache_path_gives_the_frame_path_rows(cache, cached_frames, name):
    fn, kwargs = CALLS[name]
    tasks, runs = cached_frames
    frames = (tasks,) if fn is R.task_attempts else (tasks, runs)
    from_frames = fn(*frames, **kwargs)
    from_cache = fn(cache=cache.path, **kwargs)
    assert len(from_cache) > 0
    pd.testing.assert_frame_equal(from_cache, from_frames, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("name", list(BILLED_CALLS))
def test_billed_reports_from_the_cache_equal_those_from_frames(cache, cached_frames, name):
    from seqera_analytics.billing import bundled_cur, load_cur

    fn, kwargs = BILLED_CALLS[name]
    tasks, runs = cached_frames
    from_frames = fn(tasks=tasks, runs=runs, billing=load_cur(bundled_cur()), **kwargs)
    from_cache = fn(cache=cache.path, **kwargs)
    assert len(from_cache) > 0
    pd.testing.assert_frame_equal(from_cache, from_frames, check_exact=False, rtol=1e-9)


def test_only_committed_files_are_read(cache, raw, tmp_path):
    """A file no commit names (debris of a killed sync) is invisible to reports, while a
    directory glob double counts it."""
    copy = tmp_path / "cache"
    shutil.copytree(cache.path, copy)
    committed = sorted((copy / "tasks").rglob("*.parquet"))
    debris = committed[0].with_name(f"part-{uuid.uuid4().hex}.parquet")
    shutil.copy(committed[0], debris)
    total = sum(t["cost"] or 0.0 for d in raw.values() for t in d["tasks"])
    rep = R.cost_report(cache=copy, period=None, by=())
    assert rep["cost"].iat[0] == pytest.approx(total, rel=1e-9)
    assert rep["tasks"].iat[0] == sum(len(d["tasks"]) for d in raw.values())
    glob = duckdb.sql(
        f"SELECT sum(cost) FROM read_parquet('{copy}/tasks/**/*.parquet', hive_partitioning=true)"
    ).fetchone()[0]
    assert glob > total * 1.01  # what a glob reader would have reported


def test_filters_are_pushed_down_and_match_the_raw_json(cache, raw):
    rep = R.cost_report(cache=cache.path, workspace="seqeralabs/benchmarks", pipeline=SAREK)
    expected = raw_monthly_cost(raw, lambda d: d["workflow"]["projectName"] == SAREK)
    assert {(r.period_label, r.pipeline): r.cost for r in rep.itertuples()} == pytest.approx(
        expected, rel=1e-9
    )
    by_user = R.failure_report(cache=cache.path, user="analyst-2", period=None)
    runs = [d for d in raw.values() if d["workflow"]["userName"] == "analyst-2"]
    assert by_user["runs"].sum() == len(runs)
    assert by_user["failed_attempts"].sum() == sum(
        t["status"] == "FAILED" for d in runs for t in d["tasks"]
    )
    failed_runs = R.cost_report(cache=cache.path, run_status="failed")
    assert len(failed_runs) == 0  # every bundled run succeeded
    other_ws = R.task_failures(cache=cache.path, workspace="scidev/testing", by="process")
    expected_ws = Counter(
        t["process"]
        for d in raw.values()
        if d["workflow"]["projectName"] == "example-lab/sarek"
        for t in d["tasks"]
        if t["status"] == "FAILED"
    )
    assert dict(zip(other_ws["process"], other_ws["failed_attempts"])) == dict(expected_ws)


def test_the_same_filters_work_on_frames(cache, data):
    kw = {"workspace": "seqeralabs/benchmarks", "pipeline": METHYLSEQ, "by": "user,process"}
    pd.testing.assert_frame_equal(
        R.cost_report(data.tasks, data.runs, **kw), R.cost_report(cache=cache.path, **kw)
    )


def test_a_path_that_is_not_a_cache_is_a_clear_error(tmp_path):
    with pytest.raises(CacheError, match="is not a seqera-analytics cache") as err:
        R.cost_report(cache=tmp_path / "nowhere")
    assert "\n" not in str(err.value) and "sync" in str(err.value)


def test_an_unknown_workspace_lists_the_cached_ones(cache):
    with pytest.raises(CacheError, match="scidev/testing"):
        R.cost_report(cache=cache.path, workspace="nobody/nothing")


def test_bad_arguments_keep_their_errors_on_the_cache_path(cache, data):
    with pytest.raises(ReportError, match="valid names"):
        R.cost_report(cache=cache.path, by="colour")
    with pytest.raises(ReportError, match="must be after"):
        R.cost_report(cache=cache.path, since="2025-10-01", until="2025-09-01")
    with pytest.raises(ReportError, match="not both"):
        R.cost_report(data.tasks, data.runs, cache=cache.path)
    with pytest.raises(ReportError, match="cache="):
        R.cost_report()
    with pytest.raises(ReportError, match="not a run status"):
        R.cost_report(cache=cache.path, run_status="exploded")


def test_an_empty_window_gives_the_documented_columns(cache):
    empty = R.cost_report(cache=cache.path, since="2030-01-01")
    full = R.cost_report(cache=cache.path)
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    assert (empty.dtypes == full.dtypes).all()


def test_a_committed_file_that_is_gone_is_a_clear_error(cache, tmp_path):
    copy = tmp_path / "cache"
    shutil.copytree(cache.path, copy)
    next((copy / "tasks").rglob("*.parquet")).unlink()
    with pytest.raises(CacheError, match="gone") as err:
        R.cost_report(cache=copy)
    assert "sync" in str(err.value)


def test_spark_backend_says_what_is_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ReportError, match="Spark is not installed") as err:
        R.spark_backend()
    assert "\n" not in str(err.value)


def test_spark_backend_without_java_says_so(monkeypatch):
    pytest.importorskip("pyspark")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ReportError, match="no Java runtime") as err:
        R.spark_backend()
    assert "\n" not in str(err.value)


def test_a_window_reads_only_the_files_that_can_hold_its_tasks(cache):
    """From the footers' time ranges: September's report skips the March partition's file
    (its tasks all ended in March), a window covering March keeps it, and a file whose tasks
    may have no time at all is kept for its partition month (the run-submit fallback)."""
    from seqera_analytics.reports._inputs import _may_hold
    from seqera_analytics.reports._rules import bounds

    files = cache.committed_files("tasks")
    by_month = {cache.partition_of(f)[1]: f for f in files}
    assert set(by_month) == {"2025-03", "2025-09"}
    sept = bounds("2025-09-01", "2025-10-01")
    assert _may_hold(cache, by_month["2025-09"], *sept)
    assert not _may_hold(cache, by_month["2025-03"], *sept)
    assert _may_hold(cache, by_month["2025-03"], *bounds("2025-03-31", "2025-04-01"))
    assert not _may_hold(cache, by_month["2025-03"], *bounds("2025-04-01", None))
    assert _may_hold(cache, by_month["2025-03"], *bounds(None, "2025-04-01"))


def test_windowed_reports_agree_with_the_frames_on_every_window(cache, data):
    for since, until in (("2025-09-11", "2025-09-12"), ("2025-03-31T17:00:00Z", None),
                         (None, "2025-09-11T16:00:00Z"), ("2025-04-01", "2025-09-01")):
        for fn, kw in ((R.cost_report, {"period": "day", "by": "pipeline,process"}),
                       (R.failure_report, {"by": "pipeline"}),
                       (R.efficiency_report, {"by": "process"})):
            pd.testing.assert_frame_equal(
                fn(cache=cache.path, since=since, until=until, **kw),
                fn(data.tasks, data.runs, since=since, until=until, **kw),
                check_exact=False, rtol=1e-9,
            )


def test_a_task_without_times_counts_in_its_runs_month_from_a_cache(make_tasks, make_runs,
                                                                    tmp_path):
    """A task with no complete, start or submit is attributed to its run's submission; the
    file skipping must keep the file for that month although its other tasks are later."""
    from seqera_analytics import frames as F
    from seqera_analytics.store import Cache, WorkspaceState

    runs = make_runs([{"run_id": "r1", "workspace_id": 7, "workspace": "o/w", "project_name": "p",
                       "submit": "2025-08-31T23:00:00Z", "status": "SUCCEEDED"}])
    tasks = make_tasks([
        {"run_id": "r1", "workspace_id": 7, "task_id": 1, "status": "COMPLETED", "cost": 1.0,
         "cpus": 1, "start": "2025-09-02T00:00:00Z", "complete": "2025-09-02T01:00:00Z"},
        {"run_id": "r1", "workspace_id": 7, "task_id": 2, "status": "NEW", "cost": 4.0},
    ])
    cache = Cache(tmp_path / "c")
    with cache.writer() as w:
        w.put_runs(F.from_pandas(runs, F.RUNS), F.from_pandas(tasks, F.TASKS))
        w.set_workspace_state(WorkspaceState(7, "o/w", "test", complete=True))
        w.commit()
    august = R.cost_report(cache=cache.path, since="2025-08-01", until="2025-09-01")
    assert list(august["cost"]) == [4.0] and list(august["tasks"]) == [1]
    september = R.cost_report(cache=cache.path, since="2025-09-01", until="2025-10-01")
    assert list(september["cost"]) == [1.0]
    assert R.cost_report(cache=cache.path, since="2025-10-01").empty


def test_reports_from_several_threads_share_the_engine_safely(cache, data):
    """A notebook's widgets and a background thread may ask at once: same rows each time."""
    from concurrent.futures import ThreadPoolExecutor

    expected = R.cost_report(cache=cache.path, by="pipeline,process")
    calls = [lambda: R.cost_report(cache=cache.path, by="pipeline,process"),
             lambda: R.cost_report(data.tasks, data.runs, by="pipeline,process")] * 4
    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda f: f(), calls):
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
