"""Helpers for the emulator tests: a small HTTP client, the raw real runs, and the
consistency checks of API-NOTES §5 recomputed from served tasks."""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from seqera_analytics.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
RUNS_DIR = REPO / "data" / "real-runs"
FIXTURES = REPO / "tests" / "fixtures" / "api-responses"


class Api:
    """``GET`` helper bound to one emulator and token.

    With ``retry_429`` (default) a 429 is retried after the next 1-second cycle starts, so
    tests that are not about the rate limit can share the rate-limited session emulator.
    """

    def __init__(self, emu: Emulator, token: str | None = None, *, retry_429: bool = True) -> None:
        self.emu = emu
        self.token = emu.token if token is None else token
        self.retry_429 = retry_429
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.client = httpx.Client(base_url=emu.url, headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        params = {k: v for k, v in params.items() if v is not None}
        for _ in range(50):
            r = self.client.get(path, params=params)
            if r.status_code != 429 or not self.retry_429:
                return r
            time.sleep(0.25)
        return r

    def json(self, path: str, **params: Any) -> Any:
        r = self.get(path, **params)
        assert r.status_code == 200, f"GET {path} {params}: {r.status_code} {r.text[:300]}"
        return r.json()

    def all_runs(self, workspace_id: int, **params: Any) -> list[dict[str, Any]]:
        """Every list element of a workspace, paging with max=100."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.json(
                "/workflow", workspaceId=workspace_id, max=100, offset=offset, **params
            )
            out += page["workflows"]
            if len(page["workflows"]) < 100:
                return out
            offset += 100

    def all_tasks(self, run_id: str, workspace_id: int, **params: Any) -> list[dict[str, Any]]:
        """Every task (unwrapped) of a run, paging with max=100 until a short page."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.json(
                f"/workflow/{run_id}/tasks",
                workspaceId=workspace_id,
                max=100,
                offset=offset,
                **params,
            )
            out += [t["task"] for t in page["tasks"]]
            if len(page["tasks"]) < 100:
                return out
            offset += 100

    def close(self) -> None:
        self.client.close()


