"""The tolerant spec validator accepts real data and rejects wrong shapes (API-NOTES §7)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from spec_check import error_fields, spec_validator

from .helpers import FIXTURES

# Each real response fixture and the spec schema of the endpoint it came from.
FIXTURE_SCHEMAS = {
    "info/service-info.json": "ServiceInfoResponse",
    "labels_user.json": "ListLabelsResponse",
    "organizations/organizations_list.json": "ListOrganizationsResponse",
    "organizations/organizations_view.json": "DescribeOrganizationResponse",
    "runs/runs_metrics.json": "GetWorkflowMetricsResponse",
    "runs/runs_progress.json": "GetProgressResponse",
    "runs/runs_tasks.json": "ListTasksResponse",
    "runs/task_detail.json": "DescribeTaskResponse",
    "runs/task_object.json": "Task",
    "runs/tasks_list_response.json": "ListTasksResponse",
    "user.json": "DescribeUserResponse",
    "workflow_list.json": "ListWorkflowsResponse",
    "workflow_progress.json": "GetProgressResponse",
    "workflow_view.json": "DescribeWorkflowResponse",
    "workspaces/workspaces_list.json": "ListWorkspacesAndOrgResponse",
    "workspaces/workspaces_view.json": "DescribeWorkspaceResponse",
}
EXIT_AS_STRING = {"runs/runs_tasks.json"}


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_every_fixture_has_a_schema() -> None:
    found = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")}
    assert found == set(FIXTURE_SCHEMAS), "map new fixtures to their response schema"


@pytest.mark.parametrize("name", sorted(set(FIXTURE_SCHEMAS) - EXIT_AS_STRING))
def test_real_fixture_validates(name: str) -> None:
    spec_validator().check(_fixture(name), FIXTURE_SCHEMAS[name])


def test_exit_as_string_fails_only_on_exit() -> None:
    errors = spec_validator().errors(_fixture("runs/runs_tasks.json"), "ListTasksResponse")
    assert errors, "a string exit must be reported"
    assert error_fields(errors) == {"exit"}
    assert all(e.path.endswith(".task.exit") for e in errors)


def test_every_bundled_real_run_validates(real_runs: dict[str, dict[str, Any]]) -> None:
    v = spec_validator()
    assert len(real_runs) == 5
    for run in real_runs.values():
        v.check(
            {"workflow": run["workflow"], "progress": run["progress"]}, "DescribeWorkflowResponse"
        )
        v.check({"progress": run["progress"]}, "GetProgressResponse")
        v.check({"metrics": run["metrics"]}, "GetWorkflowMetricsResponse")
        v.check({"tasks": run["tasks"], "total": len(run["tasks"])}, "ListTasksResponse")
        for task in run["tasks"]:
            v.check(task, "DescribeTaskResponse")


@pytest.mark.parametrize(
    ("schema", "mutate", "field"),
    [
        ("Task", lambda d: d.__setitem__("cpus", "four"), "cpus"),
        ("Task", lambda d: d.__setitem__("status", "DONE"), "status"),
        ("Task", lambda d: d.__setitem__("submit", "yesterday"), "submit"),
        ("Task", lambda d: d.__setitem__("module", "samtools"), "module"),
        ("DescribeWorkflowResponse", lambda d: d["workflow"].__setitem__("submit", 5), "submit"),
        (
            "DescribeWorkflowResponse",
            lambda d: d["progress"]["workflowProgress"].__setitem__("cost", "1.2"),
            "cost",
        ),
        (
            "ListWorkspacesAndOrgResponse",
            lambda d: d["orgsAndWorkspaces"][0].__setitem__("orgId", "x"),
            "orgId",
        ),
    ],
)
def test_wrong_types_fail(schema: str, mutate: Any, field: str) -> None:
    source = {
        "Task": "runs/task_object.json",
        "DescribeWorkflowResponse": "workflow_view.json",
        "ListWorkspacesAndOrgResponse": "workspaces/workspaces_list.json",
    }[schema]
    doc = copy.deepcopy(_fixture(source))
    spec_validator().check(doc, schema)  # valid before the change
    mutate(doc)
    errors = spec_validator().errors(doc, schema)
    assert error_fields(errors) == {field}, errors


def test_response_schema_lookup() -> None:
    v = spec_validator()
    assert v.response_schema("/workflow/{workflowId}/tasks") == "ListTasksResponse"
    assert v.response_schema("/workflow", status=400) == "ErrorResponse"


def test_strict_reading_rejects_real_data(real_runs: dict[str, dict[str, Any]]) -> None:
    # Why the validator must be tolerant: read strictly, real responses fail (nulls, params).
    strict = spec_validator(tolerant=False)
    run = real_runs["1xpti5PH3K2VUW"]
    assert strict.errors(run["tasks"][0]["task"], "Task")  # disk/errorAction null
    assert strict.errors(
        _fixture("runs/runs_progress.json"), "GetProgressResponse"
    )  # missing counters
