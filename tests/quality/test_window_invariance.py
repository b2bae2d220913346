"""A period's figures do not depend on how the question was asked.

On a synthetic workspace with resumed sessions (runs whose CACHED tasks completed in an
earlier month), synced through the emulator: for 200 random windows (open or bounded, aligned
or not) and every period length, each whole-period row equals the row of the same period
asked alone and the row of an all-time query (counts exactly, money to the cent); rows the
window cuts are marked partial; no row is empty; and no whole period inside the window is
missing.
"""

from __future__ import annotations

import numbers
import random

import pandas as pd
import pytest

from seqera_analytics import connect, sync
from seqera_analytics import reports as R
from seqera_analytics.emulator import Emulator
from seqera_analytics.reports import PERIODS

WS = "synthetic/scale"
_STEP = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1),
         "quarter": pd.DateOffset(months=3), "year": pd.DateOffset(years=1)}
#: report -> (function, a count every row has > 0, its columns compared)
REPORTS = {
    "cost": (R.cost_report, "tasks"),
    "failures": (R.failure_report, "task_attempts"),
    "runtime": (R.runtime_report, None),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("invariance") / "cache"
    with Emulator(synthetic_runs=150, include_real_runs=False, rate_limit=None) as emu, \
            connect(token=emu.token, endpoint=emu.url, requests_per_second=500) as c:
        sync(WS, cache=path, client=c, show_progress=False)
    return path


def _rows(df: pd.DataFrame) -> dict[tuple, pd.Series]:
    return {(r.period, r.pipeline): r for _, r in df.iterrows()}


def _same(a: pd.Series, b: pd.Series, what: str) -> None:
    for col in a.index:
        if col in ("period", "period_label", "pipeline", "partial"):
            continue
        x, y = a[col], b[col]
        if pd.isna(x) or pd.isna(y):
            assert pd.isna(x) and pd.isna(y), (what, col, x, y)
        elif "cost" in col:
            assert abs(float(x) - float(y)) < 0.005, (what, col, x, y)
        elif isinstance(x, numbers.Integral):
            assert x == y, (what, col, x, y)
        else:
            assert float(x) == pytest.approx(float(y), rel=1e-9, abs=1e-12), (what, col, x, y)


@pytest.fixture(scope="module")
def reference(cache):
    """All-time rows of each report and period (what every whole-period row must equal)."""
    return {(name, p): _rows(fn(cache=cache, period=p, by="pipeline"))
            for name, (fn, _) in REPORTS.items() for p in PERIODS}


def test_the_workspace_has_resumed_runs_with_tasks_cached_in_an_earlier_month(cache):
    runs = R.session_cost_report(cache=cache)
    assert (runs.runs > 1).sum() >= 3
    tasks = pd.read_parquet(cache / "tasks", columns=["run_id", "status", "complete"])
    sub = pd.read_parquet(cache / "runs", columns=["run_id", "submit"])
    cached = tasks[tasks.status == "CACHED"].merge(sub, on="run_id")
    month = lambda s: s.dt.tz_convert("UTC").dt.strftime("%Y-%m")
    assert (month(cached.complete) < month(cached.submit)).sum() > 0


def test_a_period_asked_alone_equals_its_all_time_row(cache, reference):
    rng = random.Random(7)
    for (name, p), rows in reference.items():
        fn, _ = REPORTS[name]
        for (start, pipeline) in rng.sample(sorted(rows), min(2, len(rows))):
            alone = _rows(fn(cache=cache, period=p, by="pipeline", since=start, until=start + _STEP[p]))
            assert (start, pipeline) in alone, (name, p, start)
            _same(alone[(start, pipeline)], rows[(start, pipeline)], f"{name} {p} {start}")
            assert not alone[(start, pipeline)].partial or start + _STEP[p] > pd.Timestamp.now(tz="UTC")


def test_200_random_windows_agree_on_every_whole_period(cache, reference):
    rng = random.Random(2025)
    starts = [k[0] for rows in reference.values() for k in rows]
    first, last = min(starts), max(starts) + pd.DateOffset(months=1)
    span = (last - first).total_seconds()
    checked_rows = partial_rows = 0
    for i in range(200):
        name = rng.choice(sorted(REPORTS))
        fn, count = REPORTS[name]
        p = rng.choice(PERIODS)
        lo = None if rng.random() < 0.1 else first + pd.Timedelta(seconds=rng.uniform(-0.05, 1.0) * span)
        if rng.random() < 0.3:  # aligned on a month, as a monthly report asks
            lo = lo.floor("D").replace(day=1) if lo is not None else None
        hi = None if rng.random() < 0.25 else (lo or first) + pd.Timedelta(days=rng.uniform(1, 400))
        what = f"#{i} {name} period={p} since={lo} until={hi}"
        got = fn(cache=cache, period=p, by="pipeline", since=lo, until=hi)
        ref = reference[(name, p)]
        rows = _rows(got)
        for key, row in rows.items():
            start, end = key[0], key[0] + _STEP[p]
            cut = (lo is not None and start < lo) or (hi is not None and end > hi)
            assert bool(row.partial) == (cut or end > pd.Timestamp.now(tz="UTC")), what
            if count is not None:
                assert row[count] > 0, (what, "empty row")
            else:
                assert row.runs > 0 or row.tasks > 0, (what, "empty row")
            if row.partial:
                partial_rows += 1
                continue
            assert key in ref, what
            _same(row, ref[key], what)
            checked_rows += 1
        # nothing whole inside the window is missing
        for key in ref:
            start, end = key[0], key[0] + _STEP[p]
            if (lo is None or start >= lo) and (hi is None or end <= hi):
                assert key in rows, (what, "missing", key)
    assert checked_rows > 500 and partial_rows > 50


def test_the_command_line_gives_september_one_figure_however_asked(cache, capsys, tmp_path):
    from seqera_analytics.cli import main

    asks = {
        "month": ["--month", "2025-09"],
        "bounded": ["--since", "2025-09-01", "--until", "2025-10-01"],
        "open": ["--since", "2025-09-01"],
        "year": ["--since", "2025-01-01", "--until", "2026-01-01"],
        "quarter": ["--since", "2025-08-01", "--until", "2025-11-01", "--period", "quarter"],
    }
    rows = {}
    for name, args in asks.items():
        out = tmp_path / f"{name}.csv"
        assert main(["report", "cost", "--cache", str(cache), "--by", "pipeline", *args,
                     "--output", str(out), "--layout", "wide"]) == 0
        df = pd.read_csv(out)
        rows[name] = df[df.period_label.isin(["2025-09", "2025-Q3"])].set_index("pipeline")
    capsys.readouterr()
    sept = rows["month"]
    assert len(sept) >= 2 and not sept.partial.any()
    for name in ("bounded", "open", "year"):
        pd.testing.assert_frame_equal(rows[name][sept.columns], sept, check_exact=False, atol=0.005,
                                      check_dtype=False)
    # a quarter the window cuts (it starts in August) is marked partial
    quarter = rows["quarter"]
    assert len(quarter) and (quarter.period_label == "2025-Q3").all() and quarter.partial.all()
