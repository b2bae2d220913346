"""Efficiency and right-sizing against the raw JSON of the real runs, and the Nextflow
config snippet against a small syntax checker."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from nextflow_config_check import parse_snippet

from seqera_analytics import ReportError
from seqera_analytics import frames as F
from seqera_analytics import reports as R
from seqera_analytics.reports._efficiency import nextflow_cpus, nextflow_memory, nextflow_time

# The strict checker of the snippet's syntax (tests/nextflow_config_check.py): process names
# with only letters, digits, '_' and ':' are their own selector regex.
parse_nextflow_config = parse_snippet


def raw_successful_use(raw):
    """process -> lists of observed use of COMPLETED tasks, from the raw JSON."""
    use: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for d in raw.values():
        for t in d["tasks"]:
            if t["status"] != "COMPLETED":
                continue
            u = use[t["process"]]
            if t["pcpu"] is not None:
                u["cpu"].append(t["pcpu"] / 100)
            if t["peakRss"] is not None:
                u["memory"].append(t["peakRss"])
            if t["realtime"] is not None:
                u["time"].append(t["realtime"] / 3.6e6)
    return use


def test_snippet_parses_and_never_suggests_less_than_the_observed_max(data, raw):
    sug = R.right_size(data.tasks, data.runs)
    text = R.nextflow_config(sug)
    blocks = parse_nextflow_config(text)
    use = raw_successful_use(raw)
    procs = list(use)
    simple = [p.rsplit(":", 1)[-1] for p in procs]
    checked = 0
    for proc, short in zip(procs, simple):
        collides = simple.count(short) > 1
        selector = proc if collides else short
        u = use[proc]
        if min(len(u["cpu"]), len(u["memory"]), len(u["time"])) < 3:
            assert selector not in blocks  # too few observations: no suggestion
            continue
        b = blocks[selector]
        assert b["cpus"] >= max(u["cpu"]), proc
        assert b["memory"] >= max(u["memory"]), proc
        assert b["time"] >= max(u["time"]), proc
        checked += 1
    assert checked >= 20
    # collisions in the real data use the fully qualified name
    assert "NFCORE_METHYLSEQ:METHYLSEQ:FASTQC" in blocks and "FASTQC" not in blocks
    assert "// " in text  # the header and the skipped processes are comments


def test_suggestion_is_quantile_plus_headroom_when_above_the_max(make_tasks):
    # 20 tasks using 1..20 GiB: p95 = 19.05 GiB, + 20 % = 22.86 > max 20 -> 24 GB (2 GB steps)
    tasks = make_tasks(
        [
            {
                "run_id": f"r{i}",
                "task_id": 1,
                "process": "WF:ALIGN",
                "status": "COMPLETED",
                "cpus": 4,
                "memory": 32 * 1024**3,
                "time": 4 * 3_600_000,
                "pcpu": 100.0 * (1 + i % 3),
                "peak_rss": (i + 1) * 1024**3,
                "realtime": 600_000,
                "cost": 1.0,
                "start": "2025-09-01T00:00:00Z",
                "complete": "2025-09-01T00:10:00Z",
            }
            for i in range(20)
        ]
    )
    s = R.right_size(tasks).iloc[0]
    assert s["memory_used_q_gib"] == pytest.approx(np.quantile(np.arange(1, 21), 0.95))
    assert s["suggested_memory"] == "24.GB"
    assert s["suggested_cpus"] == 4  # p95 of 1..3 cores = 3 x 1.2 = 3.6 -> 4
    assert s["suggested_time"] == "20.m"  # 10 min x 1.2 = 12 min -> 20.m
    assert pd.isna(s["note"])
    looser = R.right_size(tasks, quantile=0.5, headroom=0.0).iloc[0]
    assert looser["suggested_memory"] == "20.GB"  # never below the 20 GiB max


def test_min_tasks_gate_and_notes(data):
    strict = R.right_size(data.tasks, data.runs, min_tasks=100)
    assert strict["suggested_cpus"].isna().all()
    assert strict["note"].str.contains("min_tasks").all()
    text = R.nextflow_config(strict)
    assert parse_nextflow_config(text) == {}
    lax = R.right_size(data.tasks, data.runs, min_tasks=1)
    assert lax["suggested_memory"].notna().sum() > strict["suggested_memory"].notna().sum()
    with pytest.raises(ReportError):
        R.right_size(data.tasks, min_tasks=0)
    with pytest.raises(ReportError):
        R.right_size(data.tasks, quantile=1.5)


def test_duplicate_process_rows_are_refused(data):
    by_pipeline = R.right_size(data.tasks, data.runs, by="pipeline,process", min_tasks=1)
    dup = pd.concat([by_pipeline, by_pipeline])
    with pytest.raises(ReportError, match="one row per process"):
        R.nextflow_config(dup)
    one = by_pipeline[by_pipeline["pipeline"] == "nf-core/methylseq"]
    parse_nextflow_config(R.nextflow_config(one))


@pytest.mark.parametrize(
    "nbytes,text",
    [
        (1, "128.MB"),
        (300 * 1024**2, "384.MB"),
        (1024**3, "1.GB"),
        (1024**3 + 1, "2.GB"),
        (15.2 * 1024**3, "16.GB"),
        (17 * 1024**3, "18.GB"),
        (65 * 1024**3, "72.GB"),
        (300 * 1024**3, "320.GB"),
    ],
)
def test_memory_rounding(nbytes, text):
    b, s = nextflow_memory(nbytes)
    assert s == text and b >= nbytes


@pytest.mark.parametrize(
    "minutes,text",
    [
        (0, "10.m"),
        (11, "20.m"),
        (59, "1.h"),
        (61, "90.m"),
        (120, "2.h"),
        (150, "150.m"),
        (361, "7.h"),
        (72 * 60 + 1, "4.d"),
    ],
)
def test_time_rounding(minutes, text):
    h, s = nextflow_time(minutes * 60_000)
    assert s == text and h * 60 >= minutes


def test_cpu_rounding():
    assert [nextflow_cpus(x) for x in (0.01, 1.0, 1.01, 23.375)] == [1, 1, 2, 24]


def test_efficiency_distributions_and_waste_from_raw_json(data, raw):
    rep = R.efficiency_report(data.tasks, data.runs).set_index("process")
    per: dict[str, list[dict]] = defaultdict(list)
    for d in raw.values():
        for t in d["tasks"]:
            if t["status"] == "COMPLETED":
                per[t["process"]].append(t)
    for proc, ts in per.items():
        row = rep.loc[proc]
        cpu = [t["pcpu"] / (100 * t["cpus"]) for t in ts]
        mem = [t["peakRss"] / t["memory"] for t in ts]
        tim = [t["realtime"] / t["time"] for t in ts]
        assert row["tasks"] == len(ts)
        assert row["cpu_usage_median"] == pytest.approx(np.median(cpu))
        assert row["cpu_usage_p90"] == pytest.approx(np.quantile(cpu, 0.9))
        assert row["memory_usage_max"] == pytest.approx(max(mem))
        assert row["time_usage_median"] == pytest.approx(np.median(tim))
        waste = sum(t["cost"] * min(1.0, max(0.0, 1 - max(c, m))) for t, c, m in zip(ts, cpu, mem))
        assert row["wasted_cost"] == pytest.approx(waste)
        assert 0 <= row["wasted_cost"] <= row["cost"] + 1e-12
    # sorted by money wasted
    assert list(rep["wasted_cost"]) == sorted(rep["wasted_cost"], reverse=True)


def test_waste_model_on_one_task(make_tasks):
    tasks = make_tasks(
        [
            {
                "run_id": "r",
                "task_id": 1,
                "process": "P",
                "status": "COMPLETED",
                "cpus": 4,
                "memory": 8 * 1024**3,
                "time": 3_600_000,
                "pcpu": 200.0,
                "peak_rss": 2 * 1024**3,
                "realtime": 60_000,
                "cost": 10.0,
            },
            {
                "run_id": "r",
                "task_id": 2,
                "process": "P",
                "status": "COMPLETED",
                "cpus": 1,
                "memory": 1024**3,
                "time": 3_600_000,
                "pcpu": 150.0,
                "peak_rss": 1024**2,
                "realtime": 60_000,
                "cost": 1.0,
            },  # over-used CPU: nothing wasted
            {
                "run_id": "r",
                "task_id": 3,
                "process": "P",
                "status": "COMPLETED",
                "cpus": 1,
                "memory": 1024**3,
                "time": 3_600_000,
                "pcpu": None,
                "peak_rss": None,
                "realtime": 60_000,
                "cost": 5.0,
            },  # no usage data: left out, counted
        ]
    )
    row = R.efficiency_report(tasks).iloc[0]
    assert row["wasted_cost"] == pytest.approx(10.0 * (1 - 0.5))
    assert row["tasks_without_usage"] == 1 and row["cost"] == 16.0
    assert row["wasted_share"] == pytest.approx(5.0 / 11.0)


def test_empty_and_errors(data):
    t = F.empty_frame(F.TASKS)
    for fn in (R.efficiency_report, R.right_size):
        empty, full = fn(t), fn(data.tasks)
        assert len(empty) == 0 and list(empty.columns) == list(full.columns)
        assert (empty.dtypes == full.dtypes).all()
    assert parse_nextflow_config(R.nextflow_config(R.right_size(t))) == {}
    with pytest.raises(ReportError, match="valid names"):
        R.efficiency_report(data.tasks, by="label")
