"""Nothing lost: capped task pages, short cached runs, failed runs kept pending.

Expected numbers come from the bundled run JSON files (``data/real-runs``), read here
directly, never from the library's own output.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import pyarrow.compute as pc

from seqera_analytics import ServerError, fetch, sync
from seqera_analytics.ingest import MAX_SHORT_REFETCHES
from seqera_analytics.api import RetryPolicy
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.store import Cache, load_runs, load_tasks

QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}
WORKSPACES = sorted({r["meta"]["workspace"] for r in RAW.values()})
BENCH = "seqeralabs/benchmarks"
TASKS = "/workflow/{workflowId}/tasks"


def raw_task_ids(rid: str) -> list[int]:
    return sorted(t["task"]["taskId"] for t in RAW[rid]["tasks"])


def in_workspace(ws: str) -> list[str]:
    return [rid for rid, r in RAW.items() if r["meta"]["workspace"] == ws]


def do_sync(emu, cache, workspace):
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a failed run warns; the summary is what is checked
            return sync(workspace, cache=cache, client=c, show_progress=False)
    finally:
        c.close()


def cached_ids(cache) -> dict[str, list[int]]:
    tasks = load_tasks(cache=cache)
    return {rid: sorted(g.task_id.astype(int)) for rid, g in tasks.groupby("run_id")}


def tasks_requests(emu, rid: str | None = None) -> int:
    return sum(1 for r in emu.requests if r.endpoint == TASKS and (rid is None or r.path.split("/")[2] == rid))


@pytest.mark.parametrize("page_size,totals", [(None, True), (10, True), (10, False), (7, False)])
def test_a_sync_stores_every_task_whatever_the_page_size_and_total(make_emulator, tmp_path, page_size, totals):
    emu = make_emulator(rate_limit=None, max_page_size=page_size, task_totals=totals)
    cache = tmp_path / "c"
    for ws in WORKSPACES:
        s = do_sync(emu, cache, ws)
        assert s.runs_added == len(in_workspace(ws)) and s.runs_updated == 0 and not s.runs_failed
        assert s.tasks_added == sum(len(RAW[r]["tasks"]) for r in in_workspace(ws))
    assert cached_ids(cache) == {rid: raw_task_ids(rid) for rid in RAW}
    # A clean cache is not fetched again: no bundled run counts as short.
    emu.reset_counts()
    for ws in WORKSPACES:
        s = do_sync(emu, cache, ws)
        assert s.runs_added == s.runs_updated == s.tasks_added == 0 and not s.runs_short
    assert tasks_requests(emu) == 0


def truncate_cached_tasks(cache: Path, rid: str, keep: int) -> None:
    """Leave only the first ``keep`` task rows of a run, as an older client (schema 2, which
    rewrote partitions in place) against a capped server without totals would have cached
    it: the upgrade moves such a run out of the write-once trees so the next sync completes it."""
    import pyarrow.parquet as pq

    c = Cache(cache)
    state = json.loads((c.path / "state.json").read_text())
    for rel in state["files"]["tasks"]:
        t = pq.read_table(c.path / rel)
        if rid in t["run_id"].to_pylist():
            ids = t.filter(pc.field("run_id") == rid).sort_by("task_id")["task_id"].to_pylist()[:keep]
            t = t.filter((pc.field("run_id") != rid) | pc.field("task_id").isin(ids))
            pq.write_table(t.replace_schema_metadata(None), c.path / rel)
    state["schema_version"] = 2
    (c.path / "state.json").write_text(json.dumps(state))


def test_a_terminal_run_cached_short_is_fetched_again_then_left_alone(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    rid = "3dLeF2W4ju5og4"  # SUCCEEDED, 279 rows: 260 COMPLETED + 19 FAILED attempts that were retried
    do_sync(emu, cache, BENCH)
    truncate_cached_tasks(cache, rid, 100)
    assert len(cached_ids(cache)[rid]) == 100
    emu.reset_counts()
    s = do_sync(emu, cache, BENCH)
    assert s.runs_updated == 1 and s.runs_added == 0 and s.tasks_added == len(RAW[rid]["tasks"]) == 279
    assert tasks_requests(emu) == tasks_requests(emu, rid) > 0
    assert cached_ids(cache)[rid] == raw_task_ids(rid)
    emu.reset_counts()
    s = do_sync(emu, cache, BENCH)
    assert s.runs_updated == 0 and tasks_requests(emu) == 0


def test_a_run_whose_counts_say_more_than_the_server_lists_is_asked_a_bounded_number_of_times(
        make_emulator, tmp_path):
    rid = "50CueCkLKqyOeH"
    raw = json.loads((bundled_runs_dir() / f"{rid}.json").read_text())
    raw["workflow"]["stats"]["succeedCount"] += 5
    raw["progress"]["workflowProgress"]["succeeded"] += 5
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (runs_dir / f"{rid}.json").write_text(json.dumps(raw))
    emu = make_emulator(runs_dir=runs_dir, rate_limit=None)
    cache = tmp_path / "c"
    per_sync, summaries = [], []
    for _ in range(MAX_SHORT_REFETCHES + 2):
        emu.reset_counts()
        s = do_sync(emu, cache, BENCH)
        summaries.append(s)
        per_sync.append((tasks_requests(emu), s.runs_short))
        assert cached_ids(cache)[rid] == raw_task_ids(rid)  # what the server has, every time
    fetched = [n for n, _ in per_sync]
    assert fetched[:MAX_SHORT_REFETCHES] == [fetched[0]] * MAX_SHORT_REFETCHES and fetched[0] > 0
    assert fetched[MAX_SHORT_REFETCHES:] == [0, 0]
    assert [short for _, short in per_sync[:MAX_SHORT_REFETCHES]] == [[rid]] * MAX_SHORT_REFETCHES
    assert "fewer task rows than their counts" in str(summaries[0])
    assert summaries[0].runs_added == 1 and [x.runs_updated for x in summaries[1:]] == [1, 1, 0, 0]


def oldest(ws: str, emu) -> str:
    return emu.run_ids(ws)[-1]  # listings are newest first: an incremental listing stops above it


def test_a_run_failing_with_403_stays_pending_until_a_later_sync_fetches_it(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    ids = in_workspace(BENCH)
    victim = oldest(BENCH, emu)
    emu.faults.fail_run_tasks(victim, 403)
    s = do_sync(emu, cache, BENCH)
    others = [r for r in ids if r != victim]
    assert s.runs_failed == [victim] and s.runs_added == len(others) == 3 and s.runs_updated == 0
    assert s.tasks_added == sum(len(RAW[r]["tasks"]) for r in others)
    assert "stay pending" in str(s) and emu.token not in str(s)
    assert set(cached_ids(cache)) == set(others)
    assert Cache(cache).state().workspace(emu.workspace_id(BENCH)).pending == [victim]

    emu.reset_counts()
    s = do_sync(emu, cache, BENCH)
    assert s.runs_added == 1 and s.runs_updated == 0 and not s.runs_failed
    assert s.tasks_added == len(RAW[victim]["tasks"]) > 0
    assert emu.count("/workflow/{workflowId}") == 1  # not listed (incremental): described
    assert cached_ids(cache) == {r: raw_task_ids(r) for r in ids}
    assert Cache(cache).state().workspace(emu.workspace_id(BENCH)).pending == []

    emu.reset_counts()
    s = do_sync(emu, cache, BENCH)
    assert s.runs_added == s.runs_updated == s.tasks_added == 0 and tasks_requests(emu) == 0


def test_a_run_failing_with_5xx_after_retries_stops_the_sync_and_the_next_one_completes(
        make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    ids = in_workspace(BENCH)
    victim = oldest(BENCH, emu)
    emu.faults.fail_run_tasks(victim, 503, times=QUICK.max_retries + 1)
    with pytest.raises(ServerError, match="run the sync again"):
        do_sync(emu, cache, BENCH)
    assert tasks_requests(emu, victim) == QUICK.max_retries + 1
    kept = set(load_runs(cache=cache).run_id) if Cache(cache).is_cache() else set()
    assert victim not in kept
    state = Cache(cache).state().workspace(emu.workspace_id(BENCH))
    assert set(state.pending) == set(ids) - kept and not state.complete

    s = do_sync(emu, cache, BENCH)
    missing = set(ids) - kept
    assert s.runs_added == len(missing) and s.runs_updated == 0
    assert s.tasks_added == sum(len(RAW[r]["tasks"]) for r in missing)
    assert cached_ids(cache) == {r: raw_task_ids(r) for r in ids}
    assert Cache(cache).state().workspace(emu.workspace_id(BENCH)).pending == []


def test_state_files_without_the_new_fields_still_open(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    do_sync(emu, cache, BENCH)
    path = cache / "state.json"
    body = json.loads(path.read_text())
    for ws in body["workspaces"].values():
        del ws["pending"], ws["short_refetches"]  # as written before they existed
        ws["a_later_field"] = {"x": 1}  # as a newer version might write
    path.write_text(json.dumps(body))
    emu.reset_counts()
    s = do_sync(emu, cache, BENCH)
    assert s.runs_added == s.runs_updated == 0 and tasks_requests(emu) == 0


def test_a_damaged_pending_list_is_a_one_line_error(tmp_path, make_emulator):
    from seqera_analytics import CacheError

    emu = make_emulator(rate_limit=None)
    cache = tmp_path / "c"
    do_sync(emu, cache, "scidev/testing")
    path = cache / "state.json"
    body = json.loads(path.read_text())
    next(iter(body["workspaces"].values()))["pending"] = "r1,r2"
    path.write_text(json.dumps(body))
    with pytest.raises(CacheError) as info:
        Cache(cache).state()
    assert "damaged" in str(info.value) and "\n" not in str(info.value)
    shutil.rmtree(cache)
