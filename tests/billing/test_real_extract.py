"""The bundled real CUR extract against the bundled real runs: every figure computed here
from the CUR file and the runs' JSON (pyarrow/pandas only) must equal the toolkit's to the
cent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from seqera_analytics.billing import import_cur, load_cur
from seqera_analytics.reports import (
    billed_tasks,
    cost_report,
    efficiency_report,
    failure_report,
    reconcile_billing,
    session_cost_report,
    task_failures,
)
from seqera_analytics.store import Cache

COVERED = ("1xpti5PH3K2VUW", "3dLeF2W4ju5og4", "50CueCkLKqyOeH", "wELtvsveirfd9")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "aws-cur" / "cur-bundled-runs.parquet"


@pytest.fixture
def billed_cache(fresh_cache: Path, cur_file: Path) -> Path:
    import_cur(cur_file, cache=fresh_cache)
    return fresh_cache


@pytest.mark.skipif(not SHARED.is_file(), reason="the shared data is not next to this checkout")
def test_bundled_copy_is_the_shared_extract(cur_file: Path) -> None:
    assert cur_file.read_bytes() == SHARED.read_bytes()


def test_per_run_equals_the_file(billed_cache: Path, expected: dict) -> None:
    per_run = expected["per_run"]
    rec = reconcile_billing(per="run", period=None, cache=billed_cache).set_index("run_id")
    for rid in COVERED:
        for ours, theirs in (("used_cost", "used"), ("idle_cost", "idle"), ("billed_cost", "billed")):
            assert round(float(rec.at[rid, ours]), 2) == round(float(per_run.at[rid, theirs]), 2), (rid, ours)
    # the figures BILLING-NOTES gives for orientation, and the estimate they are set against
    assert round(float(rec.at["3dLeF2W4ju5og4", "billed_cost"]), 2) == 48.01
    assert round(float(rec.at["3dLeF2W4ju5og4", "cost"]), 2) == 31.88
    cost = cost_report(cache=billed_cache, by="run_id", period=None, basis="billed").set_index("run_id")
    for rid in COVERED:
        assert round(float(cost.at[rid, "billed_cost"]), 2) == round(float(per_run.at[rid, "billed"]), 2)


def test_per_task_equals_the_file(billed_cache: Path, expected: dict, bundle_tasks: pd.DataFrame) -> None:
    per_task = expected["per_task"].reset_index()
    want = bundle_tasks.merge(per_task, left_on=["run_id", "full"], right_on=["run_id", "task_hash"],
                              how="left")
    ours = billed_tasks(cache=billed_cache)
    got = want.merge(ours, on=["run_id", "task_id"], how="outer", validate="one_to_one", indicator=True)
    assert (got["_merge"] == "both").all()  # every task attempt, once
    for mine, theirs in (("used_cost", "used"), ("idle_cost", "idle"), ("billed_cost", "billed")):
        a = got[mine].astype("float64").round(2)
        b = got[theirs].astype("float64").round(2)
        assert ((a == b) | (a.isna() & b.isna())).all(), mine
    # on the real extract every tagged line matches its task by the full hash
    assert set(ours["matched_by"].dropna()) == {"hash"}
    assert ours["bill_lines"].sum() == (expected["lines"]["run_id"].isin(COVERED)).sum()
    # tasks without lines, failed attempts included: 14 in 3dLeF2W4ju5og4, all 16 of 15dvx...
    none = got[got["bill_lines"] == 0]
    assert none.groupby("run_id").size().to_dict() == {"15dvxY1LnZYrYe": 16, "3dLeF2W4ju5og4": 14}
    assert set(none.loc[none.run_id == "3dLeF2W4ju5og4", "status_x"]) == {"FAILED"}  # never started


def test_run_without_lines_is_reported(billed_cache: Path) -> None:
    rec = reconcile_billing(per="run", period=None, cache=billed_cache).set_index("run_id")
    row = rec.loc["15dvxY1LnZYrYe"]
    assert pd.isna(row["billed_cost"]) and row["bill_lines"] == 0
    assert row["note"] == "no bill lines"
    per = reconcile_billing(cache=billed_cache)
    march = per[(per.period_label == "2025-03") & (per.row == "runs")].iloc[0]
    assert march["runs_without_lines"] == 1


def test_decoy_is_unattributed_undated_and_counted_once(billed_cache: Path, cur_file: Path) -> None:
    raw = pq.read_table(cur_file).to_pandas()
    decoy = raw[raw["line_item_product_code"] == "SyntheticCost"]
    assert len(decoy) == 1
    per = reconcile_billing(cache=billed_cache, since="2025-09", until="2025-10")
    un = per[per.row == "unattributed"]
    assert len(un) == 1
    assert un.iloc[0]["period_label"] == "undated" and pd.isna(un.iloc[0]["period"])
    assert round(float(un.iloc[0]["billed_cost"]), 2) == 0.12  # not 0.25: split and unblended once
    # every line of the file once: the total rows add up to the file's billed money
    by_line = raw["split_line_item_split_cost"].fillna(0) + raw["split_line_item_unused_cost"].fillna(0)
    file_total = round(float(by_line.sum()), 2)
    assert round(float(per.loc[per.row == "total", "billed_cost"].sum()), 2) == file_total
    sep = per[(per.period_label == "2025-09") & (per.row == "runs")].iloc[0]
    assert sep["runs"] == 4 and sep["runs_without_lines"] == 0 and sep["tasks_without_lines"] == 14


def test_estimate_and_billed_in_the_same_period(billed_cache: Path) -> None:
    """A task's billed cost counts where its estimate does, so the bases compare row by row."""
    both = cost_report(cache=billed_cache, by="pipeline", basis="both")
    est = cost_report(cache=billed_cache, by="pipeline")
    keys = ["period_label", "pipeline"]
    m = both.merge(est, on=keys, suffixes=("", "_est"))
    assert len(m) == len(est) == len(both)
    assert (m["cost"].round(6) == m["cost_est"].round(6)).all()
    sep = both[both.period_label == "2025-09"]
    assert round(float(sep["billed_cost"].sum()), 2) == 150.37  # 150.49 less the decoy


