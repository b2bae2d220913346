"""Export round trips: Parquet and CSV, long and wide layouts, metadata and sidecars."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from seqera_analytics import ReportError
from seqera_analytics import frames as F
from seqera_analytics import reports as R


def all_reports(data):
    t, r = data.tasks, data.runs
    return {
        "cost": R.cost_report(t, r, by="pipeline,user,label"),
        "reconcile": R.reconcile_costs(t, r),
        "sessions": R.session_cost_report(t, r),
        "runtime": R.runtime_report(t, r),
        "run_runtimes": R.run_runtimes(t, r),
        "process_runtimes": R.process_runtimes(t, r),
        "failures": R.failure_report(t, r),
        "task_failures": R.task_failures(t, r),
        "attempts": R.task_attempts(t),
        "attention": R.runs_needing_attention(t, r),
        "efficiency": R.efficiency_report(t, r),
        "right_size": R.right_size(t, r),
    }


@pytest.fixture(scope="module")
def reports(data):
    return all_reports(data)


def test_long_layout(reports):
    cost = reports["cost"]
    long = R.to_long(cost)
    metrics = [
        "cost",
        "cached_cost",
        "net_cost",
        "failed_cost",
        "tasks",
        "tasks_cached",
        "tasks_failed",
        "tasks_without_cost",
        "runs",
        "cpu_hours",
    ]
    assert list(long.columns) == [
        "period",
        "period_label",
        "pipeline",
        "user",
        "label",
        "partial",  # an id column since report schema 3 (issue 10: partial periods are marked)
        "metric",
        "value",
        "unit",
    ]
    assert len(long) == len(cost) * len(metrics)
    assert list(long["metric"][: len(metrics)]) == metrics
    first = long[long["metric"] == "cost"]["value"].to_numpy(dtype=float)
    assert np.allclose(first, cost["cost"].to_numpy(dtype=float))
    units = dict(zip(long["metric"], long["unit"]))
    assert units["cost"] == "USD" and units["tasks"] == "count" and units["cpu_hours"] == "h"
    assert str(long["value"].dtype) == "Float64"


@pytest.mark.parametrize(
    "name",
    [
        "cost",
        "reconcile",
        "sessions",
        "runtime",
        "run_runtimes",
        "process_runtimes",
        "failures",
        "task_failures",
        "attempts",
        "attention",
        "efficiency",
        "right_size",
    ],
)
@pytest.mark.parametrize("layout", ["long", "wide"])
def test_parquet_round_trip(reports, tmp_path, name, layout):
    rep = reports[name]
    path = R.to_parquet(rep, tmp_path / f"{name}.parquet", layout=layout)
    expected = R.to_long(rep) if layout == "long" else rep
    back = R.read_report(path)
    plain = pd.read_parquet(path)
    if "run_ids" in expected:  # lists are joined with ';' in files
        expected = expected.assign(run_ids=expected["run_ids"].map(";".join).astype("string"))
    for got in (back, plain):
        pd.testing.assert_frame_equal(got, expected)
    meta = pq.read_schema(path).metadata
    assert meta[b"seqera_analytics.report_schema_version"] == str(R.REPORT_SCHEMA_VERSION).encode()
    assert meta[b"seqera_analytics.report"] == rep.attrs["report"].encode()
    assert back.attrs["report_schema_version"] == R.REPORT_SCHEMA_VERSION
    field = pq.read_schema(path).field("value" if layout == "long" else rep.columns[-1])
    assert b"description" in field.metadata


@pytest.mark.parametrize(
    "name", ["cost", "sessions", "run_runtimes", "task_failures", "attempts", "efficiency"]
)
def test_csv_rereads_with_plain_pandas(reports, tmp_path, name):
    rep = reports[name]
    path = R.to_csv(rep, tmp_path / f"{name}.csv")
    text = path.read_text(encoding="utf-8")
    assert not text.startswith("\ufeff")
    header = text.splitlines()[0].split(",")
    assert header[0] != "" and "Unnamed" not in header[0]  # no index column
    long = R.to_long(rep)
    plain = pd.read_csv(path)
    assert list(plain.columns) == list(long.columns)
    assert len(plain) == len(long)
    want = long["value"].to_numpy(dtype=float, na_value=np.nan)
    assert np.allclose(plain["value"].to_numpy(dtype=float), want, equal_nan=True, rtol=1e-15)
    # digit for digit with a round-trip float parser (pandas 3's default; 2.x's may be 1 ulp off)
    kw = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    exact = pd.read_csv(path, **kw)["value"].to_numpy(dtype=float)
    assert np.array_equal(exact, want, equal_nan=True)
    for col in long.columns:
        if str(long[col].dtype).startswith("datetime64"):
            vals = plain[col].dropna()
            assert vals.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z").all()
            assert (pd.to_datetime(plain[col], utc=True) == long[col]).all()
    # the typed reader gives the long frame back exactly
    pd.testing.assert_frame_equal(
        R.read_report(path),
        long.assign(
            **(
                {"run_ids": long["run_ids"].map(";".join).astype("string")}
                if "run_ids" in long
                else {}
            )
        ),
    )
    side = json.loads((tmp_path / f"{name}.csv.schema.json").read_text())
    assert side["report_schema_version"] == R.REPORT_SCHEMA_VERSION
    assert side["report"] == rep.attrs["report"] and side["layout"] == "long"
    assert [c["name"] for c in side["columns"]] == list(long.columns)
    assert {m["name"] for m in side["metrics"]} == set(long["metric"])


def test_csv_wide_numbers_and_nulls(make_tasks, make_runs, tmp_path):
    tasks = make_tasks(
        [
            {
                "run_id": "a",
                "task_id": 1,
                "status": "RUNNING",
                "cost": None,
                "complete": "2025-09-02",
            },
        ]
    )
    runs = make_runs([{"run_id": "a", "project_name": "nf-core/räksmörgås"}])
    rep = R.cost_report(tasks, runs)
    path = R.export(rep, tmp_path / "wide.csv", layout="wide")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("period,period_label,pipeline,cost,")
    assert lines[1].startswith("2025-09-01T00:00:00Z,2025-09,nf-core/räksmörgås,,")  # null cost
    back = pd.read_csv(path)
    assert pd.isna(back.loc[0, "cost"]) and back.loc[0, "tasks_without_cost"] == 1
    assert R.export(rep, tmp_path / "bom.csv").exists()
    R.to_csv(rep, tmp_path / "bom2.csv", bom=True)
    assert (tmp_path / "bom2.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert pd.read_csv(tmp_path / "bom2.csv", encoding="utf-8-sig").columns[0] == "period"


def test_export_errors(reports, tmp_path):
    with pytest.raises(ReportError, match=".csv or .parquet"):
        R.export(reports["cost"], tmp_path / "x.xlsx")
    with pytest.raises(ReportError, match="layout"):
        R.export(reports["cost"], tmp_path / "x.csv", layout="pivot")
    with pytest.raises(ReportError, match="does not exist"):
        R.export(reports["cost"], tmp_path / "nope" / "x.csv")


def test_empty_report_exports(tmp_path):
    rep = R.cost_report(F.empty_frame(F.TASKS), F.empty_frame(F.RUNS))
    for suffix in ("csv", "parquet"):
        path = R.export(rep, tmp_path / f"empty.{suffix}")
        back = R.read_report(path)
        assert len(back) == 0 and list(back.columns) == list(R.to_long(rep).columns)
