"""The write-once layout: active area, facts overlay, adoption of a killed sync's batch,
upgrade of a cache of the previous layout.

Expected values come from the bundled run JSON files and the emulator's own run data, never
from the library's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import seqera_analytics
from seqera_analytics import fetch, sync
from seqera_analytics import frames as F
from seqera_analytics.api import RetryPolicy
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
from seqera_analytics.fetch import bundle_tables
from seqera_analytics.store import Cache, WorkspaceState, load_runs, load_tasks

BENCH = "seqeralabs/benchmarks"
TASKS = "/workflow/{workflowId}/tasks"
QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}
WS_ID = 111_111_111_111_111


def bundles():
    out = []
    for b in iter_run_bundles(bundled_runs_dir()):
        b.workspace_id = WS_ID
        out.append(bundle_tables(b))
    return out


def do_sync(emu, cache, workspace=BENCH):
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        return sync(workspace, cache=cache, client=c, show_progress=False, commit_every_s=0.0)
    finally:
        c.close()


def emulator_tasks(emu, rid: str) -> list[int]:
    """Task ids the emulator serves for a run (its own data)."""
    return sorted(int(t["taskId"]) for t in emu._store.runs[rid].view.tasks())


def tree_files(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in cache.glob("[!_]*/**/*.parquet")}


def plain_runs(cache: Path) -> pd.DataFrame:
    return pd.read_parquet(cache / "runs")


# ---------------------------------------------------------------------------- active area
def test_an_active_run_lives_outside_the_trees_until_it_finishes(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    (rid,) = emu.add_runs(1, BENCH, "RUNNING")
    cache = tmp_path / "c"
    do_sync(emu, cache)
    finished = {RAW[r]["meta"]["id"] for r in RAW if RAW[r]["meta"]["workspace"] == BENCH}
    assert set(plain_runs(cache).run_id) == finished  # a plain reader sees finished runs only
    assert rid in set(load_runs(cache=cache).run_id)  # the library sees it too
    assert sorted(load_tasks(run_ids=[rid], cache=cache).task_id) == emulator_tasks(emu, rid)
    assert Cache(cache).state().active.keys() == {rid}
    emu.finish_run(rid)
    do_sync(emu, cache)
    state = Cache(cache).state()
    assert state.active == {} and not list((cache / "_active").rglob("*.parquet"))
    assert set(plain_runs(cache).run_id) == finished | {rid}
    plain = pd.read_parquet(cache / "tasks")
    assert sorted(plain[plain.run_id == rid].task_id) == emulator_tasks(emu, rid)
    assert load_runs(run_ids=[rid], cache=cache).status.tolist() == ["SUCCEEDED"]


def test_final_may_name_the_runs_of_a_call_that_are_final(tmp_path):
    t = bundles()[:2]
    runs = pa.concat_tables([x["runs"] for x in t])
    tasks = pa.concat_tables([x["tasks"] for x in t])
    a, b = runs["run_id"].to_pylist()
    cache = Cache(tmp_path / "c")
    with cache.writer() as w:
        w.put_runs(runs, tasks, final={a})
        w.commit()
        assert {r["run_id"]: r["final"] for r in w.cached_runs(WS_ID).to_pylist()} == {a: True, b: False}
    assert set(plain_runs(cache.path).run_id) == {a}
    assert cache.state().active.keys() == {b}
    assert len(load_tasks(cache=cache)) == len(RAW[a]["tasks"]) + len(RAW[b]["tasks"])


# ---------------------------------------------------------------------------- facts
def test_facts_of_a_finished_run_change_without_touching_its_files(tmp_path):
    t = bundles()[0]
    rid = t["runs"]["run_id"][0].as_py()
    cache = Cache(tmp_path / "c")
    with cache.writer() as w:
        w.put_runs(t["runs"], t["tasks"], t["process_progress"])
        w.commit()
    before = tree_files(cache.path)
    old_labels = t["runs"]["labels"][0].as_py()
    changed = t["runs"].set_column(t["runs"].schema.get_field_index("labels"), "labels",
                                   pa.array([["cost-centre=42", "reviewed"]], F.RUNS["labels"].type))
    changed = changed.set_column(changed.schema.get_field_index("deleted"), "deleted", pa.array([True]))
    with cache.writer() as w:
        w.update_run_facts(changed)
        w.commit()
        assert w.cached_runs(WS_ID, ["labels"]).to_pylist()[0]["labels"] == ["cost-centre=42", "reviewed"]
    assert tree_files(cache.path) == before  # not a byte rewritten, no file added
    got = load_runs(cache=cache)
    assert list(got.labels[0]) == ["cost-centre=42", "reviewed"] and bool(got.deleted[0])
    # the filter sees the overlaid value too
    assert len(load_runs(cache=cache, run_ids=[rid])) == 1
    # a plain reader sees the run as it was when it finished
    plain = plain_runs(cache.path)
    assert list(plain.labels[0]) == old_labels != ["cost-centre=42", "reviewed"]
    # putting the run again (as a sync does when lastUpdated moved) also only changes facts
    with cache.writer() as w:
        w.put_runs(t["runs"], t["tasks"].slice(0, 1))
        w.commit()
    assert tree_files(cache.path) == before
    assert len(load_tasks(cache=cache)) == len(RAW[rid]["tasks"])
    # back to what the fresh row says
    assert load_runs(cache=cache).deleted.fillna(False).tolist() == [bool(t["runs"]["deleted"][0].as_py())]
    assert cache.state().facts is None  # facts equal to the files' values are not kept


def test_unlisted_runs_are_marked_and_cleared(tmp_path):
    t = bundles()[:2]
    cache = Cache(tmp_path / "c")
    with cache.writer() as w:
        for x in t:
            w.put_runs(x["runs"], x["tasks"])
        w.set_workspace_state(WorkspaceState(WS_ID, BENCH, "http://x", full_listed_at="2026-01-02T00:00:00Z"))
        w.commit()
    a, b = (x["runs"]["run_id"][0].as_py() for x in t)
    with cache.writer() as w:
        w.mark_unlisted(WS_ID, [a, "not-cached"], "2026-01-02T03:04:05Z")
        w.mark_unlisted(999, [b], "2026-01-02")  # another workspace's id: left alone
        w.commit()
    runs = load_runs(cache=cache).set_index("run_id")
    assert runs.unlisted_since[a] == pd.Timestamp("2026-01-02T03:04:05Z") and pd.isna(runs.unlisted_since[b])
    assert str(runs.unlisted_since.dtype) == "datetime64[ms, UTC]"
    assert cache.state().workspace(WS_ID).full_listed_at == "2026-01-02T00:00:00Z"
    with cache.writer() as w:
        w.mark_unlisted(WS_ID, [a], "2026-05-01")  # already marked: keeps the first time
        w.commit()
    assert load_runs(cache=cache).set_index("run_id").unlisted_since[a] == pd.Timestamp("2026-01-02T03:04:05Z")
    with cache.writer() as w:
        w.mark_listed(WS_ID, [a])
        w.commit()
    assert load_runs(cache=cache).unlisted_since.isna().all() and cache.state().facts is None
    assert plain_runs(cache.path).unlisted_since.isna().all()
    with cache.writer() as w, pytest.raises(ValueError, match="not a time"):
        w.mark_unlisted(WS_ID, [a], "yesterday-ish")


# ---------------------------------------------------------------------------- adoption
DIE_AT_COMMIT = """
import os, sys
import seqera_analytics.store._writer as W
import seqera_analytics
from seqera_analytics import fetch, sync
from seqera_analytics.api import RetryPolicy
real = W.write_state
def dying(root, state):  # killed after a 2nd batch's files are in place, before its commit point
    if len(state.files.get("runs", [])) >= int(sys.argv[2]):
        os._exit(9)
    real(root, state)
