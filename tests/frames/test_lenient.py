"""The frame builders never raise on odd JSON: any JSON value in any field gives a table typed
by the schema, wrong types become NA (or are coerced when unambiguous, ``"123"`` -> 123), and
non-object elements of record lists are skipped.

These builders read API responses as well as files, so they are the last line of defence:
the API layer may hand them whatever a server sent.
"""

from __future__ import annotations

import json
import math

import msgspec
import pandas as pd
import pyarrow as pa
import pytest

from seqera_analytics import frames as F
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.frames.schema import METRIC_STATS, METRIC_UNITS

RAW = json.loads(min(bundled_runs_dir().glob("*.json")).read_text())
WF = RAW["workflow"]

# Every kind of JSON value (plus the NaN/Infinity tokens Python's json accepts).
JUNK = {
    "null": None, "true": True, "false": False, "zero": 0, "negative": -1, "int64 max + 1": 2**63,
    "int64 min - 1": -(2**63) - 1, "2**64": 2**64, "10**30": 10**30, "float": 1.5, "1e300": 1e300,
    "-1e300": -1e300, "nan": math.nan, "inf": math.inf, "empty string": "", "word": "abc",
    "numeric string": "123", "huge numeric string": "1" * 40, "iso date": "2025-01-01T00:00:00Z",
    "epoch ms 10**17": 10**17, "empty list": [], "list of junk": [1, "a", None, {"b": 2}],
    "empty object": {}, "object": {"a": 1}, "nested": {"name": {"x": [1]}, "value": [2]},
}
JUNK_IDS = list(JUNK)
JUNK_VALUES = list(JUNK.values())


def check_schema(table: pa.Table, spec: F.TableSpec) -> pd.DataFrame:
    assert table.schema.equals(spec.arrow_schema)
    df = F.to_pandas(table)
    assert list(df.columns) == spec.names
    return df


def sources(spec: F.TableSpec, prefix: str = "") -> list[str]:
    return [c.source[len(prefix):] for c in spec.columns
            if c.source and c.source.startswith(prefix) and "." not in c.source[len(prefix):]]


def nest(flat: dict[str, object]) -> dict[str, object]:
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    out: dict[str, object] = {}
    for path, value in flat.items():
        cur = out
        *parents, leaf = path.split(".")
        for p in parents:
            cur = cur.setdefault(p, {})  # type: ignore[assignment]
        cur[leaf] = value
    return out


