"""Client behaviour that needs exact control of responses: httpx.MockTransport.

Everything that a real server can show (paging, rate limits, faults) is also tested
against the emulator in test_client_emulator.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from seqera_analytics import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    WorkspaceNotFoundError,
)
from seqera_analytics.api import AsyncSeqeraClient, ClientConfig, RetryPolicy, SeqeraClient, Secret
from seqera_analytics.api._errors import parse_retry_after
from seqera_analytics.api._ratelimit import Pacer

TOKEN = "tok-SECRET-value-1234567890abcdef"
FAST = RetryPolicy(max_retries=4, initial_delay_s=0.001, max_delay_s=0.005, rate_limit_cycle_s=0.01)
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"


def client_for(handler, **kw) -> AsyncSeqeraClient:
    cfg = ClientConfig(endpoint=kw.pop("endpoint", "https://api.example.org"), token=Secret(TOKEN),
                       retry=kw.pop("retry", FAST), requests_per_second=kw.pop("rps", 1000.0), **kw)
    return AsyncSeqeraClient(cfg, transport=httpx.MockTransport(handler))


def run(coro):
    return asyncio.run(coro)


async def call(client, coro_fn):
    async with client:
        return await coro_fn(client)


def json_response(status: int, body, headers=None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})})


@pytest.mark.parametrize("status,path,exc,words", [
    (401, "/workflow/abc", AuthenticationError, ["TOWER_ACCESS_TOKEN"]),
    (403, "/user-info", AuthenticationError, ["TOWER_ACCESS_TOKEN"]),
    (403, "/workflow/abc", PermissionDeniedError, ["workspace", "Forbidden"]),
    (404, "/workflow/abc", NotFoundError, ["/workflow/abc"]),
    (400, "/workflow", BadRequestError, ["cannot be greater than 100"]),
])
def test_error_statuses_map_to_typed_errors_without_the_token(status, path, exc, words):
    msg = {400: "Workflow list max parameter cannot be greater than 100 (current value=101)"}.get(status, "Forbidden")
    client = client_for(lambda req: json_response(status, {"message": msg}))
    with pytest.raises(exc) as info:
        run(call(client, lambda c: c._get(path)))
    text = str(info.value)
    for w in words:
        assert w in text
    assert TOKEN not in text and TOKEN not in repr(info.value) and TOKEN not in info.value.body
    assert info.value.status_code == status
    assert client.stats.requests == 1  # not retried


def test_auth_errors_are_not_retried_and_name_the_variable():
    calls = []

    def handler(req):
        calls.append(req)
        return json_response(401, {"message": "Unauthorized"})

    with pytest.raises(AuthenticationError, match="TOWER_ACCESS_TOKEN"):
        run(call(client_for(handler), lambda c: c.user_info()))
    assert len(calls) == 1
    assert calls[0].headers["authorization"] == f"Bearer {TOKEN}"


def flaky(failures, final=lambda: json_response(200, {"serviceInfo": {"version": "x"}})):
    """A handler answering each of ``failures`` in turn, then ``final``."""
    seq = list(failures)

    def handler(req):
        if seq:
            f = seq.pop(0)
            if isinstance(f, Exception):
                raise f
            return f
        return final()

    return handler


@pytest.mark.parametrize("failure", [
    httpx.Response(429, content=b'{"message":"Maximum request rate exceeded. Wait 0secs before issuing a new request"}',
                   headers={"Retry-After": "0"}),
    httpx.Response(502, content=HTML_502, headers={"content-type": "text/html"}),
    httpx.Response(503, content=b"<html>Service Unavailable</html>", headers={"content-type": "text/html"}),
    httpx.Response(504, content=b"<html>Gateway Timeout</html>"),
    httpx.Response(200, content=b'{"serviceInfo": {"vers'),  # truncated body
    httpx.Response(200, content=b"<html>maintenance</html>"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    httpx.ConnectError("connection refused"),
    httpx.ReadTimeout("timed out"),
], ids=["429-retry-after-0", "502-html", "503-html", "504", "truncated", "html-200", "dropped", "refused", "timeout"])
def test_transient_failures_are_retried(failure):
    client = client_for(flaky([failure, failure]))
    assert run(call(client, lambda c: c.service_info())) == {"version": "x"}
    assert client.stats.requests == 3 and client.stats.retries == 2


@pytest.mark.parametrize("failure,exc", [
    (httpx.Response(429, content=b'{"message":"Maximum request rate exceeded. Wait 0secs"}', headers={"Retry-After": "0"}), RateLimitError),
    (httpx.Response(503, content=HTML_502), ServerError),
    (httpx.Response(200, content=b'{"serviceInfo": {'), InvalidResponseError),
    (httpx.ReadError("reset"), APIConnectionError),
])
def test_retries_are_bounded_then_a_typed_error(failure, exc):
    client = client_for(flaky([failure] * 50))
    with pytest.raises(exc, match="gave up after 5 attempts") as info:
        run(call(client, lambda c: c.service_info()))
    assert client.stats.requests == 5
    assert TOKEN not in str(info.value)
    if exc is RateLimitError:
        assert info.value.retry_after == 0


def test_retry_after_is_honoured_for_429():
    client = client_for(flaky([httpx.Response(429, headers={"Retry-After": "1"}, content=b"{}")]),
                        retry=RetryPolicy(rate_limit_cycle_s=0.01))
    t0 = time.monotonic()
    run(call(client, lambda c: c.service_info()))
    assert time.monotonic() - t0 >= 1.0


@pytest.mark.parametrize("value,expected", [
    (None, None), ("0", 0.0), ("3", 3.0), ("1.5", 1.5), ("-2", 0.0), ("soon", None),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(when, usegmt=True)) <= 31


def test_pacer_spaces_requests_evenly():
    pacer = Pacer(20.0)
    clock = [100.0]
    pacer._monotonic = lambda: clock[0]
    waits = [pacer.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])
    clock[0] = 200.0  # idle: no burst credit is saved up beyond one slot
    assert pacer.reserve() == 0.0 and pacer.reserve() == pytest.approx(0.05)
    pacer.hold(2.0)
    assert pacer.reserve() == pytest.approx(2.0)


def test_pacer_caps_any_one_second_window():
    # Whatever the phase of the server's 1-second cycles, even pacing at 19/s never puts
    # more than 20 requests into one cycle; a bucket with burst 20 would put 39.
    pacer = Pacer(19.0)
    clock = [0.0]
    pacer._monotonic = lambda: clock[0]
    sends = [pacer.reserve() for _ in range(200)]
    for phase in [i / 100 for i in range(100)]:
        per_cycle = {}
        for s in sends:
            per_cycle[int(s + phase)] = per_cycle.get(int(s + phase), 0) + 1
        assert max(per_cycle.values()) <= 20


def runs_page(ids):
    return {"workflows": [{"workflow": {"id": i, "submit": "2025-01-01T00:00:00Z"}} for i in ids],
            "totalSize": None, "hasMore": None}


class MovingList:
    """A /workflow listing that changes while a client pages through it."""

    def __init__(self, n, on_request=None):
        self.ids = [f"r{i:04d}" for i in range(n, 0, -1)]  # newest first
        self.on_request = on_request
        self.requests = 0

    def __call__(self, req):
        self.requests += 1
        if self.on_request:
            self.on_request(self, req)
        off, mx = int(req.url.params["offset"]), int(req.url.params["max"])
        assert mx <= 100
        return json_response(200, runs_page(self.ids[off:off + mx]))


def test_list_runs_walks_every_run_once():
    fake = MovingList(250)
    runs = run(call(client_for(fake), lambda c: c.list_runs(1)))
    assert [r["workflow"]["id"] for r in runs] == fake.ids


def test_runs_added_on_top_mid_listing_are_neither_duplicated_nor_missed():
    counter = [1000]

    def add(fake, req):
        if int(req.url.params["offset"]) > 0:  # two new runs appear before each later page
            for _ in range(2):
                counter[0] += 1
                fake.ids.insert(0, f"n{counter[0]}")

    fake = MovingList(250, on_request=add)
    runs = run(call(client_for(fake), lambda c: c.list_runs(1)))
    got = [r["workflow"]["id"] for r in runs]
    assert len(got) == len(set(got))
    assert set(got) == set(fake.ids)


def test_runs_removed_mid_listing_do_not_make_others_skipped():
    removed = []

    def remove(fake, req):
        if int(req.url.params["offset"]) > 0 and len(removed) < 3:
            removed.append(fake.ids.pop(5))  # a run near the top is deleted

    fake = MovingList(250, on_request=remove)
    runs = run(call(client_for(fake), lambda c: c.list_runs(1)))
    got = [r["workflow"]["id"] for r in runs]
    assert len(got) == len(set(got))
    assert set(fake.ids) <= set(got)  # every run still listed was returned


def test_list_runs_stop_predicate_ends_paging():
    fake = MovingList(1000)
    runs = run(call(client_for(fake), lambda c: c.list_runs(1, stop=lambda el: el["workflow"]["id"] == "r0990")))
    assert [r["workflow"]["id"] for r in runs] == fake.ids[:10]
    assert fake.requests == 1


def tasks_handler(n, total_hint):
    tasks = [{"taskId": i, "status": "COMPLETED", "process": "P"} for i in range(1, n + 1)]

    def handler(req):
        off, mx = int(req.url.params["offset"]), int(req.url.params["max"])
        return json_response(200, {"tasks": [{"task": t} for t in tasks[off:off + mx]], "total": total_hint})

    return handler


@pytest.mark.parametrize("n,hint", [(0, 0), (100, 100), (250, 250), (250, 120), (250, 900), (250, None), (1001, 1001)])
def test_list_tasks_gets_all_whatever_the_total_says(n, hint):
    tasks = run(call(client_for(tasks_handler(n, hint)), lambda c: c.list_tasks("r", 1)))
    assert [t["taskId"] for t in tasks] == list(range(1, n + 1))


def test_workspace_resolution_lists_what_the_token_sees():
    def handler(req):
        if req.url.path == "/user-info":
            return json_response(200, {"user": {"id": 7, "userName": "u"}})
        if req.url.path == "/user/7/workspaces":
            return json_response(200, {"orgsAndWorkspaces": [
                {"orgId": 1, "orgName": "acme", "workspaceId": None, "workspaceName": None},
                {"orgId": 1, "orgName": "acme", "workspaceId": 11, "workspaceName": "prod"},
                {"orgId": 2, "orgName": "lab", "workspaceId": 22, "workspaceName": "dev"}]})
        return json_response(404, {"message": "nope"})

    async def go(c):
        return (await c.resolve_workspace("acme/prod"), await c.resolve_workspace("LAB/Dev"),
                await c.resolve_workspace("123"), await c.resolve_workspace(None))

    assert run(call(client_for(handler), go)) == (11, 22, 123, None)
    with pytest.raises(WorkspaceNotFoundError) as info:
        run(call(client_for(handler), lambda c: c.resolve_workspace("acme/staging")))
    assert info.value.available == ["acme/prod", "lab/dev"] and "acme/prod, lab/dev" in str(info.value)
    with pytest.raises(ConfigurationError, match="org/workspace"):
        run(call(client_for(handler), lambda c: c.resolve_workspace("a/b/c")))


def test_enterprise_api_base_path_is_kept():
    seen = []

    def handler(req):
        seen.append(req.url.path)
        return json_response(200, {"serviceInfo": {}})

    run(call(client_for(handler, endpoint="https://seqera.example.org/api/"), lambda c: c.service_info()))
    assert seen == ["/api/service-info"]


def test_config_reads_tw_environment(monkeypatch):
    monkeypatch.setenv("TOWER_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TOWER_API_ENDPOINT", "https://tower.example.org/api")
    monkeypatch.setenv("TOWER_WORKSPACE_ID", "acme/prod")
    cfg = ClientConfig.from_env()
    assert cfg.endpoint == "https://tower.example.org/api" and cfg.workspace == "acme/prod"
    assert cfg.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(cfg) and TOKEN not in str(cfg.token)
    assert ClientConfig.from_env(token="other", workspace=5).workspace == 5


@pytest.mark.parametrize("endpoint", ["ftp://x", "api.cloud.seqera.io", "", "http://api.cloud.seqera.io"])
def test_bad_or_insecure_endpoints_are_refused(endpoint):
    with pytest.raises(ConfigurationError):
        ClientConfig(endpoint=endpoint, token=Secret(TOKEN))


def test_missing_token_says_how_to_get_one():
    with pytest.raises(ConfigurationError, match="TOWER_ACCESS_TOKEN"):
        run(AsyncSeqeraClient(ClientConfig(token=None)).service_info())


def test_token_never_in_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(flaky([httpx.Response(503, content=HTML_502)]))
    run(call(client, lambda c: c.service_info()))
    assert "retrying /service-info" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in repr(client) and TOKEN not in repr(client.config)
    logging.getLogger("seqera_analytics.api").warning("header was Authorization: Bearer %s", TOKEN)
    assert TOKEN not in caplog.text


def test_secret_refuses_to_be_pickled():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret(TOKEN))


def test_sync_facade_works_inside_a_running_event_loop():
    # Jupyter runs cells inside an event loop; the blocking client must still work there.
    def handler(req):
        return json_response(200, {"serviceInfo": {"version": "v"}})

    cfg = ClientConfig(endpoint="https://api.example.org", token=Secret(TOKEN), retry=FAST)

    async def notebook_cell():
        client = SeqeraClient(cfg)
        client.aio._transport = httpx.MockTransport(handler)
        try:
            return client.service_info()
        finally:
            client.close()

    assert asyncio.run(notebook_cell()) == {"version": "v"}


# ----------------------------------------------------------------- hostile servers
def test_a_server_ignoring_offset_cannot_make_task_paging_endless():
    same = {"tasks": [{"task": {"taskId": i}} for i in range(1, 101)], "total": 100_000}
    calls = []

    def handler(req):
        calls.append(req)
        return json_response(200, same)

    from seqera_analytics import InvalidResponseError as IRE

    with pytest.raises(IRE, match="ignores `offset`"):
        run(call(client_for(handler), lambda c: c.list_tasks("r", 1)))
    assert len(calls) <= 10  # one window, not 1,000 pages


def test_a_server_ignoring_offset_cannot_make_run_listing_endless():
    page = runs_page([f"r{i}" for i in range(100)])
    calls = []

    def handler(req):
        calls.append(req)
        return json_response(200, page)

    with pytest.raises(InvalidResponseError, match="ignores `offset`"):
        run(call(client_for(handler), lambda c: c.list_runs(1)))
    assert len(calls) <= 3


def test_a_lying_total_costs_at_most_one_window():
    calls = []
    real = tasks_handler(150, 10**8)

    def handler(req):
        calls.append(req)
        return real(req)

    tasks = run(call(client_for(handler), lambda c: c.list_tasks("r", 1)))
    # The first page, one window of 8, and one request at offset 150: the page at 100 was
    # short but the total says more, so only an empty page proves the end.
    assert len(tasks) == 150 and len(calls) <= 10


@pytest.mark.parametrize("response,words", [
    (httpx.Response(302, headers={"location": "https://cloud.seqera.io/login"}), ["redirected", "login", "TOWER_API_ENDPOINT"]),
    (httpx.Response(200, content=b"<html><body>Seqera</body></html>", headers={"content-type": "text/html"}),
     ["HTML page", "TOWER_API_ENDPOINT"]),
    (json_response(200, {"something": "else"}), ["TOWER_API_ENDPOINT"]),
    (json_response(200, {"workflows": [{"workflow": {"runName": "no id"}}]}), ["workflow id"]),
    (json_response(200, {"workflows": "nope"}), ["TOWER_API_ENDPOINT"]),
])
def test_answers_that_are_not_the_api_are_not_retried(response, words):
    calls = []

    def handler(req):
        calls.append(req)
        return response

    with pytest.raises((InvalidResponseError, httpx.HTTPError, Exception)) as info:
        run(call(client_for(handler), lambda c: c.list_runs(1)))
    assert len(calls) == 1, "a wrong endpoint is not a transient fault"
    for w in words:
        assert w in str(info.value)


def test_a_long_retry_after_fails_fast_with_the_servers_request():
    calls = []

    def handler(req):
        calls.append(req)
        return httpx.Response(429, headers={"Retry-After": "86400"}, content=b'{"message":"slow down"}')

    client = client_for(handler)
    with pytest.raises(RateLimitError) as info:
        run(call(client, lambda c: c.service_info()))
    # Failed at once: one request, and no retry was scheduled (so no sleep; a timed bound
    # would race a loaded machine).
    assert len(calls) == 1 and client.stats.retries == 0 and info.value.retry_after == 86400


@pytest.mark.parametrize("token", ["abc\n# created 2025", "abc def", "tök"])
def test_a_token_with_line_breaks_or_spaces_is_refused_without_echo(token):
    with pytest.raises(ConfigurationError, match="TOWER_ACCESS_TOKEN") as info:
        ClientConfig(token=Secret(token))
    assert token not in str(info.value)


def test_run_ids_are_one_path_segment():
    seen = []

    def handler(req):
        seen.append(req.url.raw_path)
        return json_response(200, {"progress": {}})

    run(call(client_for(handler), lambda c: c.get_progress("../../user-info", 1)))
    assert seen[0].startswith(b"/workflow/..%2F..%2Fuser-info/progress")


def test_clients_on_one_token_share_one_budget_at_the_lowest_rate():
    from seqera_analytics.api._ratelimit import pacer_for

    a = pacer_for("fp-share", "https://x", 19.0)
    b = pacer_for("fp-share", "https://x", 10.0)
    assert a is b and a.rate == 10.0
    assert pacer_for("fp-share", "https://other", 19.0) is not a


def test_the_pacer_slows_down_on_429_and_recovers():
    pacer = Pacer(20.0)
    clock = [0.0]
    pacer._monotonic = lambda: clock[0]
    pacer.penalize()
    pacer.penalize()  # the same exhausted cycle: counted once
    assert pacer.rate == pytest.approx(20 * 0.8)
    clock[0] += 1.5
    pacer.penalize()
    assert pacer.rate == pytest.approx(20 * 0.8 * 0.8)
    for _ in range(100):
        pacer.reward()
    assert pacer.rate == 20.0  # back to full speed within ~100 successes
    for _ in range(100):
        clock[0] += 1.5
        pacer.penalize()
    assert pacer.rate >= 1.0  # a floor: never stalls completely


def test_enterprise_with_a_lower_limit_still_completes(make_emulator):
    emu = make_emulator(rate_limit=5)
    c = SeqeraClient(token=emu.token, endpoint=emu.url, retry=RetryPolicy(max_retries=8))
    from seqera_analytics import fetch

    data = fetch.fetch_run_data("seqeralabs/benchmarks", client=c, show_progress=False)
    assert len(data.runs) == 4 and len(data.tasks) == 655
    assert c.aio._pacer.rate < 19  # it learnt the lower limit
    c.close()
