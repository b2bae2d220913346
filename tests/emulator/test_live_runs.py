"""Runs added while the emulator runs: listing order, RUNNING snapshots, finishing, lastUpdated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from spec_check import spec_validator

from seqera_analytics.emulator import Emulator

from .helpers import Api, check_all_rules


def _run(
    api: Api, wid: int, run_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    wf = api.json(f"/workflow/{run_id}", workspaceId=wid)["workflow"]
    tasks = api.all_tasks(run_id, wid)
    progress = api.json(f"/workflow/{run_id}/progress", workspaceId=wid)["progress"]
    metrics = api.json(f"/workflow/{run_id}/metrics", workspaceId=wid)["metrics"]
    return wf, tasks, progress, metrics


def test_added_runs_are_newest_first(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(synthetic_runs=20, rate_limit=None)
    api = api_for(emu)
    wid = emu.workspace_id("synthetic/scale")
    before = [w["workflow"]["id"] for w in api.all_runs(wid)]
    first = emu.add_runs(2)
    second = emu.add_runs(3, status="FAILED")
    listed = api.all_runs(wid)
    ids = [w["workflow"]["id"] for w in listed]
    assert ids == list(reversed(second)) + list(reversed(first)) + before
    assert len(set(ids)) == 25
    submits = [w["workflow"]["submit"] for w in listed]
    assert submits[:5] == sorted(submits[:5], reverse=True) and len(set(submits[:6])) == 6
    assert submits[4] > submits[5]  # later than every seeded run
    assert [w["workflow"]["status"] for w in listed[:3]] == ["FAILED"] * 3
    for run_id in first + second:
        check_all_rules(*_run(api, wid, run_id))


def test_running_run_then_finish(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=None)
    api = api_for(emu)
    (run_id,) = emu.add_runs(1, status="RUNNING")
    wid = emu.workspace_id("synthetic/scale")  # created on demand
    assert "synthetic/scale" in {w["full_name"] for w in emu.workspaces}

    wf, tasks, progress, metrics = _run(api, wid, run_id)
    assert wf["status"] == "RUNNING" and wf["complete"] is None and wf["stats"] is None
    assert wf["duration"] is None and wf["exitStatus"] is None and wf["success"] is None
    statuses = Counter(t["status"] for t in tasks)
    assert statuses["COMPLETED"] >= 1 and statuses["RUNNING"] + statuses["SUBMITTED"] >= 1
    for t in tasks:
        if t["status"] in ("RUNNING", "SUBMITTED"):
            assert t["complete"] is None and t["cost"] is None and t["exit"] is None
    wp = progress["workflowProgress"]
    assert wp["running"] == statuses["RUNNING"] and wp["loadTasks"] == statuses["RUNNING"]
    check_all_rules(wf, tasks, progress, metrics)
    v = spec_validator()
    v.check({"workflow": wf, "progress": progress}, "DescribeWorkflowResponse")
    v.check({"tasks": [{"task": t} for t in tasks]}, "ListTasksResponse")

    before = wf["lastUpdated"]
    emu.finish_run(run_id)
    wf2, tasks2, progress2, metrics2 = _run(api, wid, run_id)
    assert (
        wf2["status"] == "SUCCEEDED" and wf2["complete"] and wf2["stats"] and wf2["exitStatus"] == 0
    )
    assert wf2["lastUpdated"] > before
    assert {t["status"] for t in tasks2} <= {"COMPLETED", "FAILED"}
    assert len(tasks2) >= len(tasks)
    # the tasks seen while running keep their ids; completed ones did not change
    old = {t["taskId"]: t for t in tasks}
    for t in tasks2:
        if t["taskId"] in old and old[t["taskId"]]["status"] == "COMPLETED":
            assert t == old[t["taskId"]]
    check_all_rules(wf2, tasks2, progress2, metrics2)
    listed = api.json("/workflow", workspaceId=wid)["workflows"][0]["workflow"]
    assert listed["lastUpdated"] == wf2["lastUpdated"] and listed["status"] == "SUCCEEDED"

    with pytest.raises(ValueError, match="not RUNNING"):
        emu.finish_run(run_id)


@pytest.mark.parametrize("end", ["FAILED", "CANCELLED"])
def test_running_run_can_fail_or_be_cancelled(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api], end: str
) -> None:
    emu = make_emulator(rate_limit=None, synthetic_runs=3)
    api = api_for(emu)
    wid = emu.workspace_id("synthetic/scale")
    (run_id,) = emu.add_runs(1, status="RUNNING")
    before = api.json(f"/workflow/{run_id}", workspaceId=wid)["workflow"]["lastUpdated"]
    emu.finish_run(run_id, status=end.lower())
    wf, tasks, progress, metrics = _run(api, wid, run_id)
    assert wf["status"] == end and wf["success"] is False and wf["lastUpdated"] > before
    assert not any(t["status"] in ("RUNNING", "SUBMITTED") for t in tasks)
    terminate = [t for t in tasks if t["errorAction"] == "TERMINATE"]
    assert len(terminate) == (1 if end == "FAILED" else 0)
    check_all_rules(wf, tasks, progress, metrics)


def test_submitted_run(make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]) -> None:
    emu = make_emulator(rate_limit=None)
    api = api_for(emu)
    (run_id,) = emu.add_runs(1, workspace="lab/new-space", status="SUBMITTED")
    wid = emu.workspace_id("lab/new-space")
    wf, tasks, progress, _ = _run(api, wid, run_id)
    assert wf["status"] == "SUBMITTED" and wf["start"] is None and tasks == []
    assert progress["workflowProgress"]["cost"] is None  # like the real SUBMITTED fixture
    emu.finish_run(run_id)
    wf, tasks, progress, metrics = _run(api, wid, run_id)
    assert wf["status"] == "SUCCEEDED" and tasks
    check_all_rules(wf, tasks, progress, metrics)


def test_add_runs_to_a_real_workspace_and_errors(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=None)
    api = api_for(emu)
    new = emu.add_runs(2, workspace="seqeralabs/benchmarks", status="cancelled")
    wid = emu.workspace_id("seqeralabs/benchmarks")
    assert [
        w["workflow"]["id"] for w in api.json("/workflow", workspaceId=wid, max=2)["workflows"]
    ] == new[::-1]
    with pytest.raises(ValueError, match="add_runs"):
        emu.finish_run("1xpti5PH3K2VUW")  # real runs do not change
    with pytest.raises(ValueError, match="not RUNNING"):
        emu.finish_run(new[0])
    with pytest.raises(KeyError):
        emu.finish_run("nope")
    with pytest.raises(ValueError):
        emu.add_runs(1, status="DONE")
    with pytest.raises(ValueError):
        emu.add_runs(-1)
    (running,) = emu.add_runs(1, status="RUNNING")
    with pytest.raises(ValueError):
        emu.finish_run(running, status="RUNNING")