# ---------------------------------------------------------------------------- any value in any field
@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_tasks_table_takes_any_json_value_in_every_field(junk):
    task = {src: junk for src in sources(F.TASKS)}
    task["exit"] = junk
    ok = {"taskId": 7, "memory": 1024, "submit": "2025-01-01T00:00:00Z"}
    ws = None if isinstance(junk, list) else junk  # a list is one workspace id per task
    df = check_schema(F.tasks_table([task, ok], run_id="r", workspace_id=ws), F.TASKS)
    assert len(df) == 2 and df.loc[1, "task_id"] == 7 and df.loc[1, "memory"] == 1024
    assert df.loc[1, "submit"] == pd.Timestamp("2025-01-01T00:00:00Z")


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_task_records_decoded_by_msgspec_take_any_json_value(junk):
    # TaskRecord fields are typed Any, so a record holds whatever the server sent.
    record = F.TaskRecord(**{src: junk for src in sources(F.TASKS)})
    df = check_schema(F.tasks_table([record, F.TaskRecord(taskId=3)], run_id="r"), F.TASKS)
    assert len(df) == 2 and df.loc[1, "task_id"] == 3


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_runs_table_takes_any_json_value_in_every_field(junk):
    flat = {src: junk for src in (c.source for c in F.RUNS.columns) if src}
    element = nest(flat)
    df = check_schema(F.runs_table([element, {"workflow": WF}], workspace_id=junk, workspace=None), F.RUNS)
    assert len(df) == 2 and df.loc[1, "run_id"] == WF["id"]


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_runs_table_takes_any_json_value_as_a_whole_substructure(junk):
    elements = [{"workflow": junk, "progress": junk, "labels": junk, "workspaceId": junk, "orgName": junk,
                 "workspaceName": junk},
                {"workflow": WF, "progress": {"workflowProgress": junk}},
                {"workflow": {**WF, "stats": junk, "manifest": junk, "nextflow": junk}}]
    df = check_schema(F.runs_table(elements), F.RUNS)
    assert len(df) == 3 and list(df.run_id[1:]) == [WF["id"], WF["id"]]


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_process_metrics_table_takes_any_json_value(junk):
    metrics = [{"process": junk, **{api: junk for api in METRIC_UNITS}},
               {"process": "p", "cpu": {s: junk for s in METRIC_STATS}},
               {"process": "q", "mem": {"mean": 5, "min": 1, "q1": 2, "q2": 3, "q3": 4, "max": 9}}]
    df = check_schema(F.process_metrics_table(metrics, run_id="r", workspace_id=junk), F.PROCESS_METRICS)
    assert list(df[(df.process == "q").fillna(False).astype(bool)]["value"]) == [5, 1, 2, 3, 4, 9]
    check_schema(F.process_metrics_table(junk, run_id="r"), F.PROCESS_METRICS)
    check_schema(F.process_metrics_table([junk], run_id="r"), F.PROCESS_METRICS)


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_process_progress_table_takes_any_json_value(junk):
    row = {src: junk for src in sources(F.PROCESS_PROGRESS)}
    progress = {"processesProgress": [junk, row, {"process": "p", "succeeded": 4}]}
    df = check_schema(F.process_progress_table(progress, run_id="r", workspace_id=junk), F.PROCESS_PROGRESS)
    assert df.iloc[-1]["process"] == "p" and df.iloc[-1]["tasks_succeeded"] == 4
    check_schema(F.process_progress_table(junk, run_id="r"), F.PROCESS_PROGRESS)
    check_schema(F.process_progress_table({"processesProgress": junk}, run_id="r"), F.PROCESS_PROGRESS)


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=JUNK_IDS)
def test_workspaces_table_takes_any_json_value(junk):
    rows = [junk, {src: junk for src in sources(F.WORKSPACES)},
            {"workspaceId": 5, "orgName": "o", "workspaceName": "w", "roles": ["owner"]}]
    df = check_schema(F.workspaces_table(rows), F.WORKSPACES)
    assert df.iloc[-1]["workspace"] == "o/w" and list(df.iloc[-1]["roles"]) == ["owner"]
    check_schema(F.workspaces_table(junk), F.WORKSPACES)  # not even a list


# ---------------------------------------------------------------------------- the known cases, value by value
def test_labels_that_are_not_a_list_are_na():
    elements = [{"workflow": WF, "labels": v} for v in (5, "abc", {"name": "x"}, True)]
    df = F.to_pandas(F.runs_table(elements))
    assert df["labels"].isna().all()


def test_junk_label_entries_are_skipped_and_structured_values_dropped():
    labels = [None, 5, {"name": {"a": 1}}, {"name": ""}, {"name": "team", "value": {"x": 1}},
              {"name": "env", "value": 0}, "plain", ""]
    df = F.to_pandas(F.runs_table([{"workflow": WF, "labels": labels}]))
    assert list(df.loc[0, "labels"]) == ["team", "env=0", "plain"]


def test_string_workspace_id_in_a_run_element_is_read_as_a_number():
    df = F.to_pandas(F.runs_table([{"workflow": WF, "workspaceId": "123"},
                                   {"workflow": WF, "workspaceId": "abc"},
                                   {"workflow": WF}], workspace_id=9))
    assert list(df["workspace_id"]) == [123, 9, 9]