def raw_runs() -> dict[str, dict[str, Any]]:
    """The bundled real runs read straight from their JSON files (not through the loader)."""
    out = {}
    for path in sorted(RUNS_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        out[data["workflow"]["id"]] = data
    return out


COUNTERS = {
    "succeeded": "COMPLETED",
    "failed": "FAILED",
    "cached": "CACHED",
    "running": "RUNNING",
    "submitted": "SUBMITTED",
    "aborted": "ABORTED",
}


def ms(task: dict[str, Any], a: str, b: str) -> float:
    return (
        datetime.fromisoformat(task[b][:-1]) - datetime.fromisoformat(task[a][:-1])
    ).total_seconds() * 1000


def check_cost_and_counters(tasks: list[dict[str, Any]], progress: dict[str, Any]) -> None:
    wp = progress["workflowProgress"]
    costs = [t["cost"] for t in tasks if t["cost"] is not None]
    if costs:
        assert math.isclose(math.fsum(costs), wp["cost"], abs_tol=1e-6)
    else:
        assert wp["cost"] is None
    statuses = Counter(t["status"] for t in tasks)
    for counter, status in COUNTERS.items():
        assert wp[counter] == statuses.get(status, 0), counter


def _quantile(ordered: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of a sorted list."""
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def check_all_rules(
    wf: dict[str, Any],
    tasks: list[dict[str, Any]],
    progress: dict[str, Any],
    metrics: list[dict[str, Any]],
) -> None:
    """Every relationship of API-NOTES §5, recomputed from the served tasks."""
    check_cost_and_counters(tasks, progress)
    wp = progress["workflowProgress"]
    ran = [t for t in tasks if t["start"] and t["complete"]]
    assert wp["retries"] == sum(
        1 for t in tasks if t["status"] == "FAILED" and t["errorAction"] == "RETRY"
    )
    assert wp["cpus"] == sum(t["cpus"] for t in tasks)
    assert wp["cpuTime"] == pytest.approx(
        sum(t["cpus"] * ms(t, "start", "complete") for t in ran), abs=1
    )
    cpu_load = sum((t["pcpu"] or 0) / 100 * ms(t, "start", "complete") for t in ran)
    assert wp["cpuLoad"] == pytest.approx(cpu_load, abs=1)
    assert wp["memoryRss"] == sum(t["peakRss"] or 0 for t in tasks)
    assert wp["memoryReq"] == sum(t["memory"] for t in tasks)
    assert wp["readBytes"] == sum(t["rchar"] or 0 for t in tasks)
    assert wp["writeBytes"] == sum(t["wchar"] or 0 for t in tasks)
    if wp["cpuTime"]:
        assert wp["cpuEfficiency"] == pytest.approx(wp["cpuLoad"] / wp["cpuTime"] * 100, rel=1e-6)
    if wp["memoryReq"]:
        assert wp["memoryEfficiency"] == pytest.approx(
            wp["memoryRss"] / wp["memoryReq"] * 100, rel=1e-6
        )
    if wp["netCost"] is not None:
        own = [t for t in tasks if t["status"] != "CACHED"]
        assert wp["netCost"] == pytest.approx(math.fsum(t["cost"] or 0 for t in own), abs=1e-6)
        assert wp["netCpus"] == sum(t["cpus"] for t in own)
    running = [t for t in tasks if t["status"] == "RUNNING"]
    assert (wp["loadTasks"], wp["loadCpus"]) == (len(running), sum(t["cpus"] for t in running))
    assert wp["peakTasks"] >= (1 if ran else 0)

    per_process = defaultdict(Counter)
    for t in tasks:
        per_process[t["process"]][t["status"]] += 1
    assert {pp["process"] for pp in progress["processesProgress"]} >= set(per_process)
    assert progress["totalProcesses"] == len(progress["processesProgress"])
    for pp in progress["processesProgress"]:
        c = per_process.get(pp["process"], Counter())
        assert (pp["succeeded"], pp["failed"], pp["cached"], pp["running"], pp["aborted"]) == (
            c["COMPLETED"],
            c["FAILED"],
            c["CACHED"],
            c["RUNNING"],
            c["ABORTED"],
        )

    if wf["status"] in ("RUNNING", "SUBMITTED"):
        assert wf["stats"] is None and wf["complete"] is None and wf["duration"] is None
    else:
        stats = wf["stats"]
        for key, status in (("succeed", "COMPLETED"), ("failed", "FAILED"), ("cached", "CACHED")):
            group = [t for t in tasks if t["status"] == status]
            assert stats[f"{key}Count"] == len(group)
            assert stats[f"{key}Duration"] == sum((t["realtime"] or 0) * t["cpus"] for t in group)
        assert wf["complete"] >= max(
            t["complete"] for t in tasks if t["complete"] and t["status"] != "CACHED"
        )

    # /metrics: per process (short name) quartiles of pcpu, peakRss, realtime, rchar, wchar
    by_short = defaultdict(list)
    for t in tasks:
        by_short[t["process"].rsplit(":", 1)[-1]].append(t)
    assert {m["process"] for m in metrics} == set(by_short)
    for m in metrics:
        group = by_short[m["process"]]
        for metric, field in (
            ("cpu", "pcpu"),
            ("mem", "peakRss"),
            ("reads", "rchar"),
            ("writes", "wchar"),
            ("vmem", "peakVmem"),
        ):
            values = sorted(float(t[field]) for t in group if t[field] is not None)
            if not values:
                assert m[metric] is None
                continue
            expected = [
                math.fsum(values) / len(values),
                values[0],
                *(_quantile(values, q) for q in (0.25, 0.5, 0.75)),
                values[-1],
            ]
            got = [m[metric][k] for k in ("mean", "min", "q1", "q2", "q3", "max")]
            assert got == pytest.approx(expected, rel=1e-5, abs=0.01), (m["process"], metric)
        usage = [t["pcpu"] / t["cpus"] for t in group if t["pcpu"] is not None]
        if usage:
            assert m["cpuUsage"]["max"] == pytest.approx(max(usage), rel=1e-5, abs=0.01)

    for t in tasks:
        if t["exitStatus"] is None:
            assert t["exit"] is None
        else:
            assert int(t["exit"]) == t["exitStatus"]  # `exit` may be a string (older servers)
