"""Every kind of emulator response validates against the (tolerant) official spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from spec_check import SpecError, error_fields, spec_validator

from seqera_analytics.emulator import Emulator

from .helpers import Api


def check(body: Any, path: str) -> list[SpecError]:
    """Validate a response; tolerate (and return) only errors on task ``exit``."""
    errors = spec_validator().response_errors(body, path)
    assert error_fields(errors) <= {"exit"}, errors[:5]
    return errors


@pytest.fixture(scope="module")
def synth() -> Any:
    # 30 runs (seed 0) include FAILED, CANCELLED and resumed runs, and runs with string exits.
    with Emulator(synthetic_runs=30, rate_limit=None) as emu:
        emu.add_runs(1, status="RUNNING")
        emu.add_runs(1, status="SUBMITTED")
        yield emu


def test_user_and_org_endpoints(api: Api, emulator: Emulator) -> None:
    check(api.json("/service-info"), "/service-info")
    info = api.json("/user-info")
    check(info, "/user-info")
    uid = info["user"]["id"]
    check(api.json(f"/user/{uid}/workspaces"), "/user/{userId}/workspaces")
    orgs = api.json("/orgs")
    check(orgs, "/orgs")
    for org in orgs["organizations"]:
        check(api.json(f"/orgs/{org['orgId']}/workspaces"), "/orgs/{orgId}/workspaces")


def test_real_run_endpoints(api: Api, emulator: Emulator, real_runs: dict[str, Any]) -> None:
    for w in emulator.workspaces:
        wid = w["workspace_id"]
        for attrs in (None, "labels", "labels,optimized,pipelineInfo,messages", "minimal"):
            check(
                api.json("/workflow", workspaceId=wid, attributes=attrs, includeTotalSize="true"),
                "/workflow",
            )
        for run_id in emulator.run_ids(w["full_name"]):
            check(
                api.json(f"/workflow/{run_id}", workspaceId=wid, attributes="labels,optimized"),
                "/workflow/{workflowId}",
            )
            check(
                api.json(f"/workflow/{run_id}/progress", workspaceId=wid),
                "/workflow/{workflowId}/progress",
            )
            check(
                api.json(f"/workflow/{run_id}/metrics", workspaceId=wid),
                "/workflow/{workflowId}/metrics",
            )
            page = api.json(f"/workflow/{run_id}/tasks", workspaceId=wid, max=100)
            assert not check(page, "/workflow/{workflowId}/tasks")  # real runs: no string exits
            tid = page["tasks"][0]["task"]["taskId"]
            check(
                api.json(f"/workflow/{run_id}/task/{tid}", workspaceId=wid),
                "/workflow/{workflowId}/task/{taskId}",
            )


def test_list_with_and_without_progress(api_for: Callable[..., Api], synth: Emulator) -> None:
    api = api_for(synth)
    wid = synth.workspace_id("synthetic/scale")
    synth.list_progress = False
    plain = api.json("/workflow", workspaceId=wid, max=100)
    assert all("progress" not in w for w in plain["workflows"])
    check(plain, "/workflow")
    synth.list_progress = True
    try:
        with_progress = api.json("/workflow", workspaceId=wid, max=100, attributes="labels")
    finally:
        synth.list_progress = False
    assert all(w["progress"]["workflowProgress"] is not None for w in with_progress["workflows"])
    assert any(w["labels"] for w in with_progress["workflows"])
    check(with_progress, "/workflow")


def test_synthetic_and_live_run_endpoints(api_for: Callable[..., Api], synth: Emulator) -> None:
    api = api_for(synth)
    wid = synth.workspace_id("synthetic/scale")
    statuses = set()
    exit_string_runs = 0
    for run_id in synth.run_ids("synthetic/scale"):
        desc = api.json(f"/workflow/{run_id}", workspaceId=wid, attributes="labels,pipelineInfo")
        check(desc, "/workflow/{workflowId}")
        statuses.add(desc["workflow"]["status"])
        check(
            api.json(f"/workflow/{run_id}/progress", workspaceId=wid),
            "/workflow/{workflowId}/progress",
        )
        check(
            api.json(f"/workflow/{run_id}/metrics", workspaceId=wid),
            "/workflow/{workflowId}/metrics",
        )
        tasks = api.json(f"/workflow/{run_id}/tasks", workspaceId=wid, max=100)
        errors = check(tasks, "/workflow/{workflowId}/tasks")
        string_exits = [t for t in tasks["tasks"] if isinstance(t["task"]["exit"], str)]
        assert len(errors) == len(string_exits)  # one error per string exit, nothing else
        exit_string_runs += bool(string_exits)
        if tasks["tasks"]:
            tid = tasks["tasks"][-1]["task"]["taskId"]
            check(
                api.json(f"/workflow/{run_id}/task/{tid}", workspaceId=wid),
                "/workflow/{workflowId}/task/{taskId}",
            )
    assert {"SUCCEEDED", "FAILED", "CANCELLED", "RUNNING", "SUBMITTED"} <= statuses
    assert exit_string_runs >= 1


def test_error_bodies_are_error_responses(
    api: Api, api_for: Callable[..., Api], emulator: Emulator
) -> None:
    v = spec_validator()
    wid = emulator.workspace_id("seqeralabs/benchmarks")
    bad = [
        api.get("/workflow", workspaceId=wid, max=101),
        api.get("/workflow", workspaceId=wid, search="after:notadate"),
        api.get("/workflow/nope", workspaceId=wid),
        api_for(emulator, "wrong-token").get("/user-info"),
        api.get("/no/such/endpoint"),
    ]
    assert [r.status_code for r in bad] == [400, 400, 403, 401, 404]
    for r in bad:
        assert r.headers["content-type"].startswith("application/json")
        v.check(r.json(), "ErrorResponse")
