"""Inputs that real users and real files bring: frames typed by hand, odd paths, damaged
files, a sync committing under a report, threads. Each check compares with the same report
on clean inputs, or with sums taken from the frames directly."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from seqera_analytics import CacheError, ReportError
from seqera_analytics import frames as F
from seqera_analytics import reports as R
from seqera_analytics.store import Cache, WorkspaceState


def write_cache(path, runs, tasks):
    cache = Cache(path)
    with cache.writer() as w:
        w.put_runs(F.from_pandas(runs, F.RUNS), F.from_pandas(tasks, F.TASKS))
        for wid, name in (
            runs[["workspace_id", "workspace"]].drop_duplicates().itertuples(index=False)
        ):
            if not pd.isna(wid):
                w.set_workspace_state(WorkspaceState(int(wid), name, "test", complete=True))
        w.commit()
    return cache


def test_computed_counts_win_over_the_runs_progress_columns(data, tmp_path):
    """A run's own progress counters (tasks_cached...) may be missing or stale; the reports
    count the tasks themselves, from a cache exactly as from frames."""
    runs = data.runs.copy()
    runs["tasks_cached"] = pd.NA
    runs["tasks_failed"] = 0
    cache = write_cache(tmp_path / "c", runs, data.tasks)
    for fn in (R.session_cost_report, R.run_runtimes, R.reconcile_costs, R.runs_needing_attention):
        pd.testing.assert_frame_equal(fn(cache=cache.path), fn(data.tasks, runs))
    resumed = R.session_cost_report(cache=cache.path).set_index("pipeline").loc["example-lab/sarek"]
    cached = data.tasks[data.tasks.status == "CACHED"]
    assert resumed["tasks_cached"] == len(cached) == 4
    assert resumed["cached_cost"] == pytest.approx(cached["cost"].sum(), rel=1e-9)


def test_a_cache_path_with_glob_characters_reads_only_itself(cache, tmp_path):
    truth = R.cost_report(cache=cache.path, period=None, by=())
    for name in ("g1", "g2", "g[12]", "g*", "g?", "g{1,2}"):
        shutil.copytree(cache.path, tmp_path / name)
    for name in ("g[12]", "g*", "g?", "g{1,2}"):
        got = R.cost_report(cache=tmp_path / name, period=None, by=())
        pd.testing.assert_frame_equal(got, truth)


def test_hand_typed_frames_read_as_the_schema_documents(data):
    """Instants as epoch ms or ISO text, durations as ms numbers or text, numbers as text,
    lower-case statuses: the same report as on the typed frames."""
    t, r = data.tasks.copy(), data.runs.copy()
    for c in ("submit", "start", "complete"):  # epoch ms, NaN for no time
        ms = t[c].astype("datetime64[ms, UTC]").astype("int64").astype("float64")
        t[c] = ms.where(t[c].notna(), other=np.nan)
    t["realtime"] = [
        None if pd.isna(v) else int(v / pd.Timedelta(milliseconds=1))
        for v in data.tasks["realtime"]
    ]
    t["cost"] = data.tasks["cost"].astype(object).map(lambda v: "" if pd.isna(v) else str(v))
    t["status"] = data.tasks["status"].str.lower()
    r["submit"] = data.runs["submit"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    r["status"] = data.runs["status"].str.lower()
    for fn, kw in (
        (R.cost_report, {"by": "pipeline,status"}),
        (R.run_runtimes, {}),
        (R.failure_report, {}),
        (R.efficiency_report, {"by": "process"}),
    ):
        pd.testing.assert_frame_equal(
            fn(t, r, **kw), fn(data.tasks, data.runs, **kw), check_exact=False, rtol=1e-9
        )


def test_values_that_are_not_numbers_are_unknown_not_summed(data):
    t = data.tasks.copy()
    first = t.index[0]
    t.loc[first, "cost"] = np.inf
    rep = R.cost_report(t, data.runs, period=None, by=())
    expected = data.tasks["cost"].drop(index=first).sum()
    assert rep["cost"].iat[0] == pytest.approx(expected, rel=1e-9)
    assert rep["tasks_without_cost"].iat[0] == 1


def test_labels_count_once_per_run(make_tasks, make_runs):
    runs = make_runs([{"run_id": "a", "labels": ["x", "x", ""]}, {"run_id": "b", "labels": []}])
    runs["labels"] = pd.Series([["x", "x", "", None, np.nan], np.array(["y"])], dtype=object)
    tasks = make_tasks(
        [
            {
                "run_id": "a",
                "task_id": 1,
                "status": "COMPLETED",
                "cost": 1.0,
                "complete": "2025-09-01",
            },
            {
                "run_id": "b",
                "task_id": 1,
                "status": "COMPLETED",
                "cost": 2.0,
                "complete": "2025-09-01",
            },
        ]
    )
    rep = R.cost_report(tasks, runs, period=None, by="label").set_index("label")
    assert rep["tasks"].to_dict() == {"x": 1, "y": 1} and rep["cost"].to_dict() == {
        "x": 1.0,
        "y": 2.0,
    }


def test_windows_at_the_ends_of_the_calendar(data):
    whole = R.cost_report(data.tasks, data.runs)
    pd.testing.assert_frame_equal(
        R.cost_report(data.tasks, data.runs, since="0001-01-01", until="9999-12-31"), whole
    )
    assert R.cost_report(data.tasks, data.runs, since="9999-01-01").empty


def test_one_row_per_group_when_a_run_has_no_time(data):
    runs = data.runs.copy()
    runs.loc[runs.index[0], ["submit", "start", "complete"]] = pd.NaT
    for fn in (R.failure_report, R.runtime_report):
        rep = fn(data.tasks, runs, period=None, by=())
        assert len(rep) == 1 and rep["runs"].iat[0] == len(runs), fn.__name__


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"until": 2026}, "must be a date"),
        ({"by": 3}, "by must be"),
        ({"pipeline": 1.5}, "pipeline must be"),
        ({"workspace": ["a", "b"]}, "workspace must be"),
        ({"workspace": "nobody/nothing"}, "not in the runs frame"),
    ],
)
def test_bad_arguments_are_one_line_errors(data, kwargs, match):
    with pytest.raises(ReportError, match=match) as err:
        R.cost_report(data.tasks, data.runs, **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda d: R.process_runtimes(d.tasks, statuses="FAILED"), None),
        (lambda d: R.process_runtimes(d.tasks, statuses="EXPLODED"), "task statuses"),
        (lambda d: R.process_runtimes(d.tasks, statuses=None), "statuses must be"),
        (lambda d: R.right_size(d.tasks, headroom=float("nan")), "headroom"),
        (lambda d: R.right_size(d.tasks, quantile="0.9"), "quantile"),
        (lambda d: R.reconcile_costs(d.tasks, d.runs, rtol="0.1"), "rtol"),
        (lambda d: R.cost_report(cache=123), "cache must be"),
    ],
)
def test_bad_parameters_are_one_line_errors(data, call, match):
    if match is None:
        failed = data.tasks[data.tasks.status == "FAILED"]
        assert call(data)["tasks"].sum() == len(failed)
        return
    with pytest.raises(ReportError, match=match) as err:
        call(data)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "column,values",
    [
        ("complete", lambda n: ["not a date"] * n),
        ("cost", lambda n: [1.0, "n/a"] * (n // 2) + [1.0] * (n % 2)),
        ("realtime", lambda n: [True] * n),
    ],
)
def test_unreadable_columns_name_the_column(data, column, values):
    t = data.tasks.copy()
    t[column] = pd.Series(values(len(t)), index=t.index, dtype=object)
    with pytest.raises(ReportError, match=f"column '{column}' of the tasks frame") as err:
        R.cost_report(t, data.runs) if column != "realtime" else R.run_runtimes(t, data.runs)
    assert "\n" not in str(err.value)


def test_a_damaged_cache_file_is_a_clear_error(cache, tmp_path):
    copy = tmp_path / "c"
    shutil.copytree(cache.path, copy)
    victim = next((copy / "tasks").rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(CacheError, match="damaged file") as err:
        R.cost_report(cache=copy)
    assert "\n" not in str(err.value)


def test_a_file_listed_twice_counts_once(cache, tmp_path):
    import json

    copy = tmp_path / "c"
    shutil.copytree(cache.path, copy)
    state = json.loads((copy / "state.json").read_text())
    state["files"]["tasks"] = state["files"]["tasks"] * 2
    (copy / "state.json").write_text(json.dumps(state))
    pd.testing.assert_frame_equal(R.cost_report(cache=copy), R.cost_report(cache=cache.path))


def test_one_user_backend_shared_by_threads(cache):
    import ibis

    con = ibis.duckdb.connect()
    expected = R.failure_report(cache=cache.path)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(R.failure_report, cache=cache.path, backend=con) for _ in range(24)]
        for f in futures:
            pd.testing.assert_frame_equal(f.result(timeout=120), expected)


def test_reports_while_a_sync_commits_see_whole_commits(data, tmp_path):
    """Each commit replaces the files a report may be reading; reports start again on the
    new state and always see one whole commit."""
    cache = write_cache(tmp_path / "c", data.runs, data.tasks)
    expected = R.cost_report(cache=cache.path, by="pipeline")
    runs_t, tasks_t = F.from_pandas(data.runs, F.RUNS), F.from_pandas(data.tasks, F.TASKS)
    stop = threading.Event()

    def commit_forever():
        with cache.writer() as w:
            while not stop.is_set():
                w.put_runs(runs_t, tasks_t)
                w.commit()

    writer = threading.Thread(target=commit_forever)
    writer.start()
    try:
        for _ in range(15):
            pd.testing.assert_frame_equal(R.cost_report(cache=cache.path, by="pipeline"), expected)
    finally:
        stop.set()
        writer.join()


def test_no_table_is_left_on_the_connection(data):
    from seqera_analytics.reports._engine import engine_for

    con = engine_for(None).backend.con
    for _ in range(3):
        R.cost_report(data.tasks, data.runs)
        R.session_cost_report(data.tasks, data.runs)
    left = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name LIKE 'seqera_analytics_%'"
    ).fetchone()[0]
    assert left == 0
