"""Fault injection, observed with a real HTTP client over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from seqera_analytics.emulator import Emulator, Faults

from .helpers import Api


def client(emu: Emulator) -> httpx.Client:
    return httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.token}"}, timeout=10
    )


def test_off_by_default(emulator: Emulator) -> None:
    assert emulator.faults == Faults() and not emulator.faults.active and emulator.latency_ms == 0


def test_html_5xx(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(faults=Faults(error_rate=1.0), rate_limit=None)
    with client(emu) as c:
        responses = [c.get("/user-info") for _ in range(12)]
    assert {r.status_code for r in responses} <= {502, 503, 504}
    assert len({r.status_code for r in responses}) > 1  # picked at random
    for r in responses:
        assert r.headers["content-type"].startswith("text/html")
        assert r.text.startswith("<html>") and f"<title>{r.status_code} " in r.text
        with pytest.raises(json.JSONDecodeError):
            r.json()
    assert emu.count(status=502) + emu.count(status=503) + emu.count(status=504) == 12


def test_dropped_connection_raises(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(faults=Faults(drop_rate=1.0))
    with client(emu) as c:
        for _ in range(3):
            with pytest.raises(httpx.RemoteProtocolError):
                c.get("/user-info")
    assert emu.count(status=0) == 3 and emu.count() == 3


def test_truncated_body(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(faults=Faults(truncate_rate=1.0), rate_limit=None)
    wid = emu.workspace_id("seqeralabs/benchmarks")
    with client(emu) as c:
        for path in (
            "/user-info",
            f"/workflow?workspaceId={wid}",
            f"/workflow/1xpti5PH3K2VUW/tasks?workspaceId={wid}&max=100",
        ):
            r = c.get(path)
            assert r.status_code == 200
            assert int(r.headers["content-length"]) == len(r.content)  # a complete HTTP exchange
            with pytest.raises(json.JSONDecodeError):
                json.loads(r.content)
        # errors are not truncated (only 200 JSON bodies are)
        assert c.get("/workflow", params={"workspaceId": wid, "max": 500}).json()["message"]


def test_burst_429(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(faults=Faults(burst_429_rate=1.0), rate_limit=None)
    with client(emu) as c:
        r = c.get("/user-info")
    assert r.status_code == 429 and r.headers["retry-after"] == "0"
    assert r.json() == {
        "message": "Maximum request rate exceeded. Wait 0secs before issuing a new request"
    }


def test_faults_are_partial_and_deterministic(make_emulator: Callable[..., Emulator]) -> None:
    outcomes = []
    for _ in range(2):
        emu = make_emulator(
            faults=Faults(error_rate=0.3, burst_429_rate=0.2, truncate_rate=0.2, seed=42),
            rate_limit=None,
        )
        with client(emu) as c:
            outcomes.append(
                [(r.status_code, len(r.content)) for r in (c.get("/user-info") for _ in range(40))]
            )
    assert outcomes[0] == outcomes[1]
    codes = [code for code, _ in outcomes[0]]
    assert 200 in codes and 429 in codes and any(code >= 500 for code in codes)


def test_switch_faults_and_latency_live(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(rate_limit=None)
    with client(emu) as c:
        assert c.get("/user-info").status_code == 200
        emu.faults.error_rate = 1.0
        assert c.get("/user-info").status_code >= 500
        emu.faults.error_rate = 0.0
        assert c.get("/user-info").status_code == 200
        emu.faults = Faults(burst_429_rate=1.0)
        assert c.get("/user-info").status_code == 429
        emu.faults = Faults()
        emu.latency_ms = 150
        t0 = time.perf_counter()
        assert c.get("/user-info").status_code == 200
        assert time.perf_counter() - t0 >= 0.15
        emu.latency_ms = 0


def test_latency_at_construction(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(latency_ms=120, rate_limit=None)
    with client(emu) as c:
        t0 = time.perf_counter()
        c.get("/service-info")
        assert time.perf_counter() - t0 >= 0.12


def test_new_runs_while_paging_shift_offsets(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(synthetic_runs=10, rate_limit=None, faults=Faults(new_runs_per_list_page=2))
    api = api_for(emu)
    wid = emu.workspace_id("synthetic/scale")
    page1 = [
        w["workflow"]["id"] for w in api.json("/workflow", workspaceId=wid, max=4)["workflows"]
    ]
    assert emu.workspaces[-1]["n_runs"] == 10  # offset 0 adds nothing
    page2 = [
        w["workflow"]["id"]
        for w in api.json("/workflow", workspaceId=wid, max=4, offset=4)["workflows"]
    ]
    assert emu.workspaces[-1]["n_runs"] == 12
    # two new runs became the newest, so the offset-4 page repeats two runs of page 1
    assert page2[:2] == page1[2:]
    newest = emu.run_ids("synthetic/scale")[:2]
    assert not set(newest) & set(page1 + page2)
    # a client that de-duplicates by id and keeps going still sees every original run once
    emu.faults.new_runs_per_list_page = 0
    seen: dict[str, None] = {}
    offset = 0
    while True:
        page = api.json("/workflow", workspaceId=wid, max=4, offset=offset)["workflows"]
        seen.update((w["workflow"]["id"], None) for w in page)
        if len(page) < 4:
            break
        offset += 4
    assert set(seen) == set(emu.run_ids("synthetic/scale"))


def test_faults_validate() -> None:
    with pytest.raises(ValueError):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError):
        Faults(new_runs_per_list_page=-1)
    f = Faults()
    with pytest.raises(ValueError):
        f.drop_rate = -0.1
    with pytest.raises(TypeError):
        Emulator(faults="lots")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Emulator(latency_ms=-3)


def test_in_process_asgi_use(emulator: Emulator) -> None:
    # emu.app also works in-process, e.g. with httpx.ASGITransport (no sockets)
    import asyncio

    async def go() -> int:
        transport = httpx.ASGITransport(app=emulator.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as c:
            r = await c.get("/service-info")
            return r.status_code

    assert asyncio.run(go()) == 200
