"""The client and fetch functions against the emulator serving the bundled real runs."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from seqera_analytics import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    WorkspaceNotFoundError,
    fetch,
)
from seqera_analytics import frames as F
from seqera_analytics.api import RetryPolicy, SeqeraClient, run_sync
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.emulator import Faults

RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}
FAST_RETRY = RetryPolicy(max_retries=10, initial_delay_s=0.01, max_delay_s=0.05, rate_limit_cycle_s=1.0)


def client(emu, **kw) -> SeqeraClient:
    kw.setdefault("retry", FAST_RETRY)
    return fetch.connect(token=kw.pop("token", emu.token), endpoint=emu.url, **kw)


@pytest.fixture(scope="module")
def fetched(emulator):
    c = client(emulator)
    runs = pd.concat([fetch.fetch_runs(ws["full_name"], client=c, show_progress=False)
                      for ws in emulator.workspaces if ws["n_runs"]], ignore_index=True)
    tasks = fetch.fetch_tasks(runs, client=c, show_progress=False)
    metrics = fetch.fetch_metrics(runs, client=c, show_progress=False)
    progress = fetch.fetch_progress(runs, client=c, show_progress=False)
    c.close()
    return runs, tasks, metrics, progress


def test_runs_and_tasks_equal_the_source(fetched):
    runs, tasks, _, _ = fetched
    assert set(runs.run_id) == set(RAW)
    for rid, raw in RAW.items():
        mine = tasks[tasks.run_id == rid]
        assert len(mine) == len(raw["tasks"])
        wp = raw["progress"]["workflowProgress"]
        assert mine.cost.sum() == pytest.approx(wp["cost"], abs=1e-6)
        row = runs.set_index("run_id").loc[rid]
        assert row.cost == pytest.approx(wp["cost"]) and row.workspace == raw["meta"]["workspace"]
        counts = mine.status.value_counts().to_dict()
        assert counts.get("COMPLETED", 0) == wp["succeeded"]
        assert counts.get("FAILED", 0) == wp["failed"] and counts.get("CACHED", 0) == wp["cached"]


def test_every_field_of_sampled_tasks(fetched):
    _, tasks, _, _ = fetched
    by_key = tasks.set_index(["run_id", "task_id"])
    for rid, raw in RAW.items():
        for t in [x["task"] for x in raw["tasks"]][::25]:
            row = by_key.loc[(rid, t["taskId"])]
            for c in F.TASKS.columns:
                if not c.source or c.source not in t or c.name == "task_id":
                    continue
                v = t[c.source]
                got = row[c.name]
                if v is None:
                    assert pd.isna(got), (rid, c.name)
                elif c.name in ("submit", "start", "complete", "last_updated"):
                    assert got == pd.Timestamp(v)
                elif c.name in ("duration", "realtime", "time"):
                    assert got == pd.Timedelta(milliseconds=v)  # API ms -> timedelta64[ms]
                elif isinstance(v, float):
                    assert math.isclose(got, v, rel_tol=1e-12)
                else:
                    assert got == v, (rid, c.name, got, v)


def test_metrics_and_progress_equal_the_source(fetched):
    _, _, metrics, progress = fetched
    for rid, raw in RAW.items():
        for m in raw["metrics"]:
            if m.get("mem"):
                got = metrics[(metrics.run_id == rid) & (metrics.process == m["process"]) &
                              (metrics.metric == "mem") & (metrics.stat == "q2")].value
                assert got.iloc[0] == pytest.approx(m["mem"]["q2"])
        pp = progress[progress.run_id == rid]
        assert len(pp) == len(raw["progress"]["processesProgress"])
        assert pp.tasks_succeeded.sum() == sum(p["succeeded"] for p in raw["progress"]["processesProgress"])


def test_requests_are_spent_only_where_they_buy_data(make_emulator):
    for list_progress in (False, True):
        emu = make_emulator(list_progress=list_progress)
        c = client(emu)
        runs = fetch.fetch_runs("seqeralabs/benchmarks", client=c, show_progress=False)
        assert emu.count("/workflow/{workflowId}/progress") == (0 if list_progress else len(runs))
        assert emu.count("/workflow/{workflowId}/metrics") == 0
        fetch.fetch_tasks(runs, client=c, show_progress=False)
        pages = sum(math.ceil(len(RAW[r]["tasks"]) / 100) + (len(RAW[r]["tasks"]) % 100 == 0) for r in runs.run_id)
        assert emu.count("/workflow/{workflowId}/tasks") == pages
        assert emu.count("/workflow/{workflowId}/metrics") == 0
        c.close()


def test_a_full_fetch_under_faults_equals_the_fetch_without(make_emulator):
    def run_all(emu):
        # The emulator's limiter is off: its 429s are injected, so a short cycle wait is enough.
        c = client(emu, requests_per_second=200, retry=RetryPolicy(max_retries=10, initial_delay_s=0.01,
                                                                   max_delay_s=0.05, rate_limit_cycle_s=0.05))
        runs = fetch.fetch_runs("synthetic/scale", client=c, show_progress=False)
        tasks = fetch.fetch_tasks(runs[runs.run_id.isin(base_ids)], client=c, show_progress=False)
        c.close()
        return runs, tasks

    clean = make_emulator(synthetic_runs=100, include_real_runs=False, rate_limit=None)
    base_ids = set(clean.run_ids("synthetic/scale"))
    runs0, tasks0 = run_all(clean)
    faulty = make_emulator(synthetic_runs=100, include_real_runs=False, rate_limit=None,
                           faults=Faults(error_rate=0.1, drop_rate=0.05, truncate_rate=0.05,
                                         burst_429_rate=0.05, new_runs_per_list_page=3, seed=7))
    runs1, tasks1 = run_all(faulty)
    assert faulty.count(status=429) > 0 and sum(faulty.count(status=s) for s in (502, 503, 504)) > 0
    assert runs1.run_id.is_unique and base_ids <= set(runs1.run_id)
    assert set(runs1.run_id) - base_ids, "runs added mid-listing were picked up"
    key = ["run_id", "task_id"]
    pd.testing.assert_frame_equal(tasks1.sort_values(key).reset_index(drop=True),
                                  tasks0.sort_values(key).reset_index(drop=True))
    cols = [c for c in runs0.columns if c != "last_updated"]
    pd.testing.assert_frame_equal(
        runs1[runs1.run_id.isin(base_ids)][cols].sort_values("run_id").reset_index(drop=True),
        runs0[cols].sort_values("run_id").reset_index(drop=True))


def test_pacing_keeps_under_the_limit(make_emulator):
    emu = make_emulator(synthetic_runs=40, include_real_runs=False)
    c = client(emu)
    runs = fetch.fetch_runs("synthetic/scale", client=c, show_progress=False)
    fetch.fetch_tasks(runs, client=c, show_progress=False)
    assert emu.count() > 60
    assert emu.count(status=429) == 0 and c.stats.rate_limited == 0
    c.close()


def test_wrong_token_names_the_variable_and_hides_the_token(emulator):
    bad = "not-a-real-token-0123456789abcdefghij"
    c = client(emulator, token=bad)
    with pytest.raises(AuthenticationError) as info:
        fetch.fetch_runs("seqeralabs/benchmarks", client=c, show_progress=False)
    assert "TOWER_ACCESS_TOKEN" in str(info.value) and bad not in str(info.value) and bad not in repr(info.value)
    c.close()


def test_unknown_workspace_lists_the_accessible_ones(emulator):
    c = client(emulator)
    with pytest.raises(WorkspaceNotFoundError) as info:
        fetch.fetch_runs("seqeralabs/nope", client=c, show_progress=False)
    assert "seqeralabs/benchmarks" in str(info.value) and "scidev/testing" in info.value.available
    c.close()


def test_another_users_workspace_is_forbidden(emulator):
    c = client(emulator, token=emulator.other_token)
    with pytest.raises(PermissionDeniedError, match="403"):
        fetch.fetch_runs(emulator.workspace_id("seqeralabs/benchmarks"), client=c, show_progress=False)
    c.close()


def test_a_400_surfaces_the_api_message(emulator):
    c = client(emulator)
    with pytest.raises(BadRequestError, match="cannot be greater than 100"):
        run_sync(c.aio._get("/workflow", {"workspaceId": emulator.workspace_id("scidev/testing"), "max": 101}))
    c.close()


def test_search_filters_reach_the_server(emulator):
    c = client(emulator)
    got = fetch.fetch_runs("seqeralabs/benchmarks", since="2025-09-20", client=c, show_progress=False)
    want = {k for k, v in RAW.items() if v["meta"]["workspace"] == "seqeralabs/benchmarks"
            and pd.Timestamp(v["workflow"]["submit"]) >= pd.Timestamp("2025-09-20T00:00Z")}
    assert set(got.run_id) == want
    got = fetch.fetch_runs("seqeralabs/benchmarks", search="projectName:nf-core/sarek", client=c, show_progress=False)
    assert set(got.run_id) == {k for k, v in RAW.items() if v["workflow"]["projectName"] == "nf-core/sarek"
                               and v["meta"]["workspace"] == "seqeralabs/benchmarks"}
    assert fetch.fetch_runs("seqeralabs/benchmarks", status=["failed", "cancelled"], client=c,
                            show_progress=False).empty
    with pytest.raises(ValueError, match="not a run status"):
        fetch.fetch_runs("seqeralabs/benchmarks", status="done", client=c, show_progress=False)
    c.close()


def test_workspaces_frame(emulator):
    c = client(emulator)
    ws = fetch.fetch_workspaces(client=c)
    assert {"scidev/testing", "seqeralabs/benchmarks"} <= set(ws.workspace)
    assert ws.workspace_id.dtype == "Int64"
    c.close()


def test_load_dump_matches_the_api(fetched):
    runs, tasks, _, _ = fetched
    dump = fetch.load_dump(bundled_runs_dir().parent / "tw-runs-dump" / "50CueCkLKqyOeH.tar.gz")
    assert list(dump.runs.run_id) == ["50CueCkLKqyOeH"]
    mine = tasks[tasks.run_id == "50CueCkLKqyOeH"].drop(columns=["workspace_id"]).sort_values("task_id")
    pd.testing.assert_frame_equal(dump.tasks.drop(columns=["workspace_id"]).sort_values("task_id").reset_index(drop=True),
                                  mine.reset_index(drop=True))
    assert dump.runs.cost.iloc[0] == pytest.approx(runs.set_index("run_id").cost["50CueCkLKqyOeH"])
    all_bundles = fetch.load_dump(bundled_runs_dir())
    assert set(all_bundles.runs.run_id) == set(RAW) and len(all_bundles.tasks) == len(tasks)


def test_fetch_run_data_equals_the_separate_calls(emulator, fetched):
    runs, tasks, _, progress = fetched
    c = client(emulator)
    data = fetch.fetch_run_data("seqeralabs/benchmarks", client=c, show_progress=False)
    c.close()
    ids = set(data.runs.run_id)
    assert ids == {k for k, v in RAW.items() if v["meta"]["workspace"] == "seqeralabs/benchmarks"}
    key = ["run_id", "task_id"]
    pd.testing.assert_frame_equal(data.tasks.sort_values(key).reset_index(drop=True),
                                  tasks[tasks.run_id.isin(ids)].sort_values(key).reset_index(drop=True))
    pd.testing.assert_frame_equal(data.runs.sort_values("run_id").reset_index(drop=True),
                                  runs[runs.run_id.isin(ids)].sort_values("run_id").reset_index(drop=True))
    assert len(data.process_progress) == len(progress[progress.run_id.isin(ids)]) and data.process_metrics.empty


def test_fetch_run_data_gets_every_task_from_a_capped_server_without_totals(make_emulator):
    emu = make_emulator(max_page_size=10, task_totals=False, rate_limit=None)
    c = client(emu)
    data = fetch.fetch_run_data("seqeralabs/benchmarks", client=c, show_progress=False)
    c.close()
    for rid, raw in RAW.items():
        if raw["meta"]["workspace"] == "seqeralabs/benchmarks":
            got = sorted(data.tasks[data.tasks.run_id == rid].task_id.astype(int))
            assert got == sorted(t["task"]["taskId"] for t in raw["tasks"])