def test_string_workspace_id_given_to_tasks_and_progress_is_read_as_a_number():
    tasks = F.to_pandas(F.tasks_table([{"taskId": 1}], run_id="r", workspace_id="123"))
    prog = F.to_pandas(F.process_progress_table({"processesProgress": [{"process": "p"}]}, run_id="r",
                                                workspace_id="123"))
    mets = F.to_pandas(F.process_metrics_table(RAW["metrics"], run_id="r", workspace_id="123"))
    assert tasks.workspace_id.iloc[0] == 123 and prog.workspace_id.iloc[0] == 123
    assert (mets.workspace_id == 123).all()


@pytest.mark.parametrize("value", [1e300, 10**17, -(10**17), 2**63, math.inf, True, {"a": 1}, [1]],
                         ids=["1e300", "10**17", "-10**17", "2**63", "inf", "true", "object", "list"])
def test_timestamps_that_are_out_of_range_or_not_dates_are_na(value):
    tasks = F.to_pandas(F.tasks_table([{"taskId": 1, "submit": value}], run_id="r"))
    runs = F.to_pandas(F.runs_table([{"workflow": {**WF, "submit": value, "complete": value}}]))
    assert pd.isna(tasks.loc[0, "submit"]) and pd.isna(runs.loc[0, "submit"]) and pd.isna(runs.loc[0, "complete"])
    assert runs.loc[0, "start"] == pd.Timestamp(WF["start"])


def test_epoch_milliseconds_in_range_still_parse_next_to_iso_strings():
    tasks = [{"taskId": 1, "submit": 1735689600000}, {"taskId": 2, "submit": "2025-01-01T00:00:00+01:00"},
             {"taskId": 3, "submit": 1735689600000.0}, {"taskId": 4, "submit": 10**17}]
    df = F.to_pandas(F.tasks_table(tasks, run_id="r"))
    assert list(df["submit"][:3]) == [pd.Timestamp("2025-01-01T00:00:00Z"), pd.Timestamp("2024-12-31T23:00:00Z"),
                                      pd.Timestamp("2025-01-01T00:00:00Z")]
    assert pd.isna(df.loc[3, "submit"])


def test_integers_outside_int64_are_na():
    task = {"taskId": 2**70, "memory": 2**64, "peakRss": 10**30, "realtime": 2**63, "cpus": 1e300,
            "disk": "99999999999999999999", "rchar": -(2**63) - 1, "wchar": 2**63 - 1}
    df = F.to_pandas(F.tasks_table([task], run_id="r"))
    for col in ("task_id", "memory", "peak_rss", "realtime", "cpus", "disk", "rchar"):
        assert pd.isna(df.loc[0, col]), col
    assert df.loc[0, "wchar"] == 2**63 - 1


def test_huge_integers_for_float_columns_are_coerced():
    df = F.to_pandas(F.tasks_table([{"taskId": 1, "cost": 2**64, "pcpu": 2**53 + 1}], run_id="r"))
    assert df.loc[0, "cost"] == float(2**64) and df.loc[0, "pcpu"] == float(2**53 + 1)


def test_a_run_element_whose_workflow_is_not_an_object_gives_a_row_of_na():
    df = F.to_pandas(F.runs_table([{"workflow": "abc", "workspaceId": 3}, {"workflow": None}, {"workflow": [WF]}]))
    assert len(df) == 3 and df["run_id"].isna().all() and df["submit"].isna().all()
    assert df.loc[0, "workspace_id"] == 3


def test_junk_run_elements_are_skipped():
    df = F.to_pandas(F.runs_table([None, "x", 5, [WF], {"workflow": WF}]))
    assert list(df["run_id"]) == [WF["id"]]


