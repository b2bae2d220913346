"""Runtime reports against the raw JSON of the real runs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from seqera_analytics import ReportError
from seqera_analytics import frames as F
from seqera_analytics import reports as R


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def span_ms(t, a="start", b="complete") -> float:
    return (ts(t[b]) - ts(t[a])).total_seconds() * 1000.0


def test_run_wall_queue_and_cpu_hours_from_raw_json(data, raw):
    rr = R.run_runtimes(data.tasks, data.runs).set_index("run_id")
    assert sorted(rr.index) == sorted(raw)
    for rid, doc in raw.items():
        wf = doc["workflow"]
        assert rr.loc[rid, "wall_hours"] == pytest.approx(span_ms(wf) / 3.6e6)
        assert rr.loc[rid, "queue_minutes"] == pytest.approx(span_ms(wf, "submit", "start") / 6e4)
        executed = [t for t in doc["tasks"] if t["status"] != "CACHED"]
        cached = [t for t in doc["tasks"] if t["status"] == "CACHED"]
        cpu_h = sum(t["cpus"] * span_ms(t) for t in executed) / 3.6e6
        assert rr.loc[rid, "cpu_hours"] == pytest.approx(cpu_h)
        assert rr.loc[rid, "cached_cpu_hours"] == pytest.approx(
            sum(t["cpus"] * span_ms(t) for t in cached) / 3.6e6
        )
        # Seqera's cpuTime counts cached tasks too, with timestamps rounded to seconds
        seqera_h = doc["progress"]["workflowProgress"]["cpuTime"] / 3.6e6
        assert rr.loc[rid, "seqera_cpu_hours"] == pytest.approx(seqera_h)
        assert rr.loc[rid, "cpu_hours"] + rr.loc[rid, "cached_cpu_hours"] == pytest.approx(
            seqera_h, rel=1e-3
        )
        used = sum(t["pcpu"] / 100 * t["realtime"] for t in executed if t["pcpu"] is not None)
        req = sum(t["cpus"] * t["realtime"] for t in executed if t["pcpu"] is not None)
        assert rr.loc[rid, "cpu_hours_used"] == pytest.approx(used / 3.6e6)
        assert rr.loc[rid, "cpu_efficiency"] == pytest.approx(used / req)
        assert rr.loc[rid, "tasks"] == len(executed)


def test_runtime_report_by_month(data, raw):
    rep = R.runtime_report(data.tasks, data.runs)
    by = {(r.period_label, r.pipeline): r for r in rep.itertuples()}
    assert set(by) == {
        ("2025-03", "example-lab/sarek"),
        ("2025-09", "nf-core/sarek"),
        ("2025-09", "nf-core/methylseq"),
    }
    sarek = [d for d in raw.values() if d["workflow"]["projectName"] == "nf-core/sarek"]
    walls = [span_ms(d["workflow"]) / 3.6e6 for d in sarek]
    row = by[("2025-09", "nf-core/sarek")]
    assert row.runs == 2
    assert row.wall_hours_median == pytest.approx(np.median(walls))
    assert row.wall_hours_max == pytest.approx(max(walls))
    assert row.wall_hours_p90 == pytest.approx(np.quantile(walls, 0.9))
    assert row.tasks == sum(len(d["tasks"]) for d in sarek)
    assert rep["cpu_hours"].sum() == pytest.approx(
        sum(
            t["cpus"] * span_ms(t)
            for d in raw.values()
            for t in d["tasks"]
            if t["status"] != "CACHED"
        )
        / 3.6e6
    )


def test_runtime_report_rejects_task_keys_with_a_hint(data):
    with pytest.raises(ReportError, match="process_runtimes"):
        R.runtime_report(data.tasks, data.runs, by="process")


def test_process_realtime_distribution_from_raw_json(data, raw):
    rep = R.process_runtimes(data.tasks, data.runs).set_index("process")
    per: dict[str, list[float]] = {}
    for doc in raw.values():
        for t in doc["tasks"]:
            if t["status"] == "COMPLETED":
                per.setdefault(t["process"], []).append(t["realtime"] / 6e4)
    assert set(rep.index) == set(per)
    for proc, vals in per.items():
        row = rep.loc[proc]
        assert row["tasks"] == len(vals)
        assert row["realtime_minutes_median"] == pytest.approx(np.median(vals))
        assert row["realtime_minutes_p90"] == pytest.approx(np.quantile(vals, 0.9))
        assert row["realtime_minutes_max"] == pytest.approx(max(vals))


def test_process_runtimes_per_pipeline_and_month(data):
    rep = R.process_runtimes(data.tasks, data.runs, by="pipeline,process", period="month")
    assert {"period", "period_label", "pipeline", "process"} <= set(rep.columns)
    assert set(rep["period_label"]) == {"2025-03", "2025-09"}
    assert rep["tasks"].sum() == int((data.tasks["status"] == "COMPLETED").sum())


def test_empty_inputs(data):
    t, r = F.empty_frame(F.TASKS), F.empty_frame(F.RUNS)
    for fn, kw in ((R.runtime_report, {}), (R.run_runtimes, {}), (R.process_runtimes, {})):
        empty = fn(t, r, **kw)
        full = fn(data.tasks, data.runs, **kw)
        assert len(empty) == 0
        assert list(empty.columns) == list(full.columns)
        assert (empty.dtypes == full.dtypes).all(), fn.__name__


def test_run_window(data):
    rr = R.run_runtimes(data.tasks, data.runs, since="2025-09-01")
    assert "15dvxY1LnZYrYe" not in set(rr["run_id"]) and len(rr) == 4
    assert str(rr["submit"].dtype) == "datetime64[ms, UTC]"
    assert isinstance(rr["wall_hours"].dtype, pd.Float64Dtype)
