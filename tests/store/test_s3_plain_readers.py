"""Plain readers (pyarrow.dataset, pandas, DuckDB over a pyarrow dataset) of a cache on S3,
during syncs and after SIGKILLs (the S3 form of ``test_plain_readers``; a moto server).

A sync subprocess (``seqera-analytics sync --cache s3://...``) is killed 10 times at random points
(a random number of served requests) while this process reads ``s3://bucket/prefix/runs``
and ``.../tasks`` as a plain reader does. Readers must never see a duplicate
``(run_id, task_id, attempt)``, a run whose task rows are fewer than the emulator serves
for it, or an unreadable object; tasks whose run row is not visible are allowed only in
objects the committed state does not name (a killed batch, adopted or removed by the next
writer). After each kill the next sync's cache equals a cache synced without interruption.
Expected task counts come from the emulator's own run data.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

import seqera_analytics
from seqera_analytics import fetch, sync
from seqera_analytics.api import RetryPolicy
from seqera_analytics.store import Cache

BENCH = "seqeralabs/benchmarks"
QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
CLI = str(Path(sys.executable).with_name("seqera-analytics"))
KEYS = {"runs": ["run_id"], "tasks": ["run_id", "task_id", "attempt"], "process_progress": ["run_id", "process"],
        "workspaces": ["workspace_id"]}
_VANISHED = ("No such file", "FileNotFound", "not found", "does not exist", "Path does not exist")


def _expected_tasks(emu, rid: str) -> int:
    return len(emu._store.runs[rid].view.tasks())


def plain_read(fs, prefix: str, emu, uri: str, *, after_kill: bool) -> int:
    """Read the S3 trees as a plain reader would (runs first); check what it sees.
    Returns the runs seen, or -1 when an object vanished between listing and reading
    (only while a writer opens and removes an interrupted batch)."""
    try:
        runs_ds = ds.dataset(f"{prefix}/runs", filesystem=fs, format="parquet", partitioning="hive")
        tasks_ds = ds.dataset(f"{prefix}/tasks", filesystem=fs, format="parquet", partitioning="hive")
        runs = runs_ds.to_table(columns=["run_id"])["run_id"].to_pylist()
        pieces = [(frag.path, frag.to_table(columns=["run_id", "task_id", "attempt"]))
                  for frag in tasks_ds.get_fragments()]
        tasks = pa.concat_tables([t for _, t in pieces]) if pieces else None
        files = [p for p, t in pieces for _ in range(t.num_rows)]
        _check(runs, tasks, files, emu, uri, prefix, after_kill, "pyarrow.dataset")
        frame = tasks_ds.to_table(columns=["run_id", "task_id", "attempt"]).to_pandas()  # pandas' view
        assert not frame.duplicated().any(), "a task seen twice (pandas)"
        with duckdb.connect() as con:
            con.register("runs_ds", runs_ds)
            con.register("tasks_ds", tasks_ds)
            r = con.execute("SELECT run_id FROM runs_ds").to_arrow_table()["run_id"].to_pylist()
            t = con.execute("SELECT run_id, task_id, attempt FROM tasks_ds").to_arrow_table()
        _check(r, t, None, emu, uri, prefix, after_kill, "DuckDB")
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is checked
        text = f"{type(exc).__name__}: {exc}"
        assert any(s in text for s in _VANISHED), f"unreadable cache: {text[:500]}"
        return -1
    return len(runs)


def _check(runs: list, tasks: pa.Table | None, files: list | None, emu, uri: str, prefix: str,
           after_kill: bool, who: str) -> None:
    assert len(set(runs)) == len(runs), f"a run row seen twice ({who})"
    if tasks is None:
        assert not runs, f"runs visible without any task ({who})"
        return
    keys = list(zip(*(tasks[c].to_pylist() for c in ("run_id", "task_id", "attempt"))))
    assert len(set(keys)) == len(keys), f"a task seen twice ({who})"
    task_runs = tasks["run_id"].to_pylist()
    per_run = pd.Series(task_runs, dtype=object).value_counts()
    for rid in runs:
        assert per_run.get(rid, 0) == _expected_tasks(emu, rid), f"run {rid} visible with a part of its tasks ({who})"
    orphans = set(task_runs) - set(runs)
    if orphans and after_kill and files is not None:
        named = {f"{prefix}/{f}" for f in Cache(uri).state().files.get("tasks", [])}
        seen = {f for r, f in zip(task_runs, files) if r in orphans}
        assert not seen & named, "committed tasks without their run row"


def sorted_tables(cache: str | Path) -> dict[str, pa.Table]:
    c = Cache(cache)
    return {t: c.read_table(t).sort_by([(k, "ascending") for k in keys]) for t, keys in KEYS.items()}


def clean_sync(emu, cache: str | Path) -> None:
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        sync(BENCH, cache=cache, client=c, show_progress=False, commit_every_s=0.0)
    finally:
        c.close()


def test_plain_readers_of_s3_during_syncs_and_after_sigkills(make_emulator, s3, tmp_path):
    emu = make_emulator(rate_limit=None, latency_ms=5)
    emu.add_runs(8, BENCH, "SUCCEEDED")
    emu.add_runs(2, BENCH, "FAILED")
    running = emu.add_runs(2, BENCH, "RUNNING")
    fs = s3.fs
    uri, prefix = s3.uri("killed"), f"{s3.bucket}/killed"
    clean = tmp_path / "clean"  # the reference: a local cache never interrupted
    here = str(Path(seqera_analytics.__file__).parents[1])
    env = {**os.environ, **s3.env(), "TOWER_ACCESS_TOKEN": emu.token, "TOWER_API_ENDPOINT": emu.url,
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    rng = random.Random(20261204)
    kills = polls = 0
    rounds = 10  # the acceptance: 10 SIGKILLs at random points, on disk and on S3
    for round_ in range(rounds):
        if round_:  # new work for every round: new runs, an active run finishing
            emu.add_runs(3, BENCH, rng.choice(["SUCCEEDED", "FAILED"]))  # >= 4 requests: every kill lands
            if running:
                emu.finish_run(running.pop())
        target, seen = rng.randint(2, 30 if round_ == 0 else 4), [0]
        log = tmp_path / f"sync-{round_}.log"
        with open(log, "wb") as errs:
            proc = subprocess.Popen([CLI, "sync", "--workspace", BENCH, "--cache", uri, "--no-progress",
                                     "--commit-every", "0", "--requests-per-second", "400"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=errs)

        def hook(record, target=target, seen=seen, proc=proc):
            seen[0] += 1
            if seen[0] == target and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)  # at a random point of the sync's requests

        emu.on_request = hook
        while proc.poll() is None:  # a plain reader polls while the sync runs
            plain_read(fs, prefix, emu, uri, after_kill=False)
            polls += 1
        emu.on_request = None
        err = log.read_text(errors="replace")
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert proc.returncode == 0, err[-2000:]
        plain_read(fs, prefix, emu, uri, after_kill=True)  # after the kill: still consistent
        clean_sync(emu, clean)
        clean_sync(emu, uri)  # adopts or removes what the kill left, fetches the rest
        got, want = sorted_tables(uri), sorted_tables(clean)
        for table in KEYS:
            assert got[table].equals(want[table]), f"round {round_}: {table} differs from a clean sync"
        n_runs = plain_read(fs, prefix, emu, uri, after_kill=False)
        assert n_runs == sum(1 for rid in emu.run_ids(BENCH)
                             if emu._store.runs[rid].status not in ("RUNNING", "SUBMITTED"))
    assert kills == rounds, kills
    assert polls > rounds
