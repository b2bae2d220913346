"""The emulator's page cap, optional ``total``, and aimed faults (one run's tasks, down after N)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seqera_analytics.emulator import Emulator, Faults

RUN = "3dLeF2W4ju5og4"  # 279 tasks in seqeralabs/benchmarks


def tasks_page(emu: Emulator, run_id: str = RUN, **params: Any) -> httpx.Response:
    wid = emu.workspace_id("seqeralabs/benchmarks")
    return httpx.get(f"{emu.url}/workflow/{run_id}/tasks", params={"workspaceId": wid, **params},
                     headers={"Authorization": f"Bearer {emu.token}"}, timeout=10)


def test_max_page_size_caps_task_pages_and_total_stays_the_full_count(
    make_emulator: Callable[..., Emulator], real_runs: dict[str, Any]
) -> None:
    emu = make_emulator(max_page_size=10, rate_limit=None)
    body = tasks_page(emu, max=100, offset=270).json()
    want = [t["task"]["taskId"] for t in real_runs[RUN]["tasks"]][270:280]
    assert [t["task"]["taskId"] for t in body["tasks"]] == want and len(want) == 9
    assert body["total"] == len(real_runs[RUN]["tasks"]) == 279
    assert len(tasks_page(emu, max=100, offset=0).json()["tasks"]) == 10
    assert len(tasks_page(emu, max=4, offset=0).json()["tasks"]) == 4  # below the cap: as asked
    emu.max_page_size = None
    assert len(tasks_page(emu, max=100, offset=0).json()["tasks"]) == 100


def test_task_totals_can_be_left_out(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(task_totals=False, rate_limit=None)
    body = tasks_page(emu, max=100).json()
    assert "total" not in body and len(body["tasks"]) == 100


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_max_page_size_is_validated(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_page_size"):
        Emulator(max_page_size=bad)
    emu = Emulator()  # not started: setting it later is checked the same way
    with pytest.raises(ValueError, match="max_page_size"):
        emu.max_page_size = bad


def test_fail_run_tasks_fails_only_that_run_and_only_so_often(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(rate_limit=None)
    emu.faults.fail_run_tasks(RUN, 403)
    emu.faults.fail_run_tasks(RUN, 503)
    assert tasks_page(emu, "1xpti5PH3K2VUW", max=1).status_code == 200  # another run: untouched
    first, second, third = (tasks_page(emu, max=1) for _ in range(3))
    assert first.status_code == 403 and first.json() == {"message": "Forbidden"}
    assert second.status_code == 503 and second.headers["content-type"].startswith("text/html")
    assert third.status_code == 200 and len(third.json()["tasks"]) == 1
    assert emu.count("/workflow/{workflowId}/tasks", status=403) == 1


@pytest.mark.parametrize("status,times", [(200, 1), (403, 0), (403, True)])
def test_fail_run_tasks_validates(status: int, times: Any) -> None:
    with pytest.raises(ValueError):
        Faults().fail_run_tasks(RUN, status, times)


def test_down_after_requests_serves_exactly_n_then_drops(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(rate_limit=None, faults=Faults(down_after_requests=3))
    seen: list[int] = []
    emu.on_request = lambda r: seen.append(r.status)
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {emu.token}"}, timeout=10) as c:
        assert [c.get("/user-info").status_code for _ in range(3)] == [200] * 3
        for _ in range(2):
            with pytest.raises(httpx.TransportError):
                c.get("/user-info")
    assert seen == [200, 200, 200, 0, 0] and emu.count(status=0) == 2
    emu.faults.down_after_requests = None  # back up
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {emu.token}"}, timeout=10) as c:
        assert c.get("/user-info").status_code == 200
    with pytest.raises(ValueError, match="down_after_requests"):
        Faults(down_after_requests=-1)


def test_on_request_runs_before_the_response_is_sent(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(rate_limit=None)
    order: list[str] = []
    gate = threading.Event()

    def hook(record: Any) -> None:
        order.append(f"hook {record.endpoint}")
        gate.set()

    emu.on_request = hook
    r = httpx.get(f"{emu.url}/service-info", timeout=10)
    order.append(f"client {r.status_code}")
    assert gate.is_set() and order == ["hook /service-info", "client 200"]