def test_a_string_where_a_list_belongs_is_na_not_split_into_characters():
    element = {"workflow": WF, "progress": {"workflowProgress": {"executors": "awsbatch"}}}
    df = F.to_pandas(F.runs_table([element, {"workflow": WF, "progress": {"workflowProgress": {
        "executors": ["awsbatch", None, 5, {"a": 1}]}}}]))
    assert df.loc[0, "executors"] is None or pd.isna(df.loc[0, "executors"])
    assert list(df.loc[1, "executors"]) == ["awsbatch", "5"]
    ws = F.to_pandas(F.workspaces_table([{"workspaceId": 1, "roles": "owner"}]))
    assert ws.loc[0, "roles"] is None or pd.isna(ws.loc[0, "roles"])


def test_progress_that_is_not_an_object_gives_null_load():
    df = F.to_pandas(F.runs_table([{"workflow": WF, "progress": [1]},
                                   {"workflow": WF, "progress": {"workflowProgress": [1]}}]))
    assert df["cost"].isna().all() and df["cpus"].isna().all()


def test_junk_tasks_are_skipped_and_per_task_ids_follow():
    tasks = [{"taskId": 1}, None, 5, "x", [1], {"taskId": 2}]
    df = F.to_pandas(F.tasks_table(tasks, run_id=["a", "b", "c", "d", "e", "f"], workspace_id=[1, 2, 3, 4, 5, 6]))
    assert list(df["task_id"]) == [1, 2] and list(df["run_id"]) == ["a", "f"] and list(df["workspace_id"]) == [1, 6]


def test_non_object_metrics_entries_are_skipped():
    good = RAW["metrics"][0]
    want = F.to_pandas(F.process_metrics_table([good], run_id="r"))
    for metrics in ([None, good, 5], {"a": good}, [good, "x", [good]]):
        got = F.to_pandas(F.process_metrics_table(metrics, run_id="r"))
        if isinstance(metrics, dict):
            assert got.empty
        else:
            pd.testing.assert_frame_equal(got, want)


def test_junk_in_processes_progress_is_skipped():
    rows = RAW["progress"]["processesProgress"]
    want = F.to_pandas(F.process_progress_table({"processesProgress": rows}, run_id="r"))
    got = F.to_pandas(F.process_progress_table({"processesProgress": [None, *rows, 5, "x"]}, run_id="r"))
    pd.testing.assert_frame_equal(got, want)
    assert F.process_progress_table([1], run_id="r").num_rows == 0


def test_metric_values_of_the_wrong_type_are_na_or_coerced():
    metrics = [{"process": {"a": 1}, "cpu": {"mean": "12.5", "min": [1], "q1": None, "q2": True, "q3": 10,
                                               "max": 2**64}}]
    df = F.to_pandas(F.process_metrics_table(metrics, run_id="r")).set_index("stat")
    assert pd.isna(df.loc["mean", "process"])
    assert df.loc["mean", "value"] == 12.5 and pd.isna(df.loc["min", "value"]) and pd.isna(df.loc["q1", "value"])
    assert df.loc["max", "value"] == float(2**64)


def test_workspaces_with_a_non_numeric_id_are_dropped_and_numeric_strings_kept():
    rows = [{"workspaceId": "abc", "orgName": "o", "workspaceName": "a"},
            {"workspaceId": "12", "orgName": "o", "workspaceName": "b"},
            {"workspaceId": None, "orgName": "o"}, None, "x",
            {"workspaceId": 13, "orgName": {"a": 1}, "workspaceName": "c"}]
    df = F.to_pandas(F.workspaces_table(rows))
    assert list(df["workspace_id"]) == [12, 13] and df.loc[0, "workspace"] == "o/b" and pd.isna(df.loc[1, "workspace"])


def test_the_fast_path_is_unchanged_for_clean_records():
    # Clean msgspec records take the one-call struct conversion; the result equals the dict path.
    tasks = [t["task"] for t in RAW["tasks"]]
    page = json.dumps(tasks).encode()
    records = msgspec.json.decode(page, type=list[F.TaskRecord])
    assert F.tasks_table(records, run_id="r", workspace_id=1).equals(F.tasks_table(tasks, run_id="r", workspace_id=1))
