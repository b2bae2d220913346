"""Syncs into S3 killed inside a commit (moto server): the next writer adopts the complete
batch a kill left (its runs are not fetched again) and removes an incomplete one; plain
readers of the S3 trees see each finished run once with all its tasks throughout.

The kills are placed exactly (the subprocess exits at a chosen step of the commit), which
the request-count kills of ``test_s3_plain_readers`` reach only by chance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds

import seqera_analytics
from seqera_analytics import fetch, sync
from seqera_analytics.api import RetryPolicy
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
from seqera_analytics.fetch import bundle_tables
from seqera_analytics.store import Cache

BENCH = "seqeralabs/benchmarks"
QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
TASKS = "/workflow/{workflowId}/tasks"

DIE_AT_COMMIT = """
import os, sys
import seqera_analytics.store._writer as W
from seqera_analytics import fetch, sync
from seqera_analytics.api import RetryPolicy
real = W.write_state
def dying(loc, state):  # killed after a 2nd batch's objects are in place, before its commit point
    if len(state.files.get("runs", [])) >= int(sys.argv[2]):
        os._exit(9)
    real(loc, state)
W.write_state = dying
c = fetch.connect(requests_per_second=500, retry=RetryPolicy(initial_delay_s=0.01, max_delay_s=0.05),
                  max_concurrency=1)
sync(sys.argv[3], cache=sys.argv[1], client=c, show_progress=False, commit_every_s=0.0)
"""

KILLED_BEFORE_RUNS_FILES = """
import os, sys
import seqera_analytics.store._writer as W
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
from seqera_analytics.fetch import bundle_tables
from seqera_analytics.store import Cache
real, calls = W.publish, []
def publish(loc, staged):  # the 2nd publish of a commit moves the runs files: killed first
    calls.append(1)
    if len(calls) == 2:
        os._exit(9)
    return real(loc, staged)
W.publish = publish
b = list(iter_run_bundles(bundled_runs_dir()))[int(sys.argv[2])]
t = bundle_tables(b)
with Cache(sys.argv[1]).writer() as w:
    w.put_runs(t["runs"], t["tasks"])
    w.commit()
"""


def _env(s3) -> dict[str, str]:
    return {**os.environ, **s3.env(), "PYTHONPATH": str(Path(seqera_analytics.__file__).parents[1])}


def _plain(s3, prefix: str, table: str, columns: list[str]):
    return ds.dataset(f"{s3.bucket}/{prefix}/{table}", filesystem=s3.fs, format="parquet",
                      partitioning="hive").to_table(columns=columns).to_pandas()


def _sync(emu, cache) -> None:
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        sync(BENCH, cache=cache, client=c, show_progress=False, commit_every_s=0.0)
    finally:
        c.close()


def test_a_batch_a_killed_sync_left_on_s3_is_adopted_not_fetched_again(make_emulator, s3, tmp_path):
    emu = make_emulator(rate_limit=None)
    emu.add_runs(6, BENCH, "SUCCEEDED")
    uri = s3.uri("adopt")
    env = {**_env(s3), "TOWER_ACCESS_TOKEN": emu.token, "TOWER_API_ENDPOINT": emu.url}
    proc = subprocess.run([sys.executable, "-c", DIE_AT_COMMIT, uri, "2", BENCH], env=env,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    committed = set(Cache(uri).read_table("runs", columns=["run_id"])["run_id"].to_pylist())
    in_tree = set(_plain(s3, "adopt", "runs", ["run_id"]).run_id)
    left = in_tree - committed
    assert left  # the killed commit's runs are in place, no state names them
    plain = _plain(s3, "adopt", "tasks", ["run_id", "task_id", "attempt"])
    assert not plain.duplicated().any()
    for rid in left:  # whole, finished runs, each once (the emulator's own task list)
        want = sorted(int(t["taskId"]) for t in emu._store.runs[rid].view.tasks())
        assert sorted(plain[plain.run_id == rid].task_id) == want
    emu.reset_counts()
    with Cache(uri).writer() as w:
        assert w.adopted == len(left)
    _sync(emu, uri)
    fetched = {r.path.split("/")[2] for r in emu.requests if r.endpoint == TASKS}
    assert not fetched & left  # adopted runs cost no request
    clean = tmp_path / "clean"
    _sync(emu, clean)
    for table, keys in (("runs", ["run_id"]), ("tasks", ["run_id", "task_id", "attempt"]),
                        ("process_progress", ["run_id", "process"])):
        got = Cache(uri).read_table(table).sort_by([(k, "ascending") for k in keys])
        want = Cache(clean).read_table(table).sort_by([(k, "ascending") for k in keys])
        assert got.equals(want), table
    assert not _plain(s3, "adopt", "tasks", ["run_id", "task_id", "attempt"]).duplicated().any()


def test_an_incomplete_batch_on_s3_is_removed(s3):
    bundles = [bundle_tables(b) for b in list(iter_run_bundles(bundled_runs_dir()))[:2]]
    uri = s3.uri("incomplete")
    cache = Cache(uri)
    with cache.writer() as w:
        w.put_runs(bundles[0]["runs"], bundles[0]["tasks"])
        w.commit()
    proc = subprocess.run([sys.executable, "-c", KILLED_BEFORE_RUNS_FILES, uri, "1"],
                          capture_output=True, timeout=120, env=_env(s3), check=False)
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    first, rid = (x["runs"]["run_id"][0].as_py() for x in bundles)
    plain = _plain(s3, "incomplete", "tasks", ["run_id", "task_id"])
    assert (plain.run_id == rid).sum() == bundles[1]["tasks"].num_rows  # its tasks are visible,
    assert rid not in set(_plain(s3, "incomplete", "runs", ["run_id"]).run_id)  # its run row never was
    with cache.writer() as w2:
        assert w2.adopted == 0
        assert [r["run_id"] for r in w2.cached_runs(bundles[0]["runs"]["workspace_id"][0].as_py()).to_pylist()] \
            == [first]
    assert set(_plain(s3, "incomplete", "tasks", ["run_id"]).run_id) == {first}
    assert not cache.location.list_files("_staging")
