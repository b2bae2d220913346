"""Synthetic workspaces: deterministic, resampled from real runs, large and cheap to serve."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone

import httpx
import pytest

from seqera_analytics.bundles import RunBundle, iter_run_bundles
from seqera_analytics.emulator import Emulator, SyntheticWorkspace

from .helpers import RUNS_DIR, Api


def _bytes(bundle: RunBundle) -> bytes:
    return json.dumps(
        {
            "workflow": bundle.workflow,
            "tasks": bundle.tasks,
            "progress": bundle.progress,
            "metrics": bundle.metrics,
            "labels": bundle.labels,
        },
        sort_keys=True,
    ).encode()


def test_same_seed_same_bytes() -> None:
    a = SyntheticWorkspace(40, seed=11)
    b = SyntheticWorkspace(40, seed=11)
    c = SyntheticWorkspace(40, seed=12)
    for i in (0, 7, 21, 39):  # includes resumed and failed runs for seed 11
        assert _bytes(a.run_bundle(i)) == _bytes(b.run_bundle(i))
    assert [h.run_id for h in a.headers] == [h.run_id for h in b.headers]
    assert [h.run_id for h in a.headers] != [h.run_id for h in c.headers]
    # generating in another order (or after eviction from the cache) changes nothing
    d = SyntheticWorkspace(40, seed=11, cache_size=2)
    for i in (39, 21, 7, 0, 21):
        assert _bytes(d.run_bundle(i)) == _bytes(a.run_bundle(i))


def test_same_seed_same_http_bytes(make_emulator: Callable[..., Emulator]) -> None:
    bodies = []
    for _ in range(2):
        emu = make_emulator(synthetic_runs=25, seed=3, rate_limit=None)
        wid = emu.workspace_id("synthetic/scale")
        headers = {"Authorization": f"Bearer {emu.token}"}
        with httpx.Client(base_url=emu.url, headers=headers) as c:
            page = c.get(
                "/workflow", params={"workspaceId": wid, "max": 25, "attributes": "labels"}
            ).content
            run_id = json.loads(page)["workflows"][4]["workflow"]["id"]
            tasks = c.get(
                f"/workflow/{run_id}/tasks", params={"workspaceId": wid, "max": 100}
            ).content
            metrics = c.get(f"/workflow/{run_id}/metrics", params={"workspaceId": wid}).content
        bodies.append((page, tasks, metrics))
    assert bodies[0] == bodies[1]


def test_resampled_from_the_source_runs() -> None:
    source = list(iter_run_bundles(RUNS_DIR))
    ws = SyntheticWorkspace(
        30, seed=1, source=source, end=datetime(2024, 6, 30, tzinfo=timezone.utc), months=6
    )
    real_processes = {t["process"] for b in source for t in b.tasks}
    real_machines = {t["machineType"] for b in source for t in b.tasks}
    for bundle in ws:
        assert {t["process"] for t in bundle.tasks} <= real_processes
        assert {t["machineType"] for t in bundle.tasks} <= real_machines
        submit = datetime.fromisoformat(bundle.workflow["submit"].replace("Z", "+00:00"))
        assert (
            datetime(2023, 12, 15, tzinfo=timezone.utc)
            < submit
            <= datetime(2024, 6, 30, tzinfo=timezone.utc)
        )
    # one pipeline only as source: every run is that pipeline (or a variant of it)
    only = SyntheticWorkspace(
        10, seed=1, source=[b for b in source if b.workflow["projectName"] == "nf-core/methylseq"]
    )
    assert {h.manifest_name for h in only.headers} == {"nf-core/methylseq"}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SyntheticWorkspace(-1)
    with pytest.raises(ValueError):
        SyntheticWorkspace(10, months=0)
    with pytest.raises(IndexError):
        SyntheticWorkspace(3).run_bundle(3)
    with pytest.raises(ValueError):
        Emulator(synthetic_runs=-5)
    with pytest.raises(ValueError):
        Emulator(synthetic_runs=5, synthetic_workspace="no-slash")


def test_ten_thousand_runs_start_quickly(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    t0 = time.perf_counter()
    emu = make_emulator(synthetic_runs=10_000, rate_limit=None)
    startup = time.perf_counter() - t0
    assert startup < 30, f"10,000 synthetic runs took {startup:.1f} s to start"
    api = api_for(emu)
    wid = emu.workspace_id("synthetic/scale")
    first = api.json("/workflow", workspaceId=wid, max=100, includeTotalSize="true")
    assert (
        first["totalSize"] == 10_000 and first["hasMore"] is True and len(first["workflows"]) == 100
    )
    last = api.json("/workflow", workspaceId=wid, max=100, offset=9_950)
    assert len(last["workflows"]) == 50 and last["hasMore"] is False
    assert last["workflows"][-1]["workflow"]["id"] == emu.run_ids("synthetic/scale")[-1]
    # serving pages did not generate the whole workspace
    assert len(emu.synthetic._cores) <= 256


def test_paging_a_synthetic_workspace(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(synthetic_runs=250, rate_limit=None)
    api = api_for(emu)
    wid = emu.workspace_id("synthetic/scale")
    runs = api.all_runs(wid)
    ids = [w["workflow"]["id"] for w in runs]
    assert len(ids) == 250 == len(set(ids))
    assert ids == emu.run_ids("synthetic/scale")
    assert set(ids) == {h.run_id for h in emu.synthetic.headers}
    keys = [(w["workflow"]["submit"], w["workflow"]["id"]) for w in runs]
    assert keys == sorted(keys, reverse=True)
    # list elements leave out the bulky params/configText; describe has them
    assert runs[0]["workflow"]["params"] is None
    assert api.json(f"/workflow/{ids[0]}", workspaceId=wid)["workflow"]["params"]
    minimal = api.json("/workflow", workspaceId=wid, max=5, attributes="minimal")["workflows"][0][
        "workflow"
    ]
    assert (
        set(minimal) >= {"id", "status", "submit", "lastUpdated"} and "commandLine" not in minimal
    )


def test_synthetic_into_an_existing_workspace(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(synthetic_runs=20, synthetic_workspace="seqeralabs/benchmarks")
    n = {w["full_name"]: w["n_runs"] for w in emu.workspaces}
    assert n["seqeralabs/benchmarks"] == 24 and "synthetic/scale" not in n


def test_synthetic_only(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(include_real_runs=False, synthetic_runs=5)
    assert [w["full_name"] for w in emu.workspaces] == ["synthetic/scale"]
