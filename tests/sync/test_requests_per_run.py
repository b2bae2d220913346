"""A finished run costs its task pages and nothing else (issue: the minimum number of requests).

Requests are counted by the emulator; expected counts and values come from the bundled run
JSON files (``data/real-runs``), read here directly.
"""

from __future__ import annotations

import copy
import json
import math
import warnings

import pandas as pd
import pytest

from seqera_analytics import fetch, sync
from seqera_analytics.api import RetryPolicy
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.store import load_runs, load_tasks

QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}
WORKSPACES = sorted({r["meta"]["workspace"] for r in RAW.values()})
TASKS = "/workflow/{workflowId}/tasks"
PROGRESS = "/workflow/{workflowId}/progress"
PER_RUN = ("/workflow/{workflowId}/tasks", "/workflow/{workflowId}/progress",
           "/workflow/{workflowId}/metrics", "/workflow/{workflowId}")


def _sync(emu, cache, workspace, **kw):
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sync(workspace, cache=cache, client=c, show_progress=False, **kw)
    finally:
        c.close()


def _per_run(emu) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for r in emu.requests:
        if r.endpoint in PER_RUN:
            key = (r.path.split("/")[2], r.endpoint)
            out[key] = out.get(key, 0) + 1
    return out


def _progress(rid: str) -> dict:
    p = RAW[rid]["progress"]
    return p.get("progress", p)["workflowProgress"]


def _tasks(rid: str) -> list[dict]:
    return [t.get("task", t) for t in RAW[rid]["tasks"]]


def test_each_bundled_run_costs_its_task_pages_and_nothing_else(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    for ws in WORKSPACES:
        _sync(emu, cache, ws)
    counts = _per_run(emu)
    for rid in RAW:
        assert counts.get((rid, TASKS)) == math.ceil(len(RAW[rid]["tasks"]) / 100), rid
    assert {e for _, e in counts} == {TASKS}  # no /progress, /metrics or describe per run
    assert sorted(load_tasks(cache=cache).groupby("run_id").size().items()) == sorted(
        (rid, len(r["tasks"])) for rid, r in RAW.items())


def test_derived_run_load_matches_the_platforms_progress(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    for ws in WORKSPACES:
        _sync(emu, cache, ws)
    runs = load_runs(cache=cache).set_index("run_id")
    exact = {"cpus": "cpus", "memory_rss": "memoryRss", "memory_req": "memoryReq",
             "read_bytes": "readBytes", "write_bytes": "writeBytes",
             "vol_ctx_switch": "volCtxSwitch", "inv_ctx_switch": "invCtxSwitch",
             "tasks_succeeded": "succeeded", "tasks_failed": "failed", "tasks_cached": "cached",
             "tasks_aborted": "aborted", "tasks_ignored": "ignored", "tasks_running": "running",
             "tasks_pending": "pending"}
    for rid in RAW:
        row, want = runs.loc[rid], _progress(rid)
        for col, field in exact.items():
            assert int(row[col]) == want[field], (rid, col)
        assert row["cost"] == pytest.approx(want["cost"], rel=1e-12, abs=1e-9), rid
        # Task times have second precision: each task's complete - start can be 1 s off.
        bound_ms = sum((t["cpus"] or 0) * 1000 for t in _tasks(rid))
        assert abs(row["cpu_time"].total_seconds() * 1000 - want["cpuTime"]) <= bound_ms, rid
        assert row["cpu_efficiency"] == pytest.approx(want["cpuEfficiency"], abs=0.05), rid
        # Peaks are approximations (documented); never more than the sum over all tasks.
        assert 0 < row["peak_tasks"] <= len(RAW[rid]["tasks"])
        assert 0 < row["peak_cpus"] <= want["cpus"]
        assert row["executors"].tolist() == want["executors"]
        assert pd.isna(row["net_cost"])  # only /progress has it (--progress)


def test_progress_asked_for_costs_one_request_per_run_and_gives_the_platforms_values(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    _sync(emu, cache, "seqeralabs/benchmarks", progress=True)
    counts = _per_run(emu)
    runs = load_runs(cache=cache).set_index("run_id")
    mine = [rid for rid, r in RAW.items() if r["meta"]["workspace"] == "seqeralabs/benchmarks"]
    assert mine and sorted(runs.index) == sorted(mine)
    for rid in mine:
        assert counts[(rid, PROGRESS)] == 1
        want = _progress(rid)
        assert int(runs.loc[rid, "peak_cpus"]) == want["peakCpus"]
        assert int(runs.loc[rid, "cpu_time"].total_seconds() * 1000) == want["cpuTime"]
        assert runs.loc[rid, "net_cost"] == pytest.approx(want["netCost"])


def _run_of(rows: int, status: str, tmp_path):
    """1xpti5PH3K2VUW cut to ``rows`` task rows, its counts saying so, with ``status``."""
    raw = copy.deepcopy(RAW["1xpti5PH3K2VUW"])
    raw["tasks"] = raw["tasks"][:rows]
    raw["workflow"]["status"] = status
    raw["workflow"]["stats"].update(succeedCount=rows, failedCount=0, cachedCount=0)
    raw["progress"]["workflowProgress"]["succeeded"] = rows
    d = tmp_path / "runs"
    d.mkdir()
    (d / "1xpti5PH3K2VUW.json").write_text(json.dumps(raw))
    return d


@pytest.mark.parametrize("totals", [True, False])
def test_a_succeeded_run_of_200_tasks_costs_two_pages(make_emulator, tmp_path, totals):
    emu = make_emulator(rate_limit=None, runs_dir=_run_of(200, "SUCCEEDED", tmp_path), task_totals=totals)
    _sync(emu, tmp_path / "c", "seqeralabs/benchmarks")
    assert _per_run(emu) == {("1xpti5PH3K2VUW", TASKS): 2}
    assert len(load_tasks(cache=tmp_path / "c")) == 200


def test_a_failed_run_of_200_tasks_may_cost_one_page_more(make_emulator, tmp_path):
    # No WfStats count covers ABORTED rows, so a failed run's stats do not say where its
    # listing ends: one more page (empty) confirms it.
    emu = make_emulator(rate_limit=None, runs_dir=_run_of(200, "FAILED", tmp_path), task_totals=False)
    _sync(emu, tmp_path / "c", "seqeralabs/benchmarks")
    assert _per_run(emu) == {("1xpti5PH3K2VUW", TASKS): 3}
    assert len(load_tasks(cache=tmp_path / "c")) == 200
