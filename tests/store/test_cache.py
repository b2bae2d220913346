"""The Parquet cache on its own: commits, reads with filters, crash debris, locking, schema.

Data: the bundled real runs turned into tables (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest

from seqera_analytics import CacheError, CacheLockedError
from seqera_analytics import frames as F
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
from seqera_analytics.fetch import bundle_tables
from seqera_analytics.store import (
    Cache,
    WorkspaceState,
    load_process_progress,
    load_runs,
    load_tasks,
    load_workspaces,
)

WS = {"seqeralabs/benchmarks": 111_111_111_111_111, "scidev/testing": 222_222_222_222_222}
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}


def tables():
    out = []
    for b in iter_run_bundles(bundled_runs_dir()):
        b.workspace_id = WS[b.workspace]
        out.append(bundle_tables(b))
    return out


def fill(cache: Cache, parts=None, commit_each=False):
    with cache.writer() as w:
        for t in parts or tables():
            w.put_runs(t["runs"], t["tasks"], t["process_progress"], t["process_metrics"])
            if commit_each:
                w.commit()
        for name, wid in WS.items():
            w.set_workspace_state(WorkspaceState(wid, name, "http://127.0.0.1:1"))
        w.commit()
    return cache


@pytest.fixture
def cache(tmp_path) -> Cache:
    return fill(Cache(tmp_path / "cache"))


def test_round_trip_equals_what_was_written(cache):
    want = F.to_pandas(F.concat_tables(F.TASKS, [t["tasks"] for t in tables()]))
    got = load_tasks(cache=cache)
    key = ["run_id", "task_id"]
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True),
                                  want.sort_values(key).reset_index(drop=True))
    runs = load_runs(cache=cache)
    assert list(runs.columns) == F.RUNS.names and len(runs) == len(RAW)
    assert runs["submit"].is_monotonic_decreasing
    assert str(runs["submit"].dtype) == "datetime64[ms, UTC]"


def test_counts_and_costs_match_the_raw_json(cache):
    tasks = load_tasks(cache=cache)
    for rid, raw in RAW.items():
        mine = tasks[tasks.run_id == rid]
        assert len(mine) == len(raw["tasks"])
        want = sum(t["task"]["cost"] or 0 for t in raw["tasks"])
        assert mine["cost"].sum() == pytest.approx(want, rel=1e-9)


def test_filters_push_down(cache):
    assert set(load_runs("scidev/testing", cache=cache).run_id) == {"15dvxY1LnZYrYe"}
    assert set(load_runs(WS["seqeralabs/benchmarks"], cache=cache).run_id) == {
        k for k, v in RAW.items() if v["meta"]["workspace"] == "seqeralabs/benchmarks"}
    methyl = {k for k, v in RAW.items() if v["workflow"]["projectName"] == "nf-core/methylseq"}
    assert set(load_runs(pipeline="nf-core/methylseq", cache=cache).run_id) == methyl
    assert set(load_tasks(pipeline="nf-core/methylseq", cache=cache).run_id) == methyl
    assert set(load_runs(user="analyst-2", cache=cache).run_id) == {"15dvxY1LnZYrYe"}
    assert len(load_runs(status="failed", cache=cache)) == 0
    # Active in [2025-09-12, 2025-10-01): runs completed on/after Sept 12.
    want = {k for k, v in RAW.items() if pd.Timestamp(v["workflow"]["complete"]) >= pd.Timestamp("2025-09-12T00:00Z")
            and pd.Timestamp(v["workflow"]["submit"]) < pd.Timestamp("2025-10-01T00:00Z")}
    assert set(load_runs(since="2025-09-12", until="2025-10", cache=cache).run_id) == want
    assert len(load_tasks(since="2026-01-01", cache=cache)) == 0
    assert set(load_process_progress(run_ids=["15dvxY1LnZYrYe"], cache=cache).run_id) == {"15dvxY1LnZYrYe"}


def test_unknown_workspace_says_how_to_sync(cache):
    with pytest.raises(CacheError, match="seqera-analytics sync --workspace acme/prod") as info:
        load_runs("acme/prod", cache=cache)
    assert "scidev/testing" in str(info.value)


@pytest.mark.parametrize("bad", [{"since": "yesterday-ish"}, {"status": "done"}, {"since": "2025-09", "until": "2025-08"}])
def test_bad_filters_are_value_errors(cache, bad):
    with pytest.raises(ValueError):
        load_runs(cache=cache, **bad)


def test_plain_parquet_readers_agree(cache):
    tasks = load_tasks(cache=cache)
    root = cache.path
    con = duckdb.connect()
    n, cost, rss = con.execute(f"SELECT count(*), sum(cost), sum(peak_rss) FROM read_parquet('{root}/tasks/**/*.parquet', "
                           "hive_partitioning=true)").fetchone()
    assert n == len(tasks) and cost == pytest.approx(tasks.cost.sum()) and rss == tasks.peak_rss.sum()
    ts = con.execute(f"SELECT min(submit) FROM read_parquet('{root}/runs/**/*.parquet', hive_partitioning=true)").fetchone()[0]
    assert ts.utcoffset().total_seconds() == 0 and pd.Timestamp(ts) == load_runs(cache=cache).submit.min()
    per_ws = con.execute(f"SELECT workspace_id, count(*) FROM read_parquet('{root}/tasks/**/*.parquet', "
                     "hive_partitioning=true) GROUP BY 1").fetchall()
    assert dict(per_ws) == tasks.groupby("workspace_id").size().to_dict()
    pdf = pd.read_parquet(root / "tasks")
    assert len(pdf) == len(tasks) and pdf["cost"].sum() == pytest.approx(tasks.cost.sum())
    assert str(pdf["submit"].dtype) == "datetime64[ms, UTC]"
    assert ds.dataset(root / "runs", format="parquet", partitioning="hive").count_rows() == len(RAW)


def test_a_finished_run_put_again_keeps_its_files_and_rows(cache):
    t = tables()[0]
    rid = t["runs"]["run_id"][0].as_py()
    files = cache.state().files
    with cache.writer() as w:
        w.put_runs(t["runs"], t["tasks"].slice(0, 3), t["process_progress"].slice(0, 0), None)
        w.commit()
    assert cache.state().files == files  # nothing rewritten, nothing added
    assert (load_tasks(cache=cache).run_id == rid).sum() == len(RAW[rid]["tasks"])
    assert len(load_process_progress(run_ids=[rid], cache=cache)) == len(RAW[rid]["progress"]["processesProgress"])
    assert len(load_runs(cache=cache)) == len(RAW)


def test_a_run_not_final_is_replaced_whole_and_lives_outside_the_trees(tmp_path):
    cache = Cache(tmp_path / "c")
    t = tables()[0]
    rid = t["runs"]["run_id"][0].as_py()
    with cache.writer() as w:
        w.put_runs(t["runs"], t["tasks"], t["process_progress"], None, final=False)
        w.commit()
        w.put_runs(t["runs"], t["tasks"].slice(0, 3), t["process_progress"].slice(0, 0), None, final=False)
        w.commit()
    assert (load_tasks(cache=cache).run_id == rid).sum() == 3
    assert len(load_process_progress(run_ids=[rid], cache=cache)) == 0
    assert list(load_runs(cache=cache).run_id) == [rid]
    # plain readers of the trees do not see it
    assert not list((cache.path / "tasks").rglob("*.parquet"))
    assert len(list((cache.path / "_active").rglob("*.parquet"))) == 2  # its runs and tasks files


def test_each_commit_adds_one_file_per_table_and_partition_and_each_run_is_in_one(tmp_path):
    parts = tables()
    cache = fill(Cache(tmp_path / "c"), parts, commit_each=True)
    files = cache.state().files["tasks"]
    # one commit per bundled run: one tasks file per run (each run's own partition)
    assert len(files) == len(parts) == len(RAW)
    per_file = [set(pd.read_parquet(cache.path / f, columns=["run_id"]).run_id) for f in files]
    assert sorted(r for ids in per_file for r in ids) == sorted(RAW)
    assert len(load_tasks(cache=cache)) == sum(len(r["tasks"]) for r in RAW.values())


def test_a_second_writer_is_refused_with_a_clear_message(cache):
    with cache.writer():
        with pytest.raises(CacheLockedError, match="pid"):
            cache.writer()
    cache.writer().close()  # free again afterwards


def test_a_commit_that_dies_midway_leaves_the_old_state_readable(tmp_path, monkeypatch):
    parts = tables()
    cache = fill(Cache(tmp_path / "cache"), parts[:1])
    before = load_tasks(cache=cache)
    t = parts[1]
    calls = []
    real_replace = os.replace

    def dying_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    with cache.writer() as w:
        w.put_runs(t["runs"], t["tasks"].slice(0, 1), t["process_progress"], t["process_metrics"])
        monkeypatch.setattr(os, "replace", dying_replace)
        with pytest.raises(KeyboardInterrupt):
            w.commit()
        monkeypatch.setattr(os, "replace", real_replace)
    pd.testing.assert_frame_equal(load_tasks(cache=cache), before)
    # A commit that fails (not killed) takes back what it had moved into place.
    live = {f for fs in cache.state().files.values() for f in fs}
    assert len(calls) == 3
    cache.writer().close()
    on_disk = {str(p.relative_to(cache.path)) for p in cache.path.rglob("*.parquet")}
    assert on_disk == live
    assert not list(cache.path.rglob("*.tmp"))


def test_older_schema_is_upgraded_in_place_newer_is_refused(cache):
    # (issue 10 item 7: an older cache keeps its data; it used to be rebuilt, i.e. re-fetched)
    before = load_runs(cache=cache)
    state = json.loads((cache.path / "state.json").read_text())
    state["schema_version"] = 1
    (cache.path / "state.json").write_text(json.dumps(state))
    with cache.writer() as w:
        assert "upgraded in place" in w.rebuilt
    after = load_runs(cache=cache)
    assert sorted(after["run_id"]) == sorted(before["run_id"])
    assert json.loads((cache.path / "state.json").read_text())["schema_version"] == F.SCHEMA_VERSION
    state = json.loads((cache.path / "state.json").read_text())
    state["schema_version"] = F.SCHEMA_VERSION + 1
    (cache.path / "state.json").write_text(json.dumps(state))
    with pytest.raises(CacheError, match="newer"):
        cache.writer()


def test_damaged_state_file_is_reported(cache):
    (cache.path / "state.json").write_text("{not json")
    with pytest.raises(CacheError, match="damaged"):
        load_runs(cache=cache)


def test_empty_and_missing_caches_read_as_empty(tmp_path):
    c = Cache(tmp_path / "nothing-here")
    assert load_runs(cache=c).empty and list(load_tasks(cache=c).columns) == F.TASKS.names
    assert "nothing synced yet" in str(c.info())


def test_personal_workspace_runs_round_trip(tmp_path):
    t = tables()[0]
    runs = t["runs"].set_column(t["runs"].schema.get_field_index("workspace_id"), "workspace_id",
                                F.runs_table([{"workflow": {"id": "x"}}])["workspace_id"].take([0] * t["runs"].num_rows))
    cache = Cache(tmp_path / "p")
    with cache.writer() as w:
        w.put_runs(runs, None, None, None)
        w.commit()
    assert load_runs(cache=cache)["workspace_id"].isna().all()


def test_info_summarises(cache):
    info = cache.info()
    assert set(info.workspaces.workspace) == set(WS)
    assert info.workspaces.tasks.sum() == sum(len(r["tasks"]) for r in RAW.values())
    assert info.size_bytes > 0 and "seqeralabs/benchmarks" in str(info)


def test_workspaces_table(tmp_path):
    rows = json.loads((Path(__file__).parents[1] / "fixtures/api-responses/workspaces/workspaces_list.json")
                      .read_text())["orgsAndWorkspaces"]
    cache = Cache(tmp_path / "w")
    with cache.writer() as w:
        w.put_workspaces(F.workspaces_table(rows))
        w.commit()
    assert sorted(load_workspaces(cache=cache).workspace) == ["organization1/workspace1", "organization2/workspace2"]


def test_no_token_like_strings_in_the_cache(cache):
    for p in cache.path.rglob("*"):
        if p.is_file():
            assert b"Bearer" not in p.read_bytes() and b"Authorization" not in p.read_bytes()


def test_a_directory_of_someone_elses_files_is_never_adopted(tmp_path):
    mine = tmp_path / "project"
    (mine / "tasks").mkdir(parents=True)
    (mine / "tasks" / "notes.txt").write_text("keep me")
    with pytest.raises(CacheError, match="not a seqera-analytics cache"):
        Cache(mine).writer()
    assert (mine / "tasks" / "notes.txt").read_text() == "keep me"


def test_cleanup_touches_only_its_own_files(cache):
    stray = cache.path / "tasks" / "README.txt"
    stray.write_text("a user's note")
    cache.writer().close()
    assert stray.exists()


@pytest.mark.parametrize("content", ["[]", '{"format": "seqera-analytics-cache", "schema_version": 1, "files": {"runs": "r"}}',
                                     '{"format": "seqera-analytics-cache", "schema_version": 1, "workspaces": {"abc": {}}}',
                                     '{"format": "seqera-analytics-cache", "schema_version": 1, "files": {"runs": ["../../etc/passwd"]}}',
                                     '{"format": "seqera-analytics-cache", "schema_version": "x"}'])
def test_every_kind_of_damaged_state_is_a_cache_error(cache, content):
    (cache.path / "state.json").write_text(content)
    with pytest.raises(CacheError, match="damaged"):
        load_runs(cache=cache)
    with pytest.raises(CacheError, match="damaged"):
        cache.writer()


def test_an_empty_cache_path_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CacheError, match="empty"):
        Cache("")
    with pytest.raises(CacheError, match="empty"):
        Cache("  ")
