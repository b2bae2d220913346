"""Failure reports against the raw JSON of the real runs and hand-made frames."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from seqera_analytics import ReportError
from seqera_analytics import frames as F
from seqera_analytics import reports as R


def raw_failed(raw):
    return [
        t | {"run_id": rid} for rid, d in raw.items() for t in d["tasks"] if t["status"] == "FAILED"
    ]


def raw_recovered(raw, task) -> bool:
    """A later COMPLETED attempt of the same name in the same run (raw JSON)."""
    return any(
        t["name"] == task["name"] and t["status"] == "COMPLETED" and t["attempt"] > task["attempt"]
        for t in raw[task["run_id"]]["tasks"]
    )


def test_failures_by_process_and_exit_status_match_raw_json(data, raw):
    expected = Counter((t["process"], t["exitStatus"]) for t in raw_failed(raw))
    rep = R.task_failures(data.tasks, data.runs)
    got = {(r.process, r.exit_status): r.failed_attempts for r in rep.itertuples()}
    assert got == dict(expected)
    assert str(rep["exit_status"].dtype) == "Int64"
    # most failures first
    assert list(rep["failed_attempts"]) == sorted(rep["failed_attempts"], reverse=True)
    lost = rep[rep["exit_status"] == 2147483647]
    assert lost["exit_meaning"].str.contains("no exit code").all()


def test_failed_cost_and_recovery_match_raw_json(data, raw):
    failed = raw_failed(raw)
    rep = R.task_failures(data.tasks, data.runs, by="run_id").set_index("run_id")
    for rid in {t["run_id"] for t in failed}:
        mine = [t for t in failed if t["run_id"] == rid]
        assert rep.loc[rid, "failed_attempts"] == len(mine)
        assert rep.loc[rid, "cost"] == pytest.approx(sum(t["cost"] for t in mine))
        assert rep.loc[rid, "recovered"] == sum(raw_recovered(raw, t) for t in mine)
    # in the real data every failed attempt was retried successfully
    assert rep["unrecovered"].sum() == 0


def test_task_attempts_eventually_succeeded_matches_raw_json(data, raw):
    att = R.task_attempts(data.tasks)
    f = att[att["status"] == "FAILED"]
    expected = {(t["run_id"], t["taskId"]): raw_recovered(raw, t) for t in raw_failed(raw)}
    got = {(r.run_id, r.task_id): bool(r.eventually_succeeded) for r in f.itertuples()}
    assert got == expected
    retries = att[att["attempt"] > 1]
    n_retries = sum(t["attempt"] > 1 for d in raw.values() for t in d["tasks"])
    assert len(retries) == n_retries == 20
    assert retries["eventually_succeeded"].all()


def test_failure_report_by_month(data, raw):
    rep = R.failure_report(data.tasks, data.runs)
    row = rep.set_index(["period_label", "pipeline"]).loc[("2025-09", "nf-core/sarek")]
    doc = raw["3dLeF2W4ju5og4"]
    failed = [t for t in doc["tasks"] if t["status"] == "FAILED"]
    assert row["runs"] == 2 and row["runs_succeeded"] == 2 and row["failure_rate"] == 0.0
    assert row["failed_attempts"] == len(failed) == 19
    assert row["failed_cost"] == pytest.approx(sum(t["cost"] for t in failed))
    assert row["runs_needing_attention"] == 1
    assert rep["runs_needing_attention"].sum() == 2
    assert rep["failed_unrecovered"].sum() == 0


def test_runs_needing_attention(data):
    att = R.runs_needing_attention(data.tasks, data.runs)
    assert set(att["run_id"]) == {"15dvxY1LnZYrYe", "3dLeF2W4ju5og4"}
    row = att.set_index("run_id").loc["15dvxY1LnZYrYe"]
    assert row["failed_attempts"] == 1 and row["retried_attempts"] == 1


def test_unrecovered_failure_and_failure_rate(make_tasks, make_runs):
    runs = make_runs(
        [
            {"run_id": "ok", "status": "SUCCEEDED", "project_name": "p", "complete": "2025-09-05"},
            {"run_id": "bad", "status": "FAILED", "project_name": "p", "complete": "2025-09-06"},
            {
                "run_id": "stop",
                "status": "CANCELLED",
                "project_name": "p",
                "complete": "2025-09-07",
            },
        ]
    )
    tasks = make_tasks(
        [
            {
                "run_id": "ok",
                "task_id": 1,
                "name": "A (x)",
                "status": "FAILED",
                "attempt": 1,
                "exit_status": 137,
                "cost": 1.0,
                "complete": "2025-09-05",
            },
            {
                "run_id": "ok",
                "task_id": 2,
                "name": "A (x)",
                "status": "COMPLETED",
                "attempt": 2,
                "cost": 2.0,
                "complete": "2025-09-05",
            },
            {
                "run_id": "bad",
                "task_id": 1,
                "name": "B (y)",
                "status": "FAILED",
                "attempt": 1,
                "exit_status": 1,
                "cost": None,
                "complete": "2025-09-06",
            },
            {
                "run_id": "bad",
                "task_id": 2,
                "name": "B (y)",
                "status": "FAILED",
                "attempt": 2,
                "exit_status": 1,
                "cost": 3.0,
                "complete": "2025-09-06",
            },
            # a success with a *lower* attempt number does not recover a failure
            {
                "run_id": "bad",
                "task_id": 3,
                "name": "C (z)",
                "status": "COMPLETED",
                "attempt": 1,
                "complete": "2025-09-06",
            },
            {
                "run_id": "bad",
                "task_id": 4,
                "name": "C (z)",
                "status": "FAILED",
                "attempt": 1,
                "exit_status": 1,
                "complete": "2025-09-06",
            },
        ]
    )
    rep = R.failure_report(tasks, runs, period="month")
    r = rep.iloc[0]
    assert (r["runs"], r["runs_succeeded"], r["runs_failed"], r["runs_cancelled"]) == (3, 1, 1, 1)
    assert r["failure_rate"] == 0.5
    assert r["failed_attempts"] == 4 and r["failed_recovered"] == 1 and r["failed_unrecovered"] == 3
    assert r["failed_cost"] == 4.0 and r["failed_without_cost"] == 2
    assert r["runs_needing_attention"] == 1 and r["retried_attempts"] == 2
    tf = R.task_failures(tasks, runs, by="exit_status").set_index("exit_status")
    assert tf.loc[137, "recovered"] == 1 and tf.loc[1, "unrecovered"] == 3
    assert "SIGKILL" in tf.loc[137, "exit_meaning"]


def test_exit_status_meaning():
    m = R.exit_status_meaning([0, 1, 137, 143, 2147483647, None])
    assert m.iloc[0] == "success" and "SIGTERM" in m.iloc[3] and pd.isna(m.iloc[5])


def test_errors_and_empty_inputs(data):
    with pytest.raises(ReportError, match="task_failures"):
        R.failure_report(data.tasks, data.runs, by="process")
    with pytest.raises(ReportError, match="valid names"):
        R.task_failures(data.tasks, data.runs, by="exit_code")
    t, r = F.empty_frame(F.TASKS), F.empty_frame(F.RUNS)
    for fn in (R.failure_report, R.task_failures, R.runs_needing_attention):
        empty, full = fn(t, r), fn(data.tasks, data.runs)
        assert len(empty) == 0 and list(empty.columns) == list(full.columns), fn.__name__
        assert (empty.dtypes == full.dtypes).all(), fn.__name__
    assert len(R.task_attempts(t)) == 0