W.write_state = dying
c = fetch.connect(requests_per_second=500, retry=RetryPolicy(initial_delay_s=0.01, max_delay_s=0.05),
                  max_concurrency=1)
sync(sys.argv[3], cache=sys.argv[1], client=c, show_progress=False, commit_every_s=0.0)
"""


def test_a_batch_a_killed_sync_left_is_adopted_not_fetched_again(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    emu.add_runs(6, BENCH, "SUCCEEDED")
    cache = tmp_path / "c"
    here = str(Path(seqera_analytics.__file__).parents[1])
    env = {**os.environ, "TOWER_ACCESS_TOKEN": emu.token, "TOWER_API_ENDPOINT": emu.url, "PYTHONPATH": here}
    proc = subprocess.run([sys.executable, "-c", DIE_AT_COMMIT, str(cache), "2", BENCH], env=env,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    committed = set(Cache(cache).read_table("runs", columns=["run_id"])["run_id"].to_pylist())
    in_tree = set(plain_runs(cache).run_id)
    left = in_tree - committed
    assert left  # the killed commit's runs are in place, no state names them
    for rid in left:  # whole, finished runs, each once
        plain = pd.read_parquet(cache / "tasks")
        assert sorted(plain[plain.run_id == rid].task_id) == emulator_tasks(emu, rid)
    emu.reset_counts()
    with Cache(cache).writer() as w:
        assert w.adopted == len(left)
    do_sync(emu, cache)
    fetched = {r.path.split("/")[2] for r in emu.requests if r.endpoint == TASKS}
    assert not fetched & left  # adopted runs cost no request
    clean = tmp_path / "clean"
    do_sync(emu, clean)
    for table in ("runs", "tasks", "process_progress"):
        assert sorted_table(Cache(cache), table).equals(sorted_table(Cache(clean), table)), table
    plain = pd.read_parquet(cache / "tasks")
    assert not plain.duplicated(["run_id", "task_id"]).any()


KILLED_BEFORE_RUNS_FILES = """
import os, sys
import seqera_analytics.store._writer as W
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
from seqera_analytics.fetch import bundle_tables
from seqera_analytics.store import Cache
real, calls = W.publish, []
def publish(root, staged):  # the 2nd publish of a commit moves the runs files: killed first
    calls.append(1)
    if len(calls) == 2:
        os._exit(9)
    return real(root, staged)