def test_load_cur_reads_every_line(cur_file: Path, expected: dict) -> None:
    lines = load_cur(cur_file)
    assert len(lines) == len(expected["lines"]) == 1427
    assert lines["line_key"].is_unique  # equal-looking lines of one file stay distinct
    assert round(float(lines["billed_cost"].sum()), 6) == round(float(expected["lines"]["billed"].sum()), 6)
    assert str(lines["usage_start"].dtype) == "datetime64[ms, UTC]"


def test_cache_holds_the_bill_as_its_own_dataset(billed_cache: Path, expected: dict) -> None:
    rows = Cache(billed_cache).read_billing().to_pandas()
    assert set(rows["period"]) == {"2025-09", "undated"}
    assert round(float(rows["billed_cost"].sum()), 6) == round(float(expected["lines"]["billed"].sum()), 6)
    assert int(rows["lines"].sum()) == 1427


def test_failures_efficiency_and_sessions_on_the_bill(billed_cache: Path, expected: dict,
                                                      bundle_tasks: pd.DataFrame) -> None:
    per_task = expected["per_task"].reset_index()
    t = bundle_tasks.merge(per_task, left_on=["run_id", "full"], right_on=["run_id", "task_hash"], how="left")
    failed = t[t.status == "FAILED"]
    want = failed.groupby("run_id")["billed"].sum(min_count=1)
    got = _task_failures(billed_cache)
    assert round(float(got.at["3dLeF2W4ju5og4", "billed_cost"]), 2) == round(float(want["3dLeF2W4ju5og4"]), 2)
    assert got.at["3dLeF2W4ju5og4", "tasks_without_lines"] == 14
    assert pd.isna(got.at["15dvxY1LnZYrYe", "billed_cost"])
    fr = failure_report(cache=billed_cache, basis="both", by="run_id", period=None).set_index("run_id")
    assert round(float(fr.at["3dLeF2W4ju5og4", "failed_billed_cost"]), 2) == round(float(want["3dLeF2W4ju5og4"]), 2)
    assert round(float(fr.at["3dLeF2W4ju5og4", "failed_cost"]), 6) == round(float(failed[failed.run_id == "3dLeF2W4ju5og4"].cost.sum()), 6)
    sessions = session_cost_report(cache=billed_cache, basis="both")
    assert round(float(sessions["billed_cost"].sum()), 2) == round(float(expected["per_run"].loc[list(COVERED), "billed"].sum()), 2)
    eff = efficiency_report(cache=billed_cache, basis="billed", by="pipeline")
    assert {"billed_cost", "wasted_billed_cost", "idle_cost"} <= set(eff.columns)
    assert "wasted_cost" not in eff.columns
    # every successful task's billed wasted money is at most its used cost
    assert (eff["wasted_billed_cost"].dropna() <= (eff["billed_cost"] - eff["idle_cost"]).dropna() + 1e-9).all()


def _task_failures(cache: Path) -> pd.DataFrame:
    return task_failures(cache=cache, basis="billed", by="run_id").set_index("run_id")


def test_a_month_is_the_same_however_the_window_is_asked(billed_cache: Path) -> None:
    keys = ["row", "line_item_type"]
    money = ["cost", "used_cost", "idle_cost", "billed_cost", "tasks", "bill_lines"]
    whole = reconcile_billing(cache=billed_cache)
    whole = whole[whole.period_label == "2025-09"].set_index(keys)[money]
    for since, until in (("2025-09", "2025-10"), ("2025-09-01", None), ("2025-01-01", "2026-01-01")):
        got = reconcile_billing(cache=billed_cache, since=since, until=until)
        got = got[got.period_label == "2025-09"].set_index(keys)[money]
        pd.testing.assert_frame_equal(got, whole)
    daily = cost_report(cache=billed_cache, basis="billed", by=(), period="day", since="2025-09", until="2025-10")
    monthly = cost_report(cache=billed_cache, basis="billed", by=(), period="month")
    sept = monthly[monthly.period_label == "2025-09"].iloc[0]
    assert round(float(daily["billed_cost"].sum()), 6) == round(float(sept["billed_cost"]), 6)
