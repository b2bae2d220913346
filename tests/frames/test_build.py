"""Frame builders against the bundled real runs and the real API fixtures.

Expected values come from the raw JSON read here with ``json``, never from the builders.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pandas as pd
import pyarrow as pa
import pytest

from seqera_analytics import frames as F
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "api-responses"
RAW_RUNS = sorted(bundled_runs_dir().glob("*.json"))

# API field -> column, for the straight copies (no unit change beyond ms -> timedelta).
TASK_FIELDS = {c.source: c.name for c in F.TASKS.columns if c.source}


def raw_tasks(path: Path) -> list[dict]:
    return [t["task"] for t in json.loads(path.read_text())["tasks"]]


def expected(value, col: F.Column):
    """The raw API value as the column should hold it."""
    if value is None:
        return None
    if pa.types.is_timestamp(col.type):
        return pd.Timestamp(value)  # ISO-8601 ...Z -> tz-aware UTC
    if pa.types.is_duration(col.type):
        return pd.Timedelta(milliseconds=int(value))
    return value


def same(a, b) -> bool:
    if b is None:
        return a is None or pd.isna(a)
    return a == b


@pytest.mark.parametrize("path", RAW_RUNS, ids=lambda p: p.stem)
def test_every_task_field_equals_the_raw_json(path):
    tasks = raw_tasks(path)
    df = F.to_pandas(F.tasks_table(tasks, run_id=path.stem, workspace_id=7))
    assert len(df) == len(tasks)
    assert (df["run_id"] == path.stem).all() and (df["workspace_id"] == 7).all()
    for i, raw in enumerate(tasks):
        row = df.iloc[i]
        for source, name in TASK_FIELDS.items():
            want = expected(raw.get(source), F.TASKS[name])
            assert same(row[name], want), (path.stem, raw["taskId"], name, row[name], want)


def test_dtypes_follow_the_schema():
    df = F.to_pandas(F.tasks_table(raw_tasks(RAW_RUNS[0]), run_id="x"))
    assert str(df["submit"].dtype) == "datetime64[ms, UTC]"
    assert str(df["realtime"].dtype) == "timedelta64[ms]"
    assert str(df["peak_rss"].dtype) == "Int64"
    assert str(df["cost"].dtype) == "Float64"
    assert str(df["process"].dtype) == "string"
    assert str(df["task_id"].dtype) == "Int64"


def test_exit_as_string_from_an_older_server():
    # A real /tasks response from a Platform < 26: every task has "exit": "0" (a string).
    body = json.loads((FIXTURES / "runs" / "runs_tasks.json").read_text())
    tasks = [t["task"] for t in body["tasks"]]
    assert all(isinstance(t["exit"], str) for t in tasks)
    no_status = [dict(t, exitStatus=None) for t in tasks]
    df = F.to_pandas(F.tasks_table(no_status, run_id="r"))
    assert list(df["exit_status"]) == [int(t["exit"]) for t in tasks]


@pytest.mark.parametrize("junk", ["-", "", " ", "null", "n/a"])
def test_placeholders_for_numbers_become_na(junk):
    task = {"taskId": 1, "status": "COMPLETED", "exit": junk, "exitStatus": None, "cost": junk,
            "peakRss": junk, "realtime": junk, "pcpu": junk, "submit": junk}
    df = F.to_pandas(F.tasks_table([task, {"taskId": 2, "cost": 1.5, "peakRss": 10}], run_id="r"))
    for col in ("exit_status", "cost", "peak_rss", "realtime", "pcpu", "submit"):
        assert pd.isna(df.loc[0, col]), col
    assert df.loc[1, "cost"] == 1.5 and df.loc[1, "peak_rss"] == 10


def test_every_nullable_field_null_gives_na_not_an_error():
    task = {source: None for source in TASK_FIELDS}
    df = F.to_pandas(F.tasks_table([task], run_id="r"))
    assert df.drop(columns=["run_id"]).isna().all(axis=None)


def test_large_byte_counts_and_pcpu_above_100_survive():
    big = 6_639_746_943_055  # a real run's readBytes: needs int64
    task = {"taskId": 1, "rchar": big, "peakRss": 2**40, "pcpu": 709.3}
    df = F.to_pandas(F.tasks_table([task], run_id="r"))
    assert df.loc[0, "rchar"] == big and df.loc[0, "peak_rss"] == 2**40
    assert df.loc[0, "pcpu"] == pytest.approx(709.3)


def test_unknown_fields_are_ignored():
    task = {"taskId": 3, "brandNewField": {"x": [1, 2]}, "gpuMetrics": {"pct": 5}}
    df = F.to_pandas(F.tasks_table([task], run_id="r"))
    assert list(df["task_id"]) == [3] and "brandNewField" not in df.columns


def test_wrongly_typed_values_are_coerced_or_dropped_not_raised():
    task = {"taskId": "12", "cpus": 2.0, "memory": "1073741824", "name": 5, "process": {"a": 1}}
    df = F.to_pandas(F.tasks_table([task], run_id="r"))
    assert df.loc[0, "task_id"] == 12 and df.loc[0, "cpus"] == 2 and df.loc[0, "memory"] == 2**30
    assert df.loc[0, "name"] == "5" and pd.isna(df.loc[0, "process"])


def test_timestamps_in_other_iso_forms_parse_as_utc():
    tasks = [{"taskId": 1, "submit": "2025-03-31T18:17:20+02:00"},
             {"taskId": 2, "submit": "2025-03-31T16:17:20.5Z"},
             {"taskId": 3, "submit": "not a date"}]
    df = F.to_pandas(F.tasks_table(tasks, run_id="r"))
    assert df.loc[0, "submit"] == pd.Timestamp("2025-03-31T16:17:20Z")
    assert df.loc[1, "submit"] == pd.Timestamp("2025-03-31T16:17:20.5Z")
    assert pd.isna(df.loc[2, "submit"])


def test_task_records_decoded_by_msgspec_build_the_same_table_as_dicts():
    path = RAW_RUNS[0]
    page = json.dumps({"tasks": json.loads(path.read_text())["tasks"], "total": 0}).encode()
    item = msgspec.defstruct("Item", [("task", F.TaskRecord)])
    page_type = msgspec.defstruct("Page", [("tasks", list[item])])
    records = [i.task for i in msgspec.json.decode(page, type=page_type).tasks]
    a = F.tasks_table(records, run_id="r")
    b = F.tasks_table(raw_tasks(path), run_id="r")
    assert a.equals(b)


@pytest.mark.parametrize("path", RAW_RUNS, ids=lambda p: p.stem)
def test_runs_table_carries_workflow_and_progress(path):
    raw = json.loads(path.read_text())
    wf, wp = raw["workflow"], raw["progress"]["workflowProgress"]
    element = {"workflow": wf, "progress": raw["progress"], "orgName": "o", "workspaceName": "w",
               "workspaceId": 5, "labels": [{"name": "team", "value": "x", "resource": True},
                                            {"name": "prod", "value": None}]}
    df = F.to_pandas(F.runs_table([element]))
    row = df.iloc[0]
    assert row["run_id"] == wf["id"] and row["workspace"] == "o/w" and row["workspace_id"] == 5
    assert row["project_name"] == wf["projectName"] and row["status"] == wf["status"]
    assert row["submit"] == pd.Timestamp(wf["submit"]) and row["complete"] == pd.Timestamp(wf["complete"])
    assert row["duration"] == pd.Timedelta(milliseconds=wf["duration"])
    assert row["cost"] == pytest.approx(wp["cost"]) and row["cpu_time"] == pd.Timedelta(milliseconds=wp["cpuTime"])
    assert row["memory_rss"] == wp["memoryRss"] and row["tasks_cached"] == wp["cached"]
    assert row["tasks_failed"] == wp["failed"] and row["resume"] == wf["resume"]
    assert list(row["labels"]) == ["team=x", "prod"]
    assert row["stats_succeed_duration"] == pd.Timedelta(milliseconds=wf["stats"]["succeedDuration"])


def test_runs_without_progress_or_labels_give_null_load():
    wf = json.loads(RAW_RUNS[0].read_text())["workflow"]
    df = F.to_pandas(F.runs_table([{"workflow": wf, "labels": None}], workspace_id=9, workspace="a/b"))
    assert pd.isna(df.loc[0, "cost"]) and df.loc[0, "labels"] is None
    assert df.loc[0, "workspace_id"] == 9 and df.loc[0, "workspace"] == "a/b"


def test_submitted_run_fixture_with_nulls():
    # Real GET /workflow/{id} of a SUBMITTED run: start, complete, duration, stats... are null.
    body = json.loads((FIXTURES / "workflow_view.json").read_text())
    df = F.to_pandas(F.runs_table([body]))
    assert df.loc[0, "status"] == "SUBMITTED"
    assert pd.isna(df.loc[0, "start"]) and pd.isna(df.loc[0, "duration"])


@pytest.mark.parametrize("path", RAW_RUNS, ids=lambda p: p.stem)
def test_process_metrics_long_form(path):
    metrics = json.loads(path.read_text())["metrics"]
    df = F.to_pandas(F.process_metrics_table(metrics, run_id="r"))
    present = sum(1 for m in metrics for k in ("cpu", "mem", "vmem", "time", "reads", "writes",
                                                "cpuUsage", "memUsage", "timeUsage") if m.get(k))
    assert len(df) == present * 6
    m0 = next(m for m in metrics if m.get("mem"))
    got = df[(df.process == m0["process"]) & (df.metric == "mem") & (df.stat == "max")]["value"]
    assert got.iloc[0] == m0["mem"]["max"] and (df[df.metric == "mem"]["unit"] == "bytes").all()


def test_process_progress_counters():
    raw = json.loads(RAW_RUNS[0].read_text())["progress"]
    df = F.to_pandas(F.process_progress_table(raw, run_id="r", workspace_id=1))
    assert len(df) == len(raw["processesProgress"])
    assert df["tasks_succeeded"].sum() == sum(p["succeeded"] for p in raw["processesProgress"])


def test_workspaces_table_drops_org_only_rows():
    rows = json.loads((FIXTURES / "workspaces" / "workspaces_list.json").read_text())["orgsAndWorkspaces"]
    df = F.to_pandas(F.workspaces_table(rows))
    assert sorted(df["workspace"]) == ["organization1/workspace1", "organization2/workspace2"]
    assert df["workspace_id"].dtype == "Int64"


def test_pandas_round_trip_is_exact():
    table = F.tasks_table(raw_tasks(RAW_RUNS[1]), run_id="r", workspace_id=3)
    back = F.from_pandas(F.to_pandas(table), F.TASKS)
    assert back.equals(table)


def test_describe_documents_every_column():
    for spec in F.TABLES.values():
        doc = F.describe(spec)
        assert list(doc["column"]) == spec.names
        assert doc["description"].str.len().min() > 0


def test_bundles_and_their_tables_match_in_size():
    for b in iter_run_bundles(bundled_runs_dir()):
        assert F.tasks_table(b.tasks, run_id=b.run_id).num_rows == len(b.tasks)