W.publish = publish
b = list(iter_run_bundles(bundled_runs_dir()))[int(sys.argv[2])]
b.workspace_id = 111111111111111
t = bundle_tables(b)
with Cache(sys.argv[1]).writer() as w:
    w.put_runs(t["runs"], t["tasks"])
    w.commit()
"""


def test_an_incomplete_batch_is_removed_and_its_runs_count_as_not_cached(tmp_path):
    t = bundles()[:2]
    cache = Cache(tmp_path / "c")
    with cache.writer() as w:
        w.put_runs(t[0]["runs"], t[0]["tasks"])
        w.commit()
    env = {**os.environ, "PYTHONPATH": str(Path(seqera_analytics.__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", KILLED_BEFORE_RUNS_FILES, str(cache.path), "1"],
                          capture_output=True, timeout=120, env=env, check=False)
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    first, rid = (x["runs"]["run_id"][0].as_py() for x in t)
    plain = pd.read_parquet(cache.path / "tasks")
    assert (plain.run_id == rid).sum() == len(RAW[rid]["tasks"])  # its tasks are visible,
    assert rid not in set(plain_runs(cache.path).run_id)  # its run row never was
    with cache.writer() as w2:
        assert w2.adopted == 0
        assert [r["run_id"] for r in w2.cached_runs(WS_ID).to_pylist()] == [first]
        assert w2.cached_task_rows(WS_ID) == {first: len(RAW[first]["tasks"])}
    assert set(pd.read_parquet(cache.path / "tasks").run_id) == {first}
    assert not list((cache.path / "_staging").glob("*"))


def sorted_table(c: Cache, table: str) -> pa.Table:
    keys = {"runs": ["run_id"], "tasks": ["run_id", "task_id"], "process_progress": ["run_id", "process"]}[table]
    t = c.read_table(table)
    return t.sort_by([(k, "ascending") for k in keys])


# ---------------------------------------------------------------------------- upgrade
def write_previous_layout(root: Path, parts: list[dict[str, pa.Table]], running: str) -> None:
    """A cache as the previous release (schema 2) left it: one file per partition holding
    every run there, active runs included, no ``unlisted_since``; written here by hand
    from the bundled runs."""
    runs = pa.concat_tables([p["runs"] for p in parts])
    status = pc.if_else(pc.equal(runs["run_id"], running), "RUNNING", runs["status"])
    runs = runs.set_column(runs.schema.get_field_index("status"), "status", status)
    tables = {"runs": runs.drop_columns(["unlisted_since"]),
              "tasks": pa.concat_tables([p["tasks"] for p in parts])}
    months = dict(zip(runs["run_id"].to_pylist(), pc.strftime(runs["submit"], format="%Y-%m").to_pylist()))
    files: dict[str, list[str]] = {}
    for name, t in tables.items():
        for month in sorted(set(months.values())):
            mine = t.filter(pc.is_in(t["run_id"], value_set=pa.array([r for r, m in months.items() if m == month])))
            rel = f"{name}/workspace_id={WS_ID}/month={month}/part-{month}.parquet"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(mine.drop_columns(["workspace_id"]), root / rel)
            files.setdefault(name, []).append(rel)
    (root / "state.json").write_text(json.dumps({
        "format": "seqera-analytics-cache", "schema_version": 2, "files": files,
        "workspaces": {str(WS_ID): {"workspace_id": WS_ID, "workspace": BENCH, "endpoint": "http://x",
                                    "complete": True}}}))


def test_a_cache_of_the_previous_layout_is_upgraded_in_place_from_its_own_data(tmp_path):
    parts = bundles()
    running = parts[0]["runs"]["run_id"][0].as_py()
    root = tmp_path / "old"
    write_previous_layout(root, parts, running)
    c = Cache(root)
    runs = load_runs(cache=c)  # the first reader upgrades it
    assert c.state().schema_version == F.SCHEMA_VERSION
    assert sorted(runs.run_id) == sorted(RAW) and runs.unlisted_since.isna().all()
    assert runs.set_index("run_id").status[running] == "RUNNING"
    assert len(load_tasks(cache=c)) == sum(len(r["tasks"]) for r in RAW.values())
    # the trees now hold the finished runs only, each once, with all their tasks
    assert sorted(plain_runs(root).run_id) == sorted(set(RAW) - {running})
    plain = pd.read_parquet(root / "tasks")
    assert running not in set(plain.run_id) and not plain.duplicated(["run_id", "task_id"]).any()
    assert c.state().active.keys() == {running}
    assert not (root / "_staging").exists() or not any((root / "_staging").iterdir())
