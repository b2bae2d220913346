"""The data served adds up: task sums equal the run's progress, stats and metrics.

For the real runs this shows the data served is the data captured; for synthetic runs it
checks every relationship API-NOTES §5 measured on real runs, recomputed here from the
tasks the API serves.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from seqera_analytics.emulator import Emulator

from .helpers import Api, check_all_rules, check_cost_and_counters


def test_real_runs_cost_and_counters(
    api: Api, emulator: Emulator, real_runs: dict[str, Any]
) -> None:
    for run_id, raw in real_runs.items():
        wid = emulator.workspace_id(raw["meta"]["workspace"])
        tasks = api.all_tasks(run_id, wid)
        progress = api.json(f"/workflow/{run_id}/progress", workspaceId=wid)["progress"]
        assert len(tasks) == len(raw["tasks"])
        check_cost_and_counters(tasks, progress)
        for pp in progress["processesProgress"]:
            mine = Counter(t["status"] for t in tasks if t["process"] == pp["process"])
            assert (pp["succeeded"], pp["failed"], pp["cached"]) == (
                mine["COMPLETED"],
                mine["FAILED"],
                mine["CACHED"],
            )


@pytest.fixture(scope="module")
def synth() -> Iterator[tuple[Api, Emulator, int]]:
    with Emulator(synthetic_runs=60, seed=0, rate_limit=None) as emu:
        api = Api(emu)
        yield api, emu, emu.workspace_id("synthetic/scale")
        api.close()


def fetch(
    api: Api, wid: int, run_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    desc = api.json(f"/workflow/{run_id}", workspaceId=wid)
    tasks = api.all_tasks(run_id, wid)
    progress = api.json(f"/workflow/{run_id}/progress", workspaceId=wid)["progress"]
    metrics = api.json(f"/workflow/{run_id}/metrics", workspaceId=wid)["metrics"]
    assert desc["progress"] == progress
    return desc["workflow"], tasks, progress, metrics


def test_synthetic_runs_add_up(synth: tuple[Api, Emulator, int]) -> None:
    api, _emu, wid = synth
    listed = api.all_runs(wid)
    # a sample: every failed or cancelled run, and every third of the others
    ids = [
        w["workflow"]["id"]
        for i, w in enumerate(listed)
        if w["workflow"]["status"] != "SUCCEEDED" or i % 3 == 0
    ]
    seen: Counter[str] = Counter()
    for run_id in ids:
        wf, tasks, progress, metrics = fetch(api, wid, run_id)
        check_all_rules(wf, tasks, progress, metrics)
        seen[wf["status"]] += 1
    assert seen["SUCCEEDED"] and seen["FAILED"] and seen["CANCELLED"]


def test_synthetic_failures_retries_and_resumes(synth: tuple[Api, Emulator, int]) -> None:
    api, _emu, wid = synth
    runs = {w["workflow"]["id"]: w["workflow"] for w in api.all_runs(wid)}
    price_models, users, null_costs, string_exits, retried = set(), set(), 0, 0, 0
    resumed = [w for w in runs.values() if w["resume"]]
    assert resumed, "some synthetic runs resume earlier ones"
    for run_id, wf in runs.items():
        tasks = api.all_tasks(run_id, wid)
        price_models |= {t["priceModel"] for t in tasks}
        users.add(wf["userName"])
        null_costs += sum(t["cost"] is None for t in tasks)
        string_exits += sum(isinstance(t["exit"], str) for t in tasks)
        assert all(t["disk"] is None for t in tasks)
        assert all(t["errorAction"] is None for t in tasks if t["status"] != "FAILED")
        for t in tasks:
            if (
                t["status"] == "FAILED"
                and t["errorAction"] == "RETRY"
                and wf["status"] == "SUCCEEDED"
            ):
                # names can repeat within a run (scatter tasks share a tag, as in the real
                # runs), so look for a later attempt of the same name started after the failure
                retry = [
                    u
                    for u in tasks
                    if u["name"] == t["name"]
                    and u["attempt"] == t["attempt"] + 1
                    and u["taskId"] > t["taskId"]
                    and u["submit"] >= t["complete"]
                    and u["hash"] != t["hash"]
                ]
                assert any(
                    u["memory"] == 2 * t["memory"] and u["cpus"] == 2 * t["cpus"] for u in retry
                )
                retried += 1
        if wf["status"] == "FAILED":
            assert [t["errorAction"] for t in tasks if t["status"] == "FAILED"].count(
                "TERMINATE"
            ) == 1
            assert wf["exitStatus"] != 0 and wf["success"] is False and wf["errorMessage"]
        if wf["status"] == "SUCCEEDED":
            assert wf["exitStatus"] == 0 and wf["success"] is True
            assert not any(t["status"] == "ABORTED" for t in tasks)
        if wf["resume"]:
            cached = [t for t in tasks if t["status"] == "CACHED"]
            assert cached, "a resumed run serves the original's completed tasks as cached"
            earlier = [
                o
                for o in runs.values()
                if o["sessionId"] == wf["sessionId"] and o["submit"] < wf["submit"]
            ]
            assert earlier
            original = api.all_tasks(earlier[0]["id"], wid)
            by_hash = {t["hash"]: t for t in original if t["status"] == "COMPLETED"}
            for t in cached:
                o = by_hash[t["hash"]]
                assert (t["cost"], t["submit"], t["complete"], t["name"]) == (
                    o["cost"],
                    o["submit"],
                    o["complete"],
                    o["name"],
                )
                assert t["submit"] < wf["submit"]  # cached tasks keep their original timestamps
            progress = api.json(f"/workflow/{run_id}/progress", workspaceId=wid)["progress"][
                "workflowProgress"
            ]
            assert progress["cost"] == pytest.approx(
                math.fsum(t["cost"] or 0 for t in tasks), abs=1e-6
            )
    assert price_models == {"spot", "standard"}
    assert len(users) >= 4 and null_costs and string_exits and retried


def test_real_looking_nulls_on_older_runs(synth: tuple[Api, Emulator, int]) -> None:
    api, _emu, wid = synth
    runs = api.all_runs(wid)
    nets = {}
    for w in runs:
        wp = api.json(f"/workflow/{w['workflow']['id']}/progress", workspaceId=wid)["progress"][
            "workflowProgress"
        ]
        nets[w["workflow"]["submit"]] = wp["netCost"] is None
    ordered = [nets[k] for k in sorted(nets)]
    assert ordered[0] and not ordered[-1]  # net* null on the oldest runs, filled on recent ones
