"""Paging, page cap, ordering, auth and workspace access, checked against the raw run files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from seqera_analytics.emulator import Emulator

from .helpers import Api


def _ws_of(run: dict[str, Any]) -> str:
    return str(run["meta"]["workspace"])


def test_workspaces_come_from_bundle_meta(emulator: Emulator, real_runs: dict[str, Any]) -> None:
    expected: dict[str, int] = {}
    for run in real_runs.values():
        expected[_ws_of(run)] = expected.get(_ws_of(run), 0) + 1
    served = {w["full_name"]: w["n_runs"] for w in emulator.workspaces}
    assert served == expected
    for w in emulator.workspaces:
        assert 10**13 < w["workspace_id"] < 10**15 and 10**13 < w["org_id"] < 10**15
        assert emulator.workspace_id(w["full_name"]) == w["workspace_id"]
    with pytest.raises(KeyError, match="known"):
        emulator.workspace_id("nope/nope")


def test_user_workspaces_resolve_names_like_tw(api: Api, emulator: Emulator) -> None:
    uid = api.json("/user-info")["user"]["id"]
    rows = api.json(f"/user/{uid}/workspaces")["orgsAndWorkspaces"]
    org_rows = [r for r in rows if r["workspaceId"] is None]
    ws_rows = [r for r in rows if r["workspaceId"] is not None]
    assert rows[: len(org_rows)] == org_rows  # org-only rows first, as the real response
    assert {(r["orgName"], r["workspaceName"]) for r in ws_rows} == {
        tuple(w["full_name"].split("/")) for w in emulator.workspaces
    }
    for r in ws_rows:
        assert r["workspaceId"] == emulator.workspace_id(f"{r['orgName']}/{r['workspaceName']}")
    # NFA-style resolution: /orgs then /orgs/{orgId}/workspaces
    orgs = api.json("/orgs")["organizations"]
    for org in orgs:
        names = {w["name"] for w in api.json(f"/orgs/{org['orgId']}/workspaces")["workspaces"]}
        assert names == {
            w["workspace_name"] for w in emulator.workspaces if w["org_name"] == org["name"]
        }


def test_paging_walks_every_run_and_task_exactly_once(
    api: Api, emulator: Emulator, real_runs: dict[str, Any]
) -> None:
    for full_name in {_ws_of(r) for r in real_runs.values()}:
        wid = emulator.workspace_id(full_name)
        listed = api.all_runs(wid)
        ids = [w["workflow"]["id"] for w in listed]
        raw = [r for r in real_runs.values() if _ws_of(r) == full_name]
        assert sorted(ids) == sorted(r["workflow"]["id"] for r in raw)
        # newest first: submit desc, then id desc
        keys = [(w["workflow"]["submit"], w["workflow"]["id"]) for w in listed]
        assert keys == sorted(keys, reverse=True)
        for run in raw:
            run_id = run["workflow"]["id"]
            served = api.all_tasks(run_id, wid)
            served_ids = [t["taskId"] for t in served]
            assert len(served_ids) == len(set(served_ids))
            assert sorted(served_ids) == sorted(t["task"]["taskId"] for t in run["tasks"])
            assert served_ids == sorted(served_ids)  # default order: ascending taskId
            by_id = {t["task"]["taskId"]: t["task"] for t in run["tasks"]}
            assert all(t == by_id[t["taskId"]] for t in served)  # served as captured


def test_small_pages_and_counts(api: Api, emulator: Emulator, real_runs: dict[str, Any]) -> None:
    wid = emulator.workspace_id("seqeralabs/benchmarks")
    first = api.json("/workflow", workspaceId=wid, max=3)
    assert len(first["workflows"]) == 3 and first["hasMore"] is True
    assert first["totalSize"] is None  # only with includeTotalSize=true
    rest = api.json("/workflow", workspaceId=wid, max=3, offset=3, includeTotalSize="true")
    assert len(rest["workflows"]) == 1 and rest["hasMore"] is False and rest["totalSize"] == 4
    assert len(api.json("/workflow", workspaceId=wid)["workflows"]) == 4  # default max 10
    tasks = api.json("/workflow/1xpti5PH3K2VUW/tasks", workspaceId=wid, max=7, offset=10)
    assert len(tasks["tasks"]) == 7
    assert tasks["total"] == len(real_runs["1xpti5PH3K2VUW"]["tasks"])
    beyond = api.json("/workflow/1xpti5PH3K2VUW/tasks", workspaceId=wid, max=100, offset=10_000)
    assert beyond["tasks"] == [] and beyond["total"] == 260
    default = api.json("/workflow/1xpti5PH3K2VUW/tasks", workspaceId=wid)
    assert len(default["tasks"]) == 10


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "/workflow",
            {"max": 101},
            "Workflow list max parameter cannot be greater than 100 (current value=101)",
        ),
        (
            "/workflow/1xpti5PH3K2VUW/tasks",
            {"max": 101},
            "Task list max parameter cannot be greater than 100 (current value=101)",
        ),
        ("/workflow", {"max": -1}, "cannot be negative"),
        ("/workflow", {"offset": -5}, "cannot be negative"),
        ("/workflow", {"max": "ten"}, "Failed to convert argument [max]"),
        (
            "/workflow/1xpti5PH3K2VUW/tasks",
            {"offset": "1.5"},
            "Failed to convert argument [offset]",
        ),
        ("/workflow/1xpti5PH3K2VUW/tasks", {"sortBy": "colour"}, "Invalid sortBy"),
        ("/workflow/1xpti5PH3K2VUW/tasks", {"sortDir": "up"}, "Invalid sortDir"),
        ("/workflow", {"attributes": "everything"}, "attributes"),
        ("/workflow", {"includeTotalSize": "maybe"}, "includeTotalSize"),
        ("/workflow/1xpti5PH3K2VUW/task/abc", {}, "Failed to convert argument [taskId]"),
    ],
)
def test_bad_parameters_get_400_with_a_message(
    api: Api, emulator: Emulator, path: str, params: dict[str, Any], message: str
) -> None:
    wid = emulator.workspace_id("seqeralabs/benchmarks")
    r = api.get(path, workspaceId=wid, **params)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["message"]


def test_tokens(api_for: Callable[..., Api], emulator: Emulator) -> None:
    assert len(emulator.token) >= 40 and emulator.token != emulator.other_token
    for token in ("not-a-token", ""):
        r = api_for(emulator, token).get("/user-info")
        assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}
    r = api_for(emulator, "x").get("/workflow/1xpti5PH3K2VUW/tasks")
    assert r.status_code == 401
    basic = api_for(emulator).client.get(
        "/user-info", headers={"Authorization": f"Basic {emulator.token}"}
    )
    assert basic.status_code == 401
    # /service-info is public, as on the real service
    assert api_for(emulator, "").get("/service-info").status_code == 200


def test_token_is_deterministic_and_can_be_fixed() -> None:
    assert Emulator(seed=7).token == Emulator(seed=7).token != Emulator(seed=8).token
    assert Emulator(token="my-fixed-token-1234567890").token == "my-fixed-token-1234567890"
    with pytest.raises(ValueError):
        Emulator(token="has space")


def test_workspace_access(api: Api, api_for: Callable[..., Api], emulator: Emulator) -> None:
    other = api_for(emulator, emulator.other_token)
    bench = emulator.workspace_id("seqeralabs/benchmarks")
    private = emulator.workspace_id("other-org/private")
    # the second user sees only its own workspace, which holds no runs
    info = other.json("/user-info")["user"]
    rows = other.json(f"/user/{info['id']}/workspaces")["orgsAndWorkspaces"]
    assert {r["workspaceId"] for r in rows if r["workspaceId"]} == {private}
    assert other.json("/workflow", workspaceId=private)["workflows"] == []
    forbidden = [
        other.get("/workflow", workspaceId=bench),
        other.get("/workflow/1xpti5PH3K2VUW", workspaceId=bench),
        other.get("/workflow/1xpti5PH3K2VUW/tasks", workspaceId=bench),
        api.get("/workflow", workspaceId=private),
        api.get(f"/user/{info['id']}/workspaces"),  # another user's id
        api.get(f"/orgs/{next(iter(other.json('/orgs')['organizations']))['orgId']}/workspaces"),
        api.get("/workflow", workspaceId=123),  # no such workspace
        api.get("/workflow/15dvxY1LnZYrYe", workspaceId=bench),  # a run of another workspace
        api.get("/workflow/doesNotExist00", workspaceId=bench),
        api.get("/workflow/1xpti5PH3K2VUW/progress"),  # personal workspace: not there
    ]
    for r in forbidden:
        assert r.status_code == 403, r.url
        assert r.json() == {"message": "Forbidden"}
    # the personal workspace (no workspaceId) holds no runs
    assert api.json("/workflow") == {"workflows": [], "totalSize": None, "hasMore": False}


def test_task_detail(api: Api, emulator: Emulator, real_runs: dict[str, Any]) -> None:
    wid = emulator.workspace_id("seqeralabs/benchmarks")
    raw = real_runs["3dLeF2W4ju5og4"]["tasks"][5]["task"]
    assert api.json(f"/workflow/3dLeF2W4ju5og4/task/{raw['taskId']}", workspaceId=wid) == {
        "task": raw
    }
    missing = api.get("/workflow/3dLeF2W4ju5og4/task/999999", workspaceId=wid)
    assert missing.status_code == 404 and "not found" in missing.json()["message"]


def test_task_sort_and_search(api: Api, emulator: Emulator, real_runs: dict[str, Any]) -> None:
    wid = emulator.workspace_id("seqeralabs/benchmarks")
    raw = [t["task"] for t in real_runs["3dLeF2W4ju5og4"]["tasks"]]
    by_name = api.all_tasks("3dLeF2W4ju5og4", wid, sortBy="name", sortDir="desc")
    assert [t["name"] for t in by_name] == sorted((t["name"] for t in raw), reverse=True)
    by_submit = api.all_tasks("3dLeF2W4ju5og4", wid, sortBy="submit")
    assert [t["submit"] for t in by_submit] == sorted(t["submit"] for t in raw)
    failed = api.all_tasks("3dLeF2W4ju5og4", wid, search="failed")
    assert {t["taskId"] for t in failed} == {t["taskId"] for t in raw if t["status"] == "FAILED"}
    fastp = api.json("/workflow/3dLeF2W4ju5og4/tasks", workspaceId=wid, search="FastP", max=100)
    expected = {
        t["taskId"] for t in raw if "fastp" in (t["name"] + t["process"] + (t["tag"] or "")).lower()
    }
    assert {t["task"]["taskId"] for t in fastp["tasks"]} == expected and fastp["total"] == len(
        expected
    )


def test_unknown_route_and_method(api: Api) -> None:
    r = api.get("/workflows")
    assert r.status_code == 404 and "message" in r.json()
    r = api.client.post("/workflow")
    assert r.status_code == 405 and "message" in r.json()


def test_requests_are_counted(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=None)
    api = api_for(emu)
    wid = emu.workspace_id("seqeralabs/benchmarks")
    api.get("/workflow", workspaceId=wid)
    api.get("/workflow/1xpti5PH3K2VUW/tasks", workspaceId=wid)
    api.get("/workflow/3dLeF2W4ju5og4/tasks", workspaceId=wid)
    api.get("/workflow", workspaceId=wid, max=500)
    api_for(emu, "bad").get("/workflow")
    assert emu.count() == 5
    assert emu.count(endpoint="/workflow") == 3
    assert emu.count(endpoint="/workflow/{workflowId}/tasks", token=emu.token) == 2
    assert emu.count(status=400) == 1 and emu.count(status=401, token="bad") == 1
    rec = emu.requests[1]
    assert (
        rec.method == "GET" and rec.path == "/workflow/1xpti5PH3K2VUW/tasks" and rec.status == 200
    )
    emu.reset_counts()
    assert emu.count() == 0 and emu.requests == []
