"""Impossible, implausible and deleted records through the real path: the emulator serves
them, a sync stores them, the CLI reports on the cache.

For each class: the clean records' totals are what the raw JSON says without the bad values,
the record is counted in `report quality`, and the printed report mentions it. Expected
values come from the raw JSON (``json`` and ``datetime``), never from the code under test.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from seqera_analytics import connect, sync
from seqera_analytics.cli import main
from seqera_analytics.emulator import Emulator

from .hostile import BASE_RUN, CHANGES, RUN_ID, base_bundle, hostile_bundle, write_runs_dir

DELETED_RUN = "deletedRun0001"
SHORT_RUN = "shortRun000001"  # its counters say 5 more tasks than the server lists


def _deleted_bundle() -> dict:
    doc = copy.deepcopy(base_bundle())
    doc["workflow"].update(id=DELETED_RUN, runName="deleted-run", deleted=True,
                           sessionId="0f1e2d3c-0000-4000-8000-00000000dead")
    return doc


def _short_bundle() -> dict:
    doc = copy.deepcopy(base_bundle())
    doc["workflow"].update(id=SHORT_RUN, runName="short-run", sessionId="0f1e2d3c-0000-4000-8000-0000000005e7")
    doc["tasks"] = doc["tasks"][:-5]
    return doc


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    runs = write_runs_dir(root / "runs")
    (runs / f"{DELETED_RUN}.json").write_text(json.dumps(_deleted_bundle()))
    (runs / f"{SHORT_RUN}.json").write_text(json.dumps(_short_bundle()))
    path = root / "cache"
    with Emulator(runs_dir=runs, rate_limit=None) as emu, connect(token=emu.token, endpoint=emu.url) as c:
        summary = sync("seqeralabs/benchmarks", cache=path, client=c, show_progress=False)
    assert summary.runs_added == 4
    return path


def _iso(s: object) -> dt.datetime | None:
    """A raw time as the API documents it (ISO-8601 with a zone, from 2013 on), else None."""
    if not isinstance(s, str):
        return None
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None or t.year < 2013 or t > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
        return None
    return t


def _good_cost(v: object) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf") else 0.0


def _cpu_hours(tasks: list[dict]) -> float:
    total = 0.0
    for t in tasks:
        a, b = _iso(t.get("start")), _iso(t.get("complete"))
        if a and b and b >= a and isinstance(t.get("cpus"), int):
            total += t["cpus"] * (b - a).total_seconds() / 3600
    return total


def _cli(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_clean_totals_are_those_of_the_raw_records_without_the_bad_values(cache, capsys, tmp_path):
    out = _cli(capsys, "report", "cost", "--by", "run_id", "--period", "none", "--cache", str(cache),
               "--output", str(tmp_path / "cost.csv"), "--layout", "wide")
    rep = pd.read_csv(tmp_path / "cost.csv").set_index("run_id")
    hostile = [t["task"] for t in hostile_bundle()["tasks"]]
    base = [t["task"] for t in base_bundle()["tasks"]]
    assert rep.loc[RUN_ID, "cost"] == pytest.approx(sum(_good_cost(t.get("cost")) for t in hostile), abs=0.005)
    assert rep.loc[BASE_RUN, "cost"] == pytest.approx(sum(_good_cost(t.get("cost")) for t in base), abs=0.005)
    # the negative cost is not summed: the hostile run costs its base minus the changed tasks
    changed = sum(_good_cost(base[i].get("cost")) for i in (2, 7))
    assert rep.loc[RUN_ID, "cost"] == pytest.approx(rep.loc[BASE_RUN, "cost"] - changed, abs=0.005)
    assert rep.loc[RUN_ID, "cpu_hours"] == pytest.approx(_cpu_hours(hostile), rel=1e-9)
    assert rep.loc[RUN_ID, "tasks_without_cost"] == 2  # the negative cost and the never-run task
    # the deleted run is left out, and the report says what it left out
    assert DELETED_RUN not in rep.index
    assert "Data quality:" in out and "1 run marked deleted" in out
    # values nulled: all but the implausible reading, the zone-less time (read as UTC) and
    # the future last_updated (kept: the sync compares it with the next listing)
    nulled = [c for _, c in CHANGES.values()
              if not c.startswith(("implausible", "zoneless")) and c != "impossible_time:last_updated"]
    assert f"{len(nulled)} task records with impossible values" in out
    implausible = [c for _, c in CHANGES.values() if c.startswith("implausible")]
    assert f"{len(implausible)} with implausible usage" in out and "1 with times without a zone" in out


def test_report_quality_counts_every_class(cache, capsys, tmp_path):
    out = _cli(capsys, "report", "quality", "--cache", str(cache))
    assert "impossible_time" in out and "sentinel_exit" in out
    _cli(capsys, "report", "quality", "--cache", str(cache), "--output", str(tmp_path / "q.csv"),
         "--layout", "wide")
    q = pd.read_csv(tmp_path / "q.csv")
    found = {f"{r['class']}:{r['column']}": r for _, r in q.iterrows()}
    for _, code in CHANGES.values():
        assert found[code]["records"] == 1 and found[code]["runs"] == 1, code
    n_tasks = len(hostile_bundle()["tasks"]) + len(base_bundle()["tasks"]) + len(_short_bundle()["tasks"])
    assert set(q[q.table == "tasks"].records_checked) == {n_tasks}
    deleted = found["deleted:deleted"]
    assert deleted["records"] == 1 and "left out" in deleted["action"]
    short = found["missing_tasks:tasks"]
    assert short["records"] == 1 and short["records_checked"] == 3  # hostile, base, short
    assert len(q) == len(CHANGES) + 2  # the base run is clean


def test_every_report_names_what_it_left_out(cache, capsys):
    for kind in ("runtime", "failures", "efficiency"):
        out = _cli(capsys, "report", kind, "--cache", str(cache))
        assert "Data quality:" in out and "report quality" in out, kind
    # the month of the runs: the tasks with impossible times still count where their run is
    out = _cli(capsys, "report", "cost", "--month", "2025-09", "--cache", str(cache))
    assert "Data quality:" in out


def test_implausible_usage_is_left_out_of_right_sizing(cache):
    from seqera_analytics.reports import efficiency_report

    rep = efficiency_report(cache=cache, by="process,run_id")
    hostile = [t["task"] for t in hostile_bundle()["tasks"]]
    process = hostile[3]["process"]
    flagged = {i for i, (_, c) in CHANGES.items() if c.startswith("implausible")}
    measured = [i for i, t in enumerate(hostile) if t["process"] == process and t["status"] == "COMPLETED"]
    assert 3 in measured
    row = rep[(rep.process == process) & (rep.run_id == RUN_ID)].iloc[0]
    # the flagged tasks are not among the measured ones
    assert row.tasks == len([i for i in measured if i not in flagged])
    clean = rep[(rep.process == process) & (rep.run_id == BASE_RUN)].iloc[0]
    assert row.cpu_usage_max <= clean.cpu_usage_max


def test_the_explorer_says_what_the_report_left_out(cache):
    from seqera_analytics.widgets import Explorer

    ex = Explorer(cache, since="2025-01-01")
    assert ex.message and "Data quality:" in ex.message and "1 run marked deleted" in ex.message
    assert "Data quality:" in ex.w_message.value


def test_frames_with_a_deleted_run_give_what_the_cache_gives(cache):
    from seqera_analytics import load_runs, load_tasks
    from seqera_analytics import reports as R

    runs, tasks = load_runs(cache=cache), load_tasks(cache=cache)
    assert runs.deleted.fillna(False).sum() == 1
    for fn, kw in ((R.cost_report, {"by": "run_id"}), (R.efficiency_report, {"by": "process"}),
                   (R.data_quality, {})):
        on_frames, on_cache = fn(tasks, runs, **kw), fn(cache=cache, **kw)
        pd.testing.assert_frame_equal(on_frames, on_cache, check_exact=False, rtol=1e-9)
        assert on_frames.attrs["notes"] == on_cache.attrs["notes"]


def test_runtime_figures_leave_out_the_implausible_readings(cache):
    from seqera_analytics import reports as R

    rep = R.runtime_report(cache=cache, by="run_id", period=None).set_index("run_id")
    hostile = [t["task"] for t in hostile_bundle()["tasks"]]
    flagged = {i for i, (_, c) in CHANGES.items() if c.startswith("implausible")}
    odd_realtime = {i for i, (_, c) in CHANGES.items() if c.startswith("implausible_realtime")}
    used = req = real = 0.0
    for i, t in enumerate(hostile):
        r = t.get("realtime")
        if t["status"] == "CACHED" or not isinstance(r, int) or r < 0:
            continue
        if i not in odd_realtime:  # a pcpu or peak_rss reading does not make realtime odd
            real += r
        if i not in flagged and isinstance(t.get("pcpu"), (int, float)) and isinstance(t.get("cpus"), int):
            used += t["pcpu"] / 100 * r
            req += t["cpus"] * r
    row = rep.loc[RUN_ID]
    assert row.cpu_hours_used == pytest.approx(used / 3.6e6, rel=1e-9)
    assert row.cpu_efficiency == pytest.approx(used / req, rel=1e-9)
    assert row.realtime_hours == pytest.approx(real / 3.6e6, rel=1e-9)


def test_a_narrow_window_note_and_report_quality_agree(cache, capsys):
    out = _cli(capsys, "report", "cost", "--cache", str(cache), "--since", "2025-09-26",
               "--until", "2025-09-27", "--by", "run_id")
    assert "Data quality:" in out
    quality = _cli(capsys, "report", "quality", "--cache", str(cache), "--since", "2025-09-26",
                   "--until", "2025-09-27")
    assert "No data-quality findings" not in quality and "impossible_time" in quality
