"""Task paging past short pages (api/_paging.py), against a mock server that caps pages."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest

from seqera_analytics import InvalidResponseError
from seqera_analytics.api import AsyncSeqeraClient, ClientConfig, RetryPolicy, Secret
from seqera_analytics.api import task_rows_at_least, task_rows_hint
from seqera_analytics.bundles import bundled_runs_dir

TOKEN = "tok-SECRET-paging-1234567890abcdef"
FAST = RetryPolicy(max_retries=2, initial_delay_s=0.001, max_delay_s=0.005, rate_limit_cycle_s=0.01)
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}


def capped_server(n: int, cap: int, *, total: int | None | str = "real", calls: list | None = None):
    """A /tasks server holding tasks 1..n that serves at most ``cap`` rows per page."""
    tasks = [{"taskId": i, "status": "COMPLETED"} for i in range(1, n + 1)]

    def handler(req: httpx.Request) -> httpx.Response:
        off, mx = int(req.url.params["offset"]), int(req.url.params["max"])
        if calls is not None:
            calls.append(off)
        body: dict = {"tasks": [{"task": t} for t in tasks[off:off + min(mx, cap)]]}
        if total == "real":
            body["total"] = n
        elif total is not None:
            body["total"] = total
        return httpx.Response(200, json=body)

    return handler


def list_tasks(handler, **kw):
    async def go():
        cfg = ClientConfig(endpoint="https://api.example.org", token=Secret(TOKEN), retry=FAST,
                           requests_per_second=1000.0)
        async with AsyncSeqeraClient(cfg, transport=httpx.MockTransport(handler)) as c:
            return await c.list_tasks("r", 1, **kw)

    return asyncio.run(go())


@pytest.mark.parametrize("n,cap", [(0, 10), (7, 10), (10, 10), (95, 10), (279, 10), (250, 33), (250, 100)])
def test_a_capped_server_with_total_gives_every_task(n, cap):
    calls: list[int] = []
    tasks = list_tasks(capped_server(n, cap, calls=calls))
    assert [t["taskId"] for t in tasks] == list(range(1, n + 1))
    # Offsets advance by the rows received: every page is asked for exactly once, no gaps.
    assert sorted(calls) == [cap * i for i in range(max(1, math.ceil(n / cap)))]


@pytest.mark.parametrize("n,cap", [(95, 10), (279, 10), (250, 33)])
def test_a_capped_server_without_total_gives_every_task_when_counts_say_how_many(n, cap):
    calls: list[int] = []
    tasks = list_tasks(capped_server(n, cap, total=None, calls=calls), expected=n)
    assert [t["taskId"] for t in tasks] == list(range(1, n + 1))
    assert sorted(set(calls)) == [cap * i for i in range(math.ceil(n / cap))]


def test_counts_are_asked_for_only_when_a_short_page_leaves_the_end_open():
    asked = []

    async def counts():
        asked.append(1)
        return 50

    tasks = list_tasks(capped_server(250, 100, total=None), expected=counts)
    assert len(tasks) == 250 and asked == [1]  # the short last page (50 rows at 200) asked once
    asked.clear()
    tasks = list_tasks(capped_server(250, 100), expected=counts)
    assert len(tasks) == 250 and asked == [1]
    asked.clear()
    tasks = list_tasks(capped_server(30, 10, total=None), expected=lambda: 30)
    assert len(tasks) == 30


def test_counts_that_overstate_cost_one_empty_page_and_the_rest_of_a_window():
    calls: list[int] = []
    tasks = list_tasks(capped_server(25, 10, total=None, calls=calls), expected=40)
    # 0 and 10 full-size, then a window for the 20 rows the counts still promise (20, 30);
    # 20 is short, so 30 is dropped (it would leave a gap) and 25 is asked: empty, the end.
    assert len(tasks) == 25 and sorted(calls) == [0, 10, 20, 25, 30]


def test_without_total_or_counts_a_short_page_is_the_end():
    # The documented behaviour (tw, nf-aggregate): nothing says more rows exist.
    calls: list[int] = []
    tasks = list_tasks(capped_server(95, 10, total=None, calls=calls))
    assert [t["taskId"] for t in tasks] == list(range(1, 11)) and calls == [0]


def test_a_total_that_understates_still_reads_full_pages():
    tasks = list_tasks(capped_server(250, 100, total=120))
    assert len(tasks) == 250


def test_a_capped_server_ignoring_offset_cannot_make_paging_endless():
    same = {"tasks": [{"task": {"taskId": i}} for i in range(1, 11)], "total": 10**6}
    calls = []

    def handler(req):
        calls.append(req)
        return httpx.Response(200, json=same)

    with pytest.raises(InvalidResponseError, match="ignores `offset`"):
        list_tasks(handler)
    assert len(calls) <= 10


def test_task_search_ignores_counts():
    # Counts cover every task of the run; a search matches fewer.
    tasks = list_tasks(capped_server(30, 10, total=None), expected=1000, search="x")
    assert len(tasks) == 10


# ----------------------------------------------------------------- counts of the bundled runs
@pytest.mark.parametrize("rid", sorted(RAW))
def test_counts_of_the_bundled_runs_promise_exactly_their_rows(rid):
    raw = RAW[rid]
    tasks = [t["task"] for t in raw["tasks"]]
    statuses = [t["status"] for t in tasks]
    stats = raw["workflow"]["stats"]
    wp = raw["progress"]["workflowProgress"]
    # One row per attempt; COMPLETED + FAILED + CACHED rows are what the counts count.
    rows = statuses.count("COMPLETED") + statuses.count("FAILED") + statuses.count("CACHED")
    assert rows == len(tasks)
    assert task_rows_at_least(raw["workflow"], raw["progress"]) == len(tasks)
    assert task_rows_at_least(raw["workflow"], None) == stats["succeedCount"] + stats["failedCount"] + stats["cachedCount"]
    assert task_rows_at_least(None, wp) == wp["succeeded"] + wp["failed"] + wp["cached"]
    assert task_rows_hint(raw["workflow"], raw["progress"]) == len(tasks)  # finished: nothing in flight


def test_counts_rule_takes_the_smaller_source_and_needs_every_counter():
    wf = {"stats": {"succeedCount": 10, "failedCount": 2, "cachedCount": 0, "ignoredCount": 2}}
    prog = {"workflowProgress": {"succeeded": 9, "failed": 2, "cached": 0, "running": 3, "submitted": 1,
                                 "aborted": 0, "pending": 7, "retries": 2, "ignored": 2}}
    assert task_rows_at_least(wf, prog) == 11
    assert task_rows_hint(wf, prog) == 12 + 4  # the larger source, plus rows in flight (not pending)
    assert task_rows_at_least({"stats": None}, {"workflowProgress": {"succeeded": 3, "failed": None, "cached": 0}}) is None
    assert task_rows_at_least({"stats": {"succeedCount": True, "failedCount": 0, "cachedCount": 0}}, None) is None
    assert task_rows_hint(None, None) is None


@pytest.mark.parametrize("total", [None, "real"])
def test_a_known_exact_count_ends_paging_on_a_full_page(total):
    # 200 rows in full pages of 100: the run's own count (a succeeded run's workflow.stats)
    # says where the listing ends, so no page is asked only to find it empty.
    calls: list[int] = []
    tasks = list_tasks(capped_server(200, 100, total=total, calls=calls), complete_at=200)
    assert len(tasks) == 200 and sorted(calls) == [0, 100]


def test_a_count_that_understates_does_not_stop_paging_where_total_says_more():
    calls: list[int] = []
    tasks = list_tasks(capped_server(250, 100, calls=calls), complete_at=200)
    assert [t["taskId"] for t in tasks] == list(range(1, 251)) and sorted(calls) == [0, 100, 200]


def test_task_rows_final_only_for_succeeded_runs():
    from seqera_analytics.api import task_rows_final

    wf = RAW["3dLeF2W4ju5og4"]["workflow"]
    s = wf["stats"]
    assert task_rows_final(wf) == s["succeedCount"] + s["failedCount"] + s["cachedCount"] == len(
        RAW["3dLeF2W4ju5og4"]["tasks"])
    assert task_rows_final({**wf, "status": "FAILED"}) is None  # ABORTED rows are in no count
    assert task_rows_final({**wf, "status": "SUCCEEDED", "stats": None}) is None
