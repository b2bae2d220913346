"""The record checks on their own, the upgrade of a cache of the previous release, and the
rule that no right-sizing suggestion follows a single implausible reading."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqera_analytics import frames as F
from seqera_analytics import reports as R
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.cli import main

from .hostile import CHANGES, RUN_ID, V1_CHANGES, hostile_bundle

V1_CACHE = Path(__file__).parent.parent / "fixtures" / "cache-v1"


def _raw(run_id: str) -> dict:
    return json.loads((bundled_runs_dir() / f"{run_id}.json").read_text())


def _tasks(records: list[dict], run_id: str = "r") -> pd.DataFrame:
    return F.to_pandas(F.tasks_table(records, run_id=run_id))


def test_each_change_is_found_once_and_clean_tasks_are_untouched():
    doc = hostile_bundle()
    runs = F.runs_table([doc])
    tasks = F.check_tasks_against_runs(
        F.tasks_table([t["task"] for t in doc["tasks"]], run_id=RUN_ID), runs)
    quality = tasks.column("quality").to_pylist()
    for i, (_, code) in CHANGES.items():
        assert quality[i] == [code], i
    assert all(q is None for i, q in enumerate(quality) if i not in CHANGES)
    assert runs.column("quality").to_pylist() == [None]


@pytest.mark.parametrize("change, column, nulled", [
    ({"start": "1970-01-01T00:00:00Z"}, "start", True),
    ({"start": 0}, "start", True),  # epoch 0 as a number
    ({"submit": "2012-12-31T23:59:59Z"}, "submit", True),
    ({"complete": "2099-01-01T00:00:00Z"}, "complete", True),
    ({"cost": float("inf")}, "cost", True),
    ({"cost": float("nan")}, "cost", True),
    ({"cost": -0.01}, "cost", True),
    ({"peakRss": -1}, "peak_rss", True),
    ({"duration": -5}, "duration", True),
    ({"rchar": 2**63}, "rchar", True),
    ({"rchar": "12abc"}, "rchar", True),
    ({"start": "2025-09-26T14:09:13"}, "start", False),  # zone-less: read as UTC
])
def test_impossible_values_become_null_and_are_named(change, column, nulled):
    task = {**_raw("wELtvsveirfd9")["tasks"][0]["task"], **change}
    df = _tasks([task])
    assert df["quality"][0] is not None and len(df["quality"][0]) == 1
    assert df["quality"][0][0].endswith(f":{column}")
    assert pd.isna(df[column][0]) == nulled
    if not nulled:
        assert df[column][0] == pd.Timestamp("2025-09-26T14:09:13Z")


def test_a_failed_submission_with_the_sentinel_exit_is_not_a_lost_task():
    # A job that never started (e.g. rejected by the executor) keeps Nextflow's initial
    # exit status, Integer.MAX_VALUE: it is no "lost task" (which needs a task that ran).
    base = _raw("wELtvsveirfd9")["tasks"][0]["task"]
    never = {**base, "status": "FAILED", "start": None, "complete": None, "exitStatus": 2147483647}
    ran = {**base, "taskId": 99, "status": "FAILED", "exitStatus": 2147483647}
    df = _tasks([never, ran])
    assert pd.isna(df.exit_status[0]) and df.quality[0] == ["sentinel_exit:exit_status"]
    assert df.exit_status[1] == 2147483647 and df.quality[1] is None
    meaning = R.exit_status_meaning(df.exit_status)
    assert "lost" not in str(meaning[0]) and "lost" in str(meaning[1])


@pytest.mark.parametrize("machine, vcpus, gib", [
    ("r6id.4xlarge", 16, 128), ("m6id.24xlarge", 96, 384), ("c5.large", 2, 4), ("t3.xlarge", 4, 16),
    ("x2iedn.xlarge", 4, 128), ("m5.metal", None, None), ("n2-standard-8", None, None), (None, None, None),
])
def test_machine_capacity_from_aws_names(machine, vcpus, gib):
    got = F.machine_capacity(machine)
    assert got == (vcpus, None if gib is None else gib * 2**30)


def test_real_readings_of_the_bundled_runs_are_not_flagged():
    # DEEPVARIANT uses 1,223 % on 12 requested cpus of a 16-vCPU r6i.4xlarge: real, kept.
    for path in sorted(bundled_runs_dir().glob("*.json")):
        doc = json.loads(path.read_text())
        runs = F.runs_table([doc])
        tasks = F.check_tasks_against_runs(
            F.tasks_table([t["task"] for t in doc["tasks"]], run_id=doc["workflow"]["id"]), runs)
        assert tasks.column("quality").null_count == tasks.num_rows, path.name
        assert runs.column("quality").to_pylist() == [None], path.name
    near = [t["task"] for t in _raw("3dLeF2W4ju5og4")["tasks"] if "DEEPVARIANT" in t["task"]["process"]
            and (t["task"].get("pcpu") or 0) > 1200 and t["task"]["machineType"].endswith(".4xlarge")]
    assert [(t["pcpu"], t["cpus"], t["machineType"]) for t in near] == [(1222.7, 12, "r6i.4xlarge")]


def test_one_implausible_reading_changes_no_suggestion():
    raw = _raw("3dLeF2W4ju5og4")
    runs = F.to_pandas(F.runs_table([raw]))
    records = [t["task"] for t in raw["tasks"]]
    tasks = F.to_pandas(F.tasks_table(records, run_id="3dLeF2W4ju5og4"))
    before = R.right_size(tasks, runs).set_index("process")
    # one more attempt of the busiest process, reading 500 cpus on a 16-vCPU machine
    done = [t for t in records if t["status"] == "COMPLETED" and t.get("machineType") == "r6i.4xlarge"]
    odd = copy.deepcopy(done[0])
    odd.update(taskId=10_000, pcpu=50_000.0, peakRss=10 * 2**40)
    extra = F.to_pandas(F.tasks_table([odd], run_id="3dLeF2W4ju5og4"))
    assert set(extra.quality[0]) == {"implausible_pcpu:pcpu", "implausible_peak_rss:peak_rss"}
    after = R.right_size(pd.concat([tasks, extra], ignore_index=True), runs).set_index("process")
    cols = ["suggested_cpus", "suggested_memory", "suggested_time", "tasks_completed"]
    pd.testing.assert_frame_equal(after[cols], before[cols])
    # the same reading without a flag (a frame built by hand) would move the suggestion
    unflagged = extra.assign(quality=None)
    moved = R.right_size(pd.concat([tasks, unflagged], ignore_index=True), runs).set_index("process")
    assert moved.loc[odd["process"], "suggested_cpus"] > before.loc[odd["process"], "suggested_cpus"]


def test_a_cache_of_the_previous_release_upgrades_in_place_without_a_request(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "v1"
    shutil.copytree(V1_CACHE, cache)
    assert json.loads((cache / "state.json").read_text())["schema_version"] == 1

    def no_request(*a, **k):  # pragma: no cover - must not be called
        raise AssertionError("the upgrade made an HTTP request")

    monkeypatch.setattr(httpx.Client, "send", no_request)
    monkeypatch.setattr(httpx.AsyncClient, "send", no_request)
    old_tasks = pd.concat(pq.read_table(p).to_pandas() for p in sorted((V1_CACHE / "tasks").rglob("*.parquet")))
    assert main(["report", "quality", "--cache", str(cache)]) == 0
    out = capsys.readouterr()
    assert "upgraded in place" in out.err + out.out
    assert json.loads((cache / "state.json").read_text())["schema_version"] == F.SCHEMA_VERSION
    tasks = pd.read_parquet(cache / "tasks")
    assert len(tasks) == len(old_tasks) and set(tasks.run_id) == set(old_tasks.run_id)
    flagged = tasks[tasks.quality.notna()]
    assert set(flagged.run_id) == {RUN_ID}
    # what the old files still held is found; what the old release had already nulled or read
    # as UTC (text, beyond int64, zone-less) cannot be, and is not claimed
    found = {code for q in flagged.quality for code in q}
    lost_before = {"out_of_range:rchar", "zoneless_time:submit", "unreadable:start"}
    assert found == {CHANGES[i][1] for i in V1_CHANGES} - lost_before
    # the old file's negative cost is no longer summed
    hostile = old_tasks[old_tasks.run_id == RUN_ID]
    rep = R.cost_report(cache=cache, by="run_id", period=None).set_index("run_id")
    assert rep.loc[RUN_ID, "cost"] == pytest.approx(hostile.cost[hostile.cost >= 0].sum(), abs=0.005)
    assert not math.isclose(rep.loc[RUN_ID, "cost"], hostile.cost.sum())
    # old files are gone, nothing left over
    live = {f for fs in json.loads((cache / "state.json").read_text())["files"].values() for f in fs}
    assert {str(p.relative_to(cache)) for p in cache.rglob("*.parquet")} == live


def test_tasks_against_their_run_cached_tasks_keep_their_original_times():
    doc = copy.deepcopy(_raw("wELtvsveirfd9"))
    doc["workflow"]["submit"] = "2025-09-26T15:00:00Z"  # after the first tasks started
    tasks = [copy.deepcopy(t["task"]) for t in doc["tasks"][:3]]
    tasks[1]["status"] = "CACHED"  # a cached task: the times of its original execution
    tasks[2]["realtime"] = 10 * 86_400_000  # ten days in a run of ten hours
    tasks[2].update(submit="2025-09-26T16:00:00Z", start="2025-09-26T16:00:00Z", complete="2025-09-26T16:30:00Z")
    runs = F.runs_table([doc])
    out = F.to_pandas(F.check_tasks_against_runs(F.tasks_table(tasks, run_id=doc["workflow"]["id"]), runs))
    early = pd.Timestamp(doc["workflow"]["submit"]) - pd.Timedelta(minutes=10)
    assert pd.Timestamp(tasks[0]["start"]) < early
    assert sorted(out.quality[0]) == ["before_run:start", "before_run:submit"]
    assert pd.isna(out.start[0]) and pd.isna(out.submit[0]) and not pd.isna(out.complete[0])
    assert out.quality[1] is None and out.start[1] == pd.Timestamp(tasks[1]["start"])
    assert list(out.quality[2]) == ["implausible_realtime:realtime"] and out.realtime[2] == pd.Timedelta(days=10)


def test_an_upgrade_moves_a_run_whose_submit_was_impossible_with_all_its_rows(tmp_path):
    # An old release stored an unset submit as 1970 and filed the run under its real month's
    # partition, or 1970-01. After the upgrade the submit is null, so the run belongs in
    # month=unknown, where readers look for its tasks.
    cache = tmp_path / "v1"
    shutil.copytree(V1_CACHE, cache)
    (runs_file,) = [p for p in (cache / "runs").rglob("*.parquet") if "2025-09" in str(p)]
    runs = pq.read_table(runs_file)
    ids = runs.column("run_id").to_pylist()
    target = ids[0]
    submit = runs.column("submit").to_pylist()
    submit[0] = pd.Timestamp(0, unit="ms", tz="UTC").to_pydatetime()
    runs = runs.set_column(runs.schema.get_field_index("submit"), "submit",
                           pa.array(submit, runs.schema.field("submit").type))
    pq.write_table(runs, runs_file)
    n_tasks = sum(pq.read_table(p, columns=["run_id"]).column("run_id").to_pylist().count(target)
                  for p in (cache / "tasks").rglob("*.parquet"))
    assert n_tasks > 0
    from seqera_analytics import load_runs, load_tasks
    from seqera_analytics.store import Cache

    assert Cache(cache).state().schema_version == F.SCHEMA_VERSION
    moved = [p for p in (cache / "tasks").rglob("*.parquet") if "month=unknown" in str(p)]
    assert moved and set(pq.read_table(moved[0]).column("run_id").to_pylist()) == {target}
    assert len(load_tasks(cache=cache, run_ids=[target])) == n_tasks
    assert sorted(load_runs(cache=cache).run_id) == sorted(
        r for p in (V1_CACHE / "runs").rglob("*.parquet") for r in pq.read_table(p).column("run_id").to_pylist())
    run = load_runs(cache=cache, run_ids=[target]).iloc[0]
    assert pd.isna(run.submit) and "impossible_time:submit" in list(run.quality)


def test_edge_records_found_by_review():
    base = {**_raw("wELtvsveirfd9")["tasks"][0]["task"]}
    rows = [
        # the sentinel with an epoch-0 start: nothing says it ran (as an upgrade would see it)
        {**base, "status": "ABORTED", "start": 0, "exitStatus": 2147483647},
        # real memory of a c5n (5.25 GiB per vCPU): not implausible
        {**base, "taskId": 2, "machineType": "c5n.large", "peakRss": int(4.9 * 2**30), "memory": None},
        # neither machine nor request known: the largest machine still bounds a reading
        {**base, "taskId": 3, "machineType": "weird", "memory": None, "peakRss": 2**50, "cpus": None,
         "pcpu": 1e6},
        # a date without a time has no zone (its "-26" is no offset)
        {**base, "taskId": 4, "start": "2025-09-26"},
    ]
    q = _tasks(rows).quality
    assert sorted(q[0]) == ["impossible_time:start", "sentinel_exit:exit_status"]
    assert q[1] is None
    assert sorted(q[2]) == ["implausible_pcpu:pcpu", "implausible_peak_rss:peak_rss"]
    assert list(q[3]) == ["zoneless_time:start"]
