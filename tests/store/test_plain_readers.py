"""Plain readers (pandas, DuckDB's glob) during syncs and after SIGKILLs, on local disk.

A sync subprocess (``seqera-analytics sync``) is killed at random points (a random number
of served requests) while this process polls the cache with ``pandas.read_parquet`` and
DuckDB's ``read_parquet('<cache>/tasks/**/*.parquet', hive_partitioning=true)``. Readers
must never see a duplicate ``(run_id, task_id)``, a run whose task rows are fewer than the
emulator serves for it, or an unreadable file. Tasks whose run row is not visible are
allowed only while a sync is publishing a batch, or after a kill, in files the committed
state does not name (the next writer adopts or removes them). After each kill the next
sync's cache equals a cache synced without interruption. Expected task counts come from the
emulator's own run data.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

import seqera_analytics
from seqera_analytics import fetch, sync
from seqera_analytics.api import RetryPolicy
from seqera_analytics.store import Cache

BENCH = "seqeralabs/benchmarks"
QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
CLI = str(Path(sys.executable).with_name("seqera-analytics"))
KEYS = {"runs": ["run_id"], "tasks": ["run_id", "task_id"], "process_progress": ["run_id", "process"],
        "workspaces": ["workspace_id"]}
_VANISHED = ("No such file", "FileNotFound", "not found", "No files found")


class Expect:
    """Task ids the emulator serves per run (its own data), looked up once per run state."""

    def __init__(self, emu):
        self.emu, self.seen = emu, {}

    def tasks(self, rid: str) -> int:
        entry = self.emu._store.runs[rid]
        key = (rid, entry.version)
        if key not in self.seen:
            self.seen[key] = len(entry.view.tasks())
        return self.seen[key]


def plain_read(cache: Path, expect: Expect, *, after_kill: bool) -> tuple[int, int]:
    """Read the trees as a plain reader does (runs first: a run row visible then has its
    tasks in place before the tasks are read); check what it sees. Returns (runs, tasks)
    seen, or (-1, -1) when a file vanished between listing and reading (only while a writer
    opens and removes an interrupted batch)."""
    # (a folder with no file yet is not a dataset to pandas; files only appear during a sync)
    if not any((cache / "runs").rglob("*.parquet")) or not any((cache / "tasks").rglob("*.parquet")):
        return 0, 0
    try:
        runs = pd.read_parquet(cache / "runs", columns=["run_id"])
        tasks = pd.read_parquet(cache / "tasks", columns=["run_id", "task_id"])
        _check(runs.run_id.tolist(), tasks.run_id.tolist(), tasks.task_id.tolist(), None, cache, expect,
               after_kill, "pandas")
        with duckdb.connect() as con:
            r = con.execute(f"SELECT run_id FROM read_parquet('{cache / 'runs' / '**' / '*.parquet'}', "
                            "hive_partitioning=true)").to_arrow_table()
            t = con.execute(f"SELECT run_id, task_id, filename FROM read_parquet("
                            f"'{cache / 'tasks' / '**' / '*.parquet'}', hive_partitioning=true, "
                            "filename=true)").to_arrow_table()
        _check(r["run_id"].to_pylist(), t["run_id"].to_pylist(), t["task_id"].to_pylist(),
               t["filename"].to_pylist(), cache, expect, after_kill, "DuckDB")
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is checked
        text = f"{type(exc).__name__}: {exc}"
        assert any(s in text for s in _VANISHED), f"unreadable cache: {text[:500]}"
        return -1, -1
    return len(runs), len(tasks)


def _check(runs: list, task_runs: list, task_ids: list, filenames: list | None, cache: Path,
           expect: Expect, after_kill: bool, who: str) -> None:
    assert len(set(runs)) == len(runs), f"a run row seen twice ({who})"
    keys = list(zip(task_runs, task_ids))
    assert len(set(keys)) == len(keys), f"a task seen twice ({who})"
    per_run = pd.Series(task_runs, dtype=object).value_counts()
    for rid in runs:
        assert per_run.get(rid, 0) == expect.tasks(rid), f"run {rid} visible with a part of its tasks ({who})"
    orphans = set(task_runs) - set(runs)
    if orphans and after_kill and filenames is not None:
        named = {str(cache / f) for f in Cache(cache).state().files.get("tasks", [])}
        files = {f for r, f in zip(task_runs, filenames) if r in orphans}
        assert not files & named, "committed tasks without their run row"


def sorted_tables(cache: Path) -> dict[str, pa.Table]:
    c = Cache(cache)
    return {t: c.read_table(t).sort_by([(k, "ascending") for k in keys]) for t, keys in KEYS.items()}


def differences(got: pa.Table, want: pa.Table) -> str:
    """Which runs and columns differ (for the failure message)."""
    g, w = got.to_pandas(), want.to_pandas()
    if len(g) != len(w) or list(g.columns) != list(w.columns):
        return f"rows {len(g)} vs {len(w)}; only on one side: {sorted(set(g.run_id) ^ set(w.run_id))[:5]}"
    out = []
    for col in g.columns:
        a, b = g[col].astype(str), w[col].astype(str)
        if not (a == b).all():
            out.append(f"{col}: " + ", ".join(f"{r}: {x!r} vs {y!r}" for r, x, y in
                                              list(zip(g.run_id[a != b], a[a != b], b[a != b]))[:3]))
    return "; ".join(out)


def clean_sync(emu, cache: Path) -> None:
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        sync(BENCH, cache=cache, client=c, show_progress=False, commit_every_s=0.0)
    finally:
        c.close()


def test_plain_readers_during_syncs_and_after_ten_sigkills(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None, latency_ms=5)
    emu.add_runs(10, BENCH, "SUCCEEDED")
    emu.add_runs(2, BENCH, "FAILED")
    running = emu.add_runs(3, BENCH, "RUNNING")
    expect = Expect(emu)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    # the package under test (not whatever copy the console script would find first)
    here = str(Path(seqera_analytics.__file__).parents[1])
    env = {**os.environ, "TOWER_ACCESS_TOKEN": emu.token, "TOWER_API_ENDPOINT": emu.url,
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    rng = random.Random(20261203)
    kills = polls = 0
    for round_ in range(10):
        if round_:  # new work for every round: new runs, an active run finishing
            emu.add_runs(2, BENCH, rng.choice(["SUCCEEDED", "FAILED"]))
            if running:
                emu.finish_run(running.pop())
        # later rounds make ~5 requests (a listing, a task page per new run): kill within them
        target, seen = rng.randint(2, 40 if round_ == 0 else 4), [0]
        log = tmp_path / f"sync-{round_}.log"
        with open(log, "wb") as errs:
            proc = subprocess.Popen([CLI, "sync", "--workspace", BENCH, "--cache", str(killed), "--no-progress",
                                     "--commit-every", "0", "--requests-per-second", "400"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=errs)

        def hook(record, target=target, seen=seen, proc=proc):
            seen[0] += 1
            if seen[0] == target and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)  # at a random point of the sync's requests

        emu.on_request = hook
        while proc.poll() is None:  # a plain reader polls while the sync runs
            plain_read(killed, expect, after_kill=False)
            polls += 1
        emu.on_request = None
        err = log.read_text(errors="replace")
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert proc.returncode == 0, err[-2000:]
        # after the kill: what a plain reader sees is still consistent
        plain_read(killed, expect, after_kill=True)
        # the next sync completes it; a sync never interrupted (polled meanwhile) is the reference
        done, failed = threading.Event(), []

        def poll_clean(done=done, failed=failed):
            try:
                while not done.is_set():
                    plain_read(clean, expect, after_kill=False)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                failed.append(exc)

        poller = threading.Thread(target=poll_clean)
        poller.start()
        try:
            clean_sync(emu, clean)
        finally:
            done.set()
            poller.join()
        if failed:
            raise failed[0]
        clean_sync(emu, killed)
        got, want = sorted_tables(killed), sorted_tables(clean)
        for table in KEYS:
            assert got[table].equals(want[table]), (
                f"round {round_}: {table} differs from a clean sync: {differences(got[table], want[table])}")
        n_runs, _ = plain_read(killed, expect, after_kill=False)
        assert n_runs == sum(1 for rid in emu.run_ids(BENCH)
                             if emu._store.runs[rid].status not in ("RUNNING", "SUBMITTED"))
    assert kills == 10, kills
    assert polls > 10
