"""Incremental, crash-safe sync against the emulator (requests counted by the emulator)."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from seqera_analytics import CacheLockedError, fetch, sync
from seqera_analytics.api import RetryPolicy
from seqera_analytics.store import Cache, load_process_progress, load_runs, load_tasks

WS = "synthetic/scale"
QUICK = RetryPolicy(max_retries=8, initial_delay_s=0.01, max_delay_s=0.1)


def client(emu, **kw):
    kw.setdefault("retry", QUICK)
    return fetch.connect(token=emu.token, endpoint=emu.url, **kw)


def do_sync(emu, cache, **kw):
    c = client(emu, requests_per_second=kw.pop("rps", 19.0))
    try:
        return sync(kw.pop("workspace", WS), cache=cache, client=c, show_progress=False, **kw)
    finally:
        c.close()


def frames(cache):
    runs = load_runs(cache=cache).drop(columns=[]).sort_values("run_id").reset_index(drop=True)
    tasks = load_tasks(cache=cache).sort_values(["run_id", "task_id"]).reset_index(drop=True)
    prog = load_process_progress(cache=cache).sort_values(["run_id", "process"]).reset_index(drop=True)
    return runs, tasks, prog


@pytest.fixture
def synthetic(make_emulator):
    return make_emulator(synthetic_runs=60, include_real_runs=False, rate_limit=None)


def test_first_sync_costs_at_most_pages_plus_two_per_run(synthetic, tmp_path):
    s = do_sync(synthetic, tmp_path / "c", rps=500)
    tasks = load_tasks(cache=tmp_path / "c")
    per_run = tasks.groupby("run_id").size()
    runs = load_runs(cache=tmp_path / "c")
    assert len(runs) == 60 == s.runs_added and s.tasks_added == len(tasks)
    budget = sum(math.ceil(per_run.get(r, 0) / 100) + 2 for r in runs.run_id)
    assert synthetic.count() == s.requests <= budget
    assert synthetic.count("/workflow/{workflowId}/metrics") == 0
    # The cache holds exactly what a direct fetch returns.
    c = client(synthetic, requests_per_second=500)
    direct = fetch.fetch_tasks(fetch.fetch_runs(WS, client=c, show_progress=False), client=c, show_progress=False)
    c.close()
    key = ["run_id", "task_id"]
    pd.testing.assert_frame_equal(tasks.sort_values(key).reset_index(drop=True),
                                  direct.sort_values(key).reset_index(drop=True))


def test_resync_of_an_unchanged_workspace_is_at_most_two_requests(synthetic, tmp_path):
    do_sync(synthetic, tmp_path / "c", rps=500)
    before = frames(tmp_path / "c")
    synthetic.reset_counts()
    s = do_sync(synthetic, tmp_path / "c")
    assert synthetic.count() <= 2 and s.runs_added == s.runs_updated == 0
    after = frames(tmp_path / "c")
    for a, b in zip(before, after):
        pd.testing.assert_frame_equal(a, b)


def test_new_runs_are_fetched_and_nothing_final_again(synthetic, tmp_path):
    do_sync(synthetic, tmp_path / "c", rps=500)
    new = synthetic.add_runs(5, workspace=WS)
    synthetic.reset_counts()
    s = do_sync(synthetic, tmp_path / "c", rps=500)
    assert s.runs_added == 5 and s.runs_updated == 0
    fetched = {r.path.split("/")[2] for r in synthetic.requests if r.endpoint == "/workflow/{workflowId}/tasks"}
    assert fetched == set(new)
    assert set(new) <= set(load_runs(cache=tmp_path / "c").run_id)


def test_a_running_run_is_refreshed_until_final(synthetic, tmp_path):
    cache = tmp_path / "c"
    do_sync(synthetic, cache, rps=500)
    (rid,) = synthetic.add_runs(1, workspace=WS, status="RUNNING")
    do_sync(synthetic, cache, rps=500)
    row = load_runs(run_ids=[rid], cache=cache).iloc[0]
    assert row.status == "RUNNING" and pd.isna(row.complete)
    # Still running and unchanged: nothing to fetch.
    synthetic.reset_counts()
    do_sync(synthetic, cache, rps=500)
    assert synthetic.count("/workflow/{workflowId}/tasks") == 0
    synthetic.add_runs(3, workspace=WS)  # newer runs push it out of the first listing page's top
    synthetic.finish_run(rid)
    synthetic.reset_counts()
    s = do_sync(synthetic, cache, rps=500)
    assert s.runs_updated == 1 and s.runs_added == 3
    row = load_runs(run_ids=[rid], cache=cache).iloc[0]
    assert row.status == "SUCCEEDED" and not pd.isna(row.complete)
    tasks = load_tasks(run_ids=[rid], cache=cache)
    assert set(tasks.status) <= {"COMPLETED", "CACHED", "FAILED"} and len(tasks) == row.tasks_succeeded + row.tasks_failed + row.tasks_cached
    # Final now: never fetched again.
    synthetic.reset_counts()
    do_sync(synthetic, cache, rps=500)
    assert synthetic.count("/workflow/{workflowId}/tasks") == 0 and synthetic.count() <= 2


def test_an_older_active_run_is_refreshed_through_describe(synthetic, tmp_path):
    cache = tmp_path / "c"
    (rid,) = synthetic.add_runs(1, workspace=WS, status="RUNNING")
    do_sync(synthetic, cache, rps=500)
    synthetic.add_runs(2, workspace=WS)
    synthetic.reset_counts()
    do_sync(synthetic, cache, rps=500)
    assert synthetic.count("/workflow/{workflowId}") == 0  # unchanged: describe only, no tasks
    synthetic.finish_run(rid, status="FAILED")
    s = do_sync(synthetic, cache, rps=500)
    assert s.runs_updated == 1 and load_runs(run_ids=[rid], cache=cache).status.iloc[0] == "FAILED"


def test_since_limits_the_history(synthetic, tmp_path):
    cache = tmp_path / "c"
    all_runs = load = None
    c = client(synthetic, requests_per_second=500)
    all_runs = fetch.fetch_runs(WS, client=c, show_progress=False, with_progress=False)
    c.close()
    cut = all_runs.submit.sort_values().iloc[len(all_runs) // 2]
    do_sync(synthetic, cache, since=cut, rps=500)
    load = load_runs(cache=cache)
    assert set(load.run_id) == set(all_runs[all_runs.submit >= cut].run_id)
    # Asking for more history later fetches the older runs.
    do_sync(synthetic, cache, rps=500)
    assert set(load_runs(cache=cache).run_id) == set(all_runs.run_id)


def test_two_syncs_at_once(synthetic, tmp_path):
    cache = Cache(tmp_path / "c")
    with cache.writer():
        with pytest.raises(CacheLockedError, match="another cache directory"):
            do_sync(synthetic, cache)


def test_the_token_is_written_nowhere_in_the_cache(synthetic, tmp_path):
    do_sync(synthetic, tmp_path / "c", rps=500)
    token = synthetic.token.encode()
    for p in (tmp_path / "c").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert token not in data and b"Bearer" not in data and b"uthorization" not in data


KILLED_SYNC = """
import sys
from seqera_analytics import fetch
from seqera_analytics.api import RetryPolicy
from seqera_analytics import sync
c = fetch.connect(requests_per_second=300, retry=RetryPolicy(initial_delay_s=0.01, max_delay_s=0.1))
sync("synthetic/scale", cache=sys.argv[1], client=c, show_progress=False, commit_every_s=0.05)
"""


@pytest.mark.slow
def test_sigkill_at_random_points_never_breaks_the_cache(make_emulator, tmp_path):
    emu = make_emulator(synthetic_runs=120, include_real_runs=False, rate_limit=None, latency_ms=5)
    cache = tmp_path / "killed"
    env = {**os.environ, "TOWER_ACCESS_TOKEN": emu.token, "TOWER_API_ENDPOINT": emu.url}
    rng = random.Random(1234)
    kills = 0
    for _ in range(6):
        # Kill after a random number of served requests (not after a random delay, which a
        # fast machine outruns): a full sync needs over 240 requests, so 3 kills of at most
        # 50 requests each always happen.
        target, seen, reached = rng.randint(15, 50), [0], threading.Event()

        def hook(record, target=target, seen=seen, reached=reached):
            seen[0] += 1
            if seen[0] >= target:
                reached.set()

        emu.on_request = hook
        proc = subprocess.Popen([sys.executable, "-c", KILLED_SYNC, str(cache)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not reached.wait(0.05) and proc.poll() is None:
            pass
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        # Readable after every kill, and every cached run has exactly its tasks.
        runs, tasks, _ = frames(cache)
        per_run = tasks.groupby("run_id").size().reindex(runs.run_id, fill_value=0)
        expected = (runs.tasks_succeeded + runs.tasks_failed + runs.tasks_cached + runs.tasks_running
                    + runs.tasks_submitted + runs.tasks_pending + runs.tasks_aborted).to_numpy()
        assert (per_run.to_numpy() == expected).all()
    assert kills >= 3
    emu.on_request = None
    do_sync(emu, cache, rps=500)
    clean = tmp_path / "clean"
    do_sync(emu, clean, rps=500)
    for a, b in zip(frames(cache), frames(clean)):
        pd.testing.assert_frame_equal(a, b)
    # No debris left once a sync has completed.
    state = Cache(cache).state()
    live = {f for fs in state.files.values() for f in fs}
    assert {str(p.relative_to(cache)) for p in Path(cache).rglob("*.parquet")} == live


def test_a_server_going_down_mid_sync_fails_fast_and_keeps_what_was_fetched(make_emulator, tmp_path):
    import threading

    from seqera_analytics import APIConnectionError
    from seqera_analytics.emulator import Faults

    # The server goes away after exactly SERVED requests (every later connection is dropped,
    # then the server is stopped), whatever the machine's speed: no timer.
    served = 40
    emu = make_emulator(synthetic_runs=80, include_real_runs=False, rate_limit=None,
                        faults=Faults(down_after_requests=served))
    went_down = threading.Event()
    emu.on_request = lambda r: went_down.set() if r.status == 0 else None
    stopper = threading.Thread(target=lambda: went_down.wait(120) and emu.stop(), daemon=True)
    stopper.start()
    # 4 runs in flight at most, each needing at most 5 requests (up to 5 task pages: the
    # largest synthetic run has 488 tasks), so 40 served requests cannot all
    # belong to unfinished runs: some run is complete before the server goes.
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=100, max_concurrency=4,
                      retry=RetryPolicy(max_retries=3, initial_delay_s=0.05, max_delay_s=0.2))
    with pytest.raises(APIConnectionError, match="runs fetched so far are saved"):
        sync(WS, cache=tmp_path / "c", client=c, show_progress=False, commit_every_s=0.2)
    stopper.join(30)
    # It stopped at the first connection failure instead of retrying every remaining run: at
    # most the requests of the 4 runs in flight (progress + a window of 8 task pages each),
    # each tried 4 times; far below 80 runs x 2 requests x 4 tries.
    assert 0 < c.stats.by_status[0] <= 4 * (1 + 8) * 4
    kept = load_runs(cache=tmp_path / "c")
    # Each finished run costs at least 1 request (its task page: its load is derived from its
    # tasks) after 3 for user-info, workspaces and the listing.
    assert 0 < len(kept) <= served - 3
    tasks = load_tasks(cache=tmp_path / "c")
    assert set(tasks.run_id) <= set(kept.run_id)
    state = Cache(tmp_path / "c").state().workspace(emu.workspace_id(WS))
    assert len(state.pending) == 80 - len(kept) and not set(state.pending) & set(kept.run_id)
    c.close()


def test_tasks_added_counts_every_commit(synthetic, tmp_path):
    c = client(synthetic, requests_per_second=500)
    s = sync(WS, cache=tmp_path / "c", client=c, show_progress=False, commit_every_s=0)
    c.close()
    assert s.tasks_added == len(load_tasks(cache=tmp_path / "c"))


def test_an_interrupted_sync_commits_what_it_fetched(make_emulator, tmp_path, monkeypatch):
    import asyncio

    from seqera_analytics import async_sync
    from seqera_analytics.api import run_sync
    from seqera_analytics.ingest import _sync as ingest_sync

    emu = make_emulator(synthetic_runs=80, include_real_runs=False, rate_limit=None, latency_ms=30)
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=60)
    # Interrupt once FETCHED runs are fetched (and waiting for a commit), not after a delay.
    fetched = 5
    done: list[str] = []
    enough = None
    original = ingest_sync.fetch_run

    async def counting(client, el, ws_id, **kw):
        got = await original(client, el, ws_id, **kw)
        done.append(el["workflow"]["id"])
        if len(done) == fetched:
            enough.set()
        return got

    monkeypatch.setattr(ingest_sync, "fetch_run", counting)

    async def interrupted():
        nonlocal enough
        enough = asyncio.Event()
        task = asyncio.ensure_future(async_sync(c.aio, WS, cache=tmp_path / "c", show_progress=False,
                                                commit_every_s=3600))
        await enough.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_sync(interrupted())
    c.close()
    kept = load_runs(cache=tmp_path / "c")
    # No periodic commit happened (every hour): these came from the interrupt, and every
    # run fetched before it is there.
    assert fetched <= len(kept) < 80 and set(done) <= set(kept.run_id)
    Cache(tmp_path / "c").writer().close()  # the lock was released


def test_a_lost_file_is_repaired_by_the_next_sync(synthetic, tmp_path):
    from seqera_analytics import CacheError

    cache = tmp_path / "c"
    do_sync(synthetic, cache, rps=500)
    clean = frames(cache)
    victim = Cache(cache).state().files["tasks"][0]
    (cache / victim).unlink()  # e.g. a power cut after state.json was written
    with pytest.raises(CacheError, match="seqera-analytics sync"):
        load_tasks(cache=cache)
    s = do_sync(synthetic, cache, rps=500)
    assert s.repaired and s.runs_added > 0
    for a, b in zip(frames(cache), clean):
        pd.testing.assert_frame_equal(a, b)
