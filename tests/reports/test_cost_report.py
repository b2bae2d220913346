"""Cost report, reconciliation and resume chains, against the raw JSON of the real runs and
against small hand-made frames."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from seqera_analytics import ReportError
from seqera_analytics import frames as F
from seqera_analytics import reports as R

ALL_KEYS = sorted({*R.RUN_KEYS, *R.TASK_KEYS})


def raw_task_cost(doc, status=None):
    return sum(t["cost"] or 0.0 for t in doc["tasks"] if status is None or t["status"] == status)


# ------------------------------------------------------------------------------ real runs
def test_per_run_totals_equal_seqera_run_cost(data, raw):
    rep = R.cost_report(data.tasks, data.runs, period=None, by="run_id").set_index("run_id")
    assert sorted(rep.index) == sorted(raw)
    for rid, doc in raw.items():
        seqera = doc["progress"]["workflowProgress"]["cost"]
        expected = raw_task_cost(doc)
        assert expected == pytest.approx(seqera, rel=1e-3)  # the data itself reconciles
        assert rep.loc[rid, "cost"] == pytest.approx(seqera, rel=1e-3)
        assert rep.loc[rid, "cost"] == pytest.approx(expected, rel=1e-9)
        assert rep.loc[rid, "tasks"] == len(doc["tasks"])


def test_reconcile_costs_flags_every_real_run_as_matching(data, raw):
    rec = R.reconcile_costs(data.tasks, data.runs).set_index("run_id")
    for rid, doc in raw.items():
        seqera = doc["progress"]["workflowProgress"]["cost"]
        assert rec.loc[rid, "seqera_cost"] == pytest.approx(seqera)
        assert rec.loc[rid, "task_cost"] == pytest.approx(raw_task_cost(doc))
        assert abs(rec.loc[rid, "relative_difference"]) <= 1e-3
        assert bool(rec.loc[rid, "matches"]) is True
        assert pd.isna(rec.loc[rid, "note"])


def test_reconcile_costs_flags_a_mismatch_and_missing_data(make_tasks, make_runs):
    runs = make_runs(
        [
            {"run_id": "ok", "cost": 10.0},
            {"run_id": "off", "cost": 10.0},
            {"run_id": "empty", "cost": 3.0},
            {"run_id": "unknown", "cost": None},
        ]
    )
    tasks = make_tasks(
        [
            {"run_id": "ok", "task_id": 1, "status": "COMPLETED", "cost": 10.004},
            {"run_id": "off", "task_id": 1, "status": "COMPLETED", "cost": 9.0},
            {"run_id": "unknown", "task_id": 1, "status": "COMPLETED", "cost": 1.0},
            {"run_id": "orphan", "task_id": 1, "status": "COMPLETED", "cost": 2.0},
        ]
    )
    rec = R.reconcile_costs(tasks, runs).set_index("run_id")
    assert bool(rec.loc["ok", "matches"]) and bool(rec.loc["ok", "matches"]) is True
    assert bool(rec.loc["off", "matches"]) is False
    assert rec.loc["off", "difference"] == pytest.approx(-1.0)
    assert rec.loc["empty", "tasks"] == 0 and rec.loc["empty", "task_cost"] == 0.0
    assert rec.loc["empty", "note"] == "no tasks loaded for the run"
    assert pd.isna(rec.loc["unknown", "matches"])
    assert rec.loc["orphan", "note"] == "run not in the runs frame"


def test_cached_cost_shown_separately_for_the_resumed_run(data, raw):
    doc = raw["15dvxY1LnZYrYe"]
    cached = raw_task_cost(doc, "CACHED")
    n_cached = sum(t["status"] == "CACHED" for t in doc["tasks"])
    assert cached > 0 and n_cached == 4
    rep = R.cost_report(data.tasks, data.runs, period=None, by=["run_id"]).set_index("run_id")
    row = rep.loc["15dvxY1LnZYrYe"]
    assert row["cached_cost"] == pytest.approx(cached, rel=1e-9)
    assert row["tasks_cached"] == n_cached
    assert row["net_cost"] == pytest.approx(row["cost"] - cached, rel=1e-9)
    assert row["net_cost"] == pytest.approx(raw_task_cost(doc) - cached, rel=1e-9)
    # the other runs have nothing cached: net equals gross
    others = rep.drop(index="15dvxY1LnZYrYe")
    assert (others["cached_cost"] == 0).all()
    assert np.allclose(others["net_cost"].astype(float), others["cost"].astype(float))


def test_failed_attempt_cost_of_the_retried_run(data, raw):
    doc = raw["3dLeF2W4ju5og4"]
    failed = raw_task_cost(doc, "FAILED")
    n_failed = sum(t["status"] == "FAILED" for t in doc["tasks"])
    assert n_failed == 19
    rep = R.cost_report(data.tasks, data.runs, period=None, by="run_id").set_index("run_id")
    assert rep.loc["3dLeF2W4ju5og4", "failed_cost"] == pytest.approx(failed, rel=1e-9)
    assert rep.loc["3dLeF2W4ju5og4", "tasks_failed"] == n_failed


def test_monthly_cost_by_pipeline_from_raw_json(data, raw):
    expected: dict[tuple[str, str], float] = {}
    for doc in raw.values():
        pipeline = doc["workflow"]["projectName"]
        for t in doc["tasks"]:
            month = (t["complete"] or t["start"] or t["submit"])[:7]
            expected[(month, pipeline)] = expected.get((month, pipeline), 0.0) + (t["cost"] or 0.0)
    rep = R.cost_report(data.tasks, data.runs)  # defaults: month, by pipeline
    got = {(r.period_label, r.pipeline): r.cost for r in rep.itertuples()}
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-9)
    assert str(rep["period"].dtype) == "datetime64[ms, UTC]"
    assert (rep["period"].dt.day == 1).all()


def test_cpu_hours_match_seqera_cpu_time(data, raw):
    rep = R.cost_report(data.tasks, data.runs, period=None, by="run_id").set_index("run_id")
    for rid, doc in raw.items():
        seqera_h = doc["progress"]["workflowProgress"]["cpuTime"] / 3.6e6
        assert rep.loc[rid, "cpu_hours"] == pytest.approx(seqera_h, rel=1e-3)


@pytest.mark.parametrize(
    "keys",
    [
        *([k] for k in ALL_KEYS),
        *(
            list(p)
            for p in itertools.combinations(
                [
                    "pipeline",
                    "user",
                    "workspace",
                    "process",
                    "price_model",
                    "compute_env",
                    "status",
                ],
                2,
            )
        ),
    ],
    ids=lambda k: "+".join(k),
)
def test_every_group_by_conserves_the_total(data, raw, keys):
    total = sum(raw_task_cost(d) for d in raw.values())
    rep = R.cost_report(data.tasks, data.runs, period="month", by=keys)
    assert list(rep.columns[2 : 2 + len(keys)]) == keys
    assert rep["tasks"].sum() == sum(len(d["tasks"]) for d in raw.values())
    assert rep["cost"].sum() == pytest.approx(total, rel=1e-9)
    if "label" not in keys:
        assert not rep.duplicated(["period", *keys]).any()


def test_group_values_come_from_the_right_columns(data):
    rep = R.cost_report(
        data.tasks,
        data.runs,
        period=None,
        by="workspace,user,pipeline_revision,compute_env,price_model",
    )
    assert set(rep["workspace"]) == {"scidev/testing", "seqeralabs/benchmarks"}
    assert set(rep["user"]) == {"analyst-1", "analyst-2"}
    # revision is null for the resumed run: its manifest version stands in
    assert set(rep["pipeline_revision"]) == {"3.5.0dev", "3.5.1", "4.1.0"}
    # TowerForge-<id>[-work] -> <id>
    assert "4QeXh7v39dOBc2sTLtlcKp" in set(rep["compute_env"])
    assert not rep["compute_env"].str.startswith("TowerForge").any()
    assert set(rep["price_model"]) == {"spot", "standard"}


# ------------------------------------------------------------------------ hand-made frames
def _boundary_tasks(make_tasks):
    return make_tasks(
        [
            {
                "run_id": "r1",
                "task_id": 1,
                "status": "COMPLETED",
                "cost": 1.0,
                "cpus": 1,
                "start": "2025-09-30T23:00:00Z",
                "complete": "2025-09-30T23:59:59Z",
            },
            {
                "run_id": "r1",
                "task_id": 2,
                "status": "COMPLETED",
                "cost": 2.0,
                "cpus": 1,
                "start": "2025-09-30T23:00:00Z",
                "complete": "2025-10-01T00:00:00Z",
            },
        ]
    )


def test_period_boundary_at_midnight_utc(make_tasks, make_runs):
    tasks = _boundary_tasks(make_tasks)
    runs = make_runs([{"run_id": "r1", "project_name": "p", "submit": "2025-09-30T22:00:00Z"}])
    rep = R.cost_report(tasks, runs, period="month")
    assert list(rep["period_label"]) == ["2025-09", "2025-10"]
    assert list(rep["cost"]) == [1.0, 2.0]
    assert list(rep["period"]) == [
        pd.Timestamp("2025-09-01", tz="UTC"),
        pd.Timestamp("2025-10-01", tz="UTC"),
    ]
    day = R.cost_report(tasks, runs, period="day")
    assert list(day["period_label"]) == ["2025-09-30", "2025-10-01"]
    # 2025-09-30 is a Tuesday: both days are in the ISO week starting Monday 2025-09-29
    week = R.cost_report(tasks, runs, period="week")
    assert list(week["period_label"]) == ["2025-W40"] and week["cost"].iat[0] == 3.0
    assert week["period"].iat[0] == pd.Timestamp("2025-09-29", tz="UTC")
    quarter = R.cost_report(tasks, runs, period="quarter")
    assert list(quarter["period_label"]) == ["2025-Q3", "2025-Q4"]
    # one period for everything: no period columns
    total = R.cost_report(tasks, runs, period=None, by=())
    assert "period" not in total and total["cost"].iat[0] == 3.0 and total["runs"].iat[0] == 1


def test_since_is_inclusive_and_until_exclusive(make_tasks, make_runs):
    tasks = _boundary_tasks(make_tasks)
    runs = make_runs([{"run_id": "r1", "project_name": "p"}])
    oct_ = R.cost_report(tasks, runs, since="2025-10-01", until="2025-11-01")
    assert list(oct_["cost"]) == [2.0]
    sep = R.cost_report(tasks, runs, since="2025-09-01", until="2025-10-01T00:00:00Z")
    assert list(sep["cost"]) == [1.0]
    none = R.cost_report(tasks, runs, since="2026-01-01")
    assert len(none) == 0 and list(none.columns) == list(sep.columns)


def test_attribution_falls_back_to_start_submit_then_run_submit(make_tasks, make_runs):
    tasks = make_tasks(
        [
            {
                "run_id": "r",
                "task_id": 1,
                "status": "RUNNING",
                "cost": 1.0,
                "submit": "2025-08-31T23:00:00Z",
                "start": "2025-09-01T00:10:00Z",
            },
            {
                "run_id": "r",
                "task_id": 2,
                "status": "SUBMITTED",
                "cost": 2.0,
                "submit": "2025-08-31T23:30:00Z",
            },
            {"run_id": "r", "task_id": 3, "status": "NEW", "cost": 4.0},
        ]
    )
    runs = make_runs([{"run_id": "r", "project_name": "p", "submit": "2025-07-15T00:00:00Z"}])
    rep = R.cost_report(tasks, runs)
    assert dict(zip(rep["period_label"], rep["cost"])) == {
        "2025-07": 4.0,
        "2025-08": 2.0,
        "2025-09": 1.0,
    }


def test_tasks_without_cost_are_counted_never_zero(make_tasks, make_runs):
    tasks = make_tasks(
        [
            {
                "run_id": "a",
                "task_id": 1,
                "status": "COMPLETED",
                "cost": 1.5,
                "complete": "2025-09-02",
            },
            {
                "run_id": "a",
                "task_id": 2,
                "status": "COMPLETED",
                "cost": None,
                "complete": "2025-09-02",
            },
            {
                "run_id": "b",
                "task_id": 1,
                "status": "RUNNING",
                "cost": None,
                "complete": "2025-09-03",
            },
            {
                "run_id": "b",
                "task_id": 2,
                "status": "CACHED",
                "cost": None,
                "complete": "2025-09-03",
            },
        ]
    )
    runs = make_runs([{"run_id": "a", "project_name": "p1"}, {"run_id": "b", "project_name": "p2"}])
    rep = R.cost_report(tasks, runs).set_index("pipeline")
    assert rep.loc["p1", "cost"] == 1.5 and rep.loc["p1", "tasks_without_cost"] == 1
    assert pd.isna(rep.loc["p2", "cost"])  # no task has a cost: unknown, not 0
    assert pd.isna(rep.loc["p2", "cached_cost"]) and pd.isna(rep.loc["p2", "net_cost"])
    assert rep.loc["p2", "tasks_without_cost"] == 2 and rep.loc["p2", "tasks"] == 2
    assert rep.loc["p1", "cached_cost"] == 0.0  # nothing cached: a true zero


def test_labels_explode_and_overlap(make_tasks, make_runs):
    runs = make_runs(
        [
            {"run_id": "a", "labels": ["team=x", "urgent"]},
            {"run_id": "b", "labels": ["team=x"]},
            {"run_id": "c", "labels": []},
        ]
    )
    tasks = make_tasks(
        [
            {"run_id": r, "task_id": 1, "status": "COMPLETED", "cost": c, "complete": "2025-09-10"}
            for r, c in (("a", 1.0), ("b", 2.0), ("c", 4.0))
        ]
    )
    rep = R.cost_report(tasks, runs, period=None, by="label")
    got = {
        (None if pd.isna(k) else k): (v, n)
        for k, v, n in zip(rep["label"], rep["cost"], rep["runs"])
    }
    assert got == {"team=x": (3.0, 2), "urgent": (1.0, 1), None: (4.0, 1)}
    assert rep["cost"].sum() > 7.0  # overlapping: run a counts twice


def test_unknown_group_by_lists_the_valid_names(data):
    with pytest.raises(ReportError) as err:
        R.cost_report(data.tasks, data.runs, by=["pipeline", "colour"])
    msg = str(err.value)
    assert "'colour'" in msg
    for name in ALL_KEYS:
        assert name in msg
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("bad", ["fortnight", "hourly", "Mnth"])
def test_unknown_period_is_an_error(data, bad):
    with pytest.raises(ReportError, match="valid periods: day, week, month, quarter, year"):
        R.cost_report(data.tasks, data.runs, period=bad)


@pytest.mark.parametrize(
    "since,until", [("2025-13", None), ("yesterday-ish", None), ("2025-10-01", "2025-09-01")]
)
def test_bad_window_is_an_error(data, since, until):
    with pytest.raises(ReportError):
        R.cost_report(data.tasks, data.runs, since=since, until=until)


def test_missing_column_is_named(data):
    with pytest.raises(ReportError, match="cost"):
        R.cost_report(data.tasks.drop(columns=["cost"]), data.runs)


def test_only_the_needed_columns_are_required(data):
    cols = ["run_id", "status", "cost", "cpus", "submit", "start", "complete"]
    slim = R.cost_report(
        data.tasks[cols],
        data.runs[["run_id", "project_name", "user_name", "submit"]],
        by="pipeline,user",
    )
    full = R.cost_report(data.tasks, data.runs, by="pipeline,user")
    pd.testing.assert_frame_equal(slim, full)


def test_empty_inputs_give_an_empty_report_with_the_documented_columns(data):
    empty_t, empty_r = F.empty_frame(F.TASKS), F.empty_frame(F.RUNS)
    rep = R.cost_report(empty_t, empty_r, by="pipeline,label,process")
    full = R.cost_report(data.tasks, data.runs, by="pipeline,label,process")
    assert len(rep) == 0
    assert list(rep.columns) == list(full.columns)
    assert (rep.dtypes == full.dtypes).all()
    assert len(R.reconcile_costs(empty_t, empty_r)) == 0
    assert len(R.session_cost_report(empty_t, empty_r)) == 0


# ----------------------------------------------------------------------------- sessions
def test_session_chain_counts_the_cached_double_count_once(make_tasks, make_runs):
    sess = "s-1"
    runs = make_runs(
        [
            {
                "run_id": "first",
                "session_id": sess,
                "cost": 6.0,
                "resume": False,
                "project_name": "p",
                "submit": "2025-09-01T00:00:00Z",
                "complete": "2025-09-01T05:00:00Z",
            },
            {
                "run_id": "again",
                "session_id": sess,
                "cost": 5.0,
                "resume": True,
                "project_name": "p",
                "submit": "2025-09-02T00:00:00Z",
                "complete": "2025-09-02T05:00:00Z",
            },
            {
                "run_id": "other",
                "session_id": "s-2",
                "cost": 1.0,
                "resume": False,
                "project_name": "p",
                "submit": "2025-09-03T00:00:00Z",
                "complete": "2025-09-03T01:00:00Z",
            },
        ]
    )
    tasks = make_tasks(
        [
            {"run_id": "first", "task_id": 1, "hash": "aa/1", "status": "COMPLETED", "cost": 2.0},
            {"run_id": "first", "task_id": 2, "hash": "bb/2", "status": "FAILED", "cost": 4.0},
            {"run_id": "again", "task_id": 1, "hash": "aa/1", "status": "CACHED", "cost": 2.0},
            {"run_id": "again", "task_id": 2, "hash": "cc/3", "status": "COMPLETED", "cost": 3.0},
            {"run_id": "other", "task_id": 1, "hash": "aa/1", "status": "CACHED", "cost": 1.0},
        ]
    )
    rep = R.session_cost_report(tasks, runs).set_index("session_id")
    s1 = rep.loc[sess]
    assert s1["runs"] == 2 and s1["resumed_runs"] == 1 and list(s1["run_ids"]) == ["first", "again"]
    assert s1["seqera_cost"] == 11.0 and s1["cost"] == 11.0
    assert s1["cached_cost"] == 2.0 and s1["net_cost"] == 9.0
    assert s1["double_counted_cost"] == 2.0 and s1["deduplicated_cost"] == 9.0
    assert s1["tasks_cached_origin_found"] == 1
    # the same hash in another session is not its origin: counted once, as the only trace
    s2 = rep.loc["s-2"]
    assert s2["double_counted_cost"] == 0.0 and s2["deduplicated_cost"] == 1.0
    assert s2["net_cost"] == 0.0


def test_real_resumed_run_has_no_loaded_origin(data, raw):
    rep = R.session_cost_report(data.tasks, data.runs).set_index("session_id")
    doc = raw["15dvxY1LnZYrYe"]
    row = rep.loc[doc["workflow"]["sessionId"]]
    # the run that first executed its 4 cached tasks is not in the bundle
    assert row["tasks_cached"] == 4 and row["tasks_cached_origin_found"] == 0
    assert row["cached_cost"] == pytest.approx(raw_task_cost(doc, "CACHED"))
    assert row["deduplicated_cost"] == pytest.approx(raw_task_cost(doc))
    assert row["seqera_cost"] == pytest.approx(doc["progress"]["workflowProgress"]["cost"])
