"""Bills that try to count money twice, lose it, or shift it to another month (found by
trying to break the import): each is refused in one line, or read right."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curgen import line, write

from seqera_analytics import BillingDataError, ConfigurationError
from seqera_analytics.billing import BillingTags, import_cur, load_cur
from seqera_analytics.reports import reconcile_billing
from seqera_analytics.store import Cache

HOUR = {"line_item_usage_start_date": datetime(2025, 9, 10, 10),
        "line_item_usage_end_date": datetime(2025, 9, 10, 11)}


def _billed(cache: Path) -> float:
    rec = reconcile_billing(cache=cache, period=None)
    return round(float(rec.loc[rec.row == "total", "billed_cost"].sum()), 6)


def _split(i: int, parent: str = "i-1", **kw) -> dict:
    return line(identity_line_item_id=f"s{i}", line_item_resource_id=f"arn:aws:ecs:task/{i}",
                split_line_item_split_cost=6.0, split_line_item_unused_cost=4.0,
                split_line_item_parent_resource_id=parent,
                tags={"unique_run_id": "R1", "task_hash": f"{i:032x}"}, **HOUR, **kw)


def _instance(**kw) -> dict:
    return line(identity_line_item_id="inst", line_item_product_code="AmazonEC2",
                line_item_resource_id="i-1", line_item_unblended_cost=10.0, **HOUR, **kw)


NEXT = {"line_item_usage_start_date": datetime(2025, 9, 10, 11),
        "line_item_usage_end_date": datetime(2025, 9, 10, 12)}


def test_instance_and_its_split_lines_imported_apart_count_once(tmp_path: Path, fresh_cache: Path) -> None:
    tagged = line(identity_line_item_id="t", line_item_unblended_cost=1.0,
                  tags={"unique_run_id": "R9"}, **HOUR)
    hour2 = dict(_instance(), identity_line_item_id="inst2", **NEXT)
    lone = dict(_instance(), identity_line_item_id="inst3", line_item_resource_id="i-2")  # no tasks
    import_cur(write([_instance(), hour2, lone, tagged], tmp_path / "instances", "cur2-map"), cache=fresh_cache)
    split2 = dict(_split(2), **NEXT)
    import_cur(write([_split(1), split2], tmp_path / "splits", "cur2-map"), cache=fresh_cache)
    # not 41: the instance's two hours (20) are its tasks' split lines; i-2 ran no task (10)
    assert _billed(fresh_cache) == 10.0 + 10.0 + 1.0 + 10.0
    rec = reconcile_billing(cache=fresh_cache, period=None).set_index("row")
    assert rec.at["allocated", "unblended_cost"] == 20.0 and rec.at["allocated", "billed_cost"] == 0.0
    # R1 and R9 are no cached runs: their lines (20 + 1) and the idle instance i-2 (10)
    assert rec.at["unattributed", "billed_cost"] == 31.0


def test_a_later_delivery_under_new_identities_is_refused_until_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    mid = [_split(i) for i in range(3)]
    final = [dict(_split(i), identity_line_item_id=f"final-{i}") for i in range(5)]
    import_cur(write(mid, tmp_path / "mid", "cur2-map"), cache=cache)
    state = (cache / "state.json").read_bytes()
    with pytest.raises(BillingDataError, match=r"3 line\(s\) of 2025-09 restate lines .*--replace-period 2025-09"):
        import_cur(write(final, tmp_path / "final", "cur2-map"), cache=cache)
    assert (cache / "state.json").read_bytes() == state
    import_cur(write(final, tmp_path / "final", "cur2-map"), cache=cache, replace_period="2025-09")
    rows = Cache(cache).read_billing().to_pandas()
    assert rows["billed_cost"].sum() == 50.0 and rows["lines"].sum() == 5


def test_the_same_bill_in_another_format_is_refused(tmp_path: Path) -> None:
    lines = [line(line_item_resource_id=f"r{i}", line_item_unblended_cost=1.15,
                  tags={"unique_run_id": "R1"}, **HOUR) for i in range(4)]
    cache = tmp_path / "c"
    import_cur(write(lines, tmp_path / "a", "csv"), cache=cache)
    import_cur(write(lines, tmp_path / "a", "csv.gz"), cache=cache)  # its copy, compressed: nothing new
    with pytest.raises(BillingDataError, match="restate lines the cache holds"):
        import_cur(write(lines, tmp_path / "b", "cur2-map"), cache=cache)
    with pytest.raises(BillingDataError, match="appear in two of the files"):
        import_cur([write(lines, tmp_path / "c", "legacy-parquet"), write(lines, tmp_path / "d", "csv")],
                   cache=tmp_path / "other")
    assert round(float(Cache(cache).read_billing()["billed_cost"].to_pandas().sum()), 6) == 4.6


def test_an_identity_in_a_neighbouring_period_is_the_same_line(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    undated = line(identity_line_item_id="L1", identity_time_interval="I1", line_item_unblended_cost=5.0,
                   line_item_resource_id="r", tags={"unique_run_id": "R1"})
    import_cur(write([undated], tmp_path / "v1", "csv"), cache=cache)
    dated = dict(undated, **HOUR)
    r = import_cur(write([dated], tmp_path / "v2", "csv"), cache=cache)
    assert r.lines_added == 0 and r.lines_already_imported == 1


@pytest.mark.parametrize("cost", ["1,234.5", "N/A", "$3.00", "NaN", "inf", "-inf", "1e308"])
def test_a_cost_that_is_not_a_number_is_refused(tmp_path: Path, cost: str) -> None:
    p = tmp_path / "bill.csv"
    p.write_text("identity/LineItemId,lineItem/LineItemType,lineItem/UnblendedCost,"
                 "lineItem/UsageStartDate,resourceTags/user:unique-run-id\n"
                 f'a,Usage,"{cost}",2025-09-01T00:00:00Z,R1\nb,Usage,1.0,2025-09-01T00:00:00Z,R1\n')
    with pytest.raises(BillingDataError, match="not a finite number") as err:
        import_cur(p, cache=tmp_path / "c")
    assert "\n" not in str(err.value) and not (tmp_path / "c" / "billing_tasks").exists()


def test_a_date_that_is_not_a_time_is_refused_and_offsets_are_instants(tmp_path: Path) -> None:
    head = ("identity/LineItemId,lineItem/LineItemType,lineItem/UnblendedCost,lineItem/UsageStartDate,"
            "resourceTags/user:unique-run-id\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(head + "a,Usage,1.0,garbage,R1\n")
    with pytest.raises(BillingDataError, match="not a time"):
        load_cur(bad)
    ok = tmp_path / "ok.csv.gz.part"  # gzip without a .gz name
    ok.write_bytes(gzip.compress((head + "a,Usage,1.0,2025-09-01T00:30:00+02:00,R1\n"
                                  "b,Usage,1.0,2025-09-01 00:30:00,R1\n").encode()))
    got = load_cur(ok)
    assert sorted(str(t) for t in got["usage_start"]) == ["2025-08-31 22:30:00+00:00",
                                                           "2025-09-01 00:30:00+00:00"]


def test_zone_aware_parquet_times_are_not_shifted_by_the_machine_zone(tmp_path: Path) -> None:
    t = pa.table({
        "line_item_line_item_type": ["Usage"], "line_item_unblended_cost": [1.0],
        "line_item_usage_start_date": pa.array([datetime(2025, 9, 1, tzinfo=timezone.utc)],
                                               pa.timestamp("us", "UTC")),
        "resource_tags": pa.array([[("user_unique_run_id", "R1")]], pa.map_(pa.string(), pa.string())),
    })
    pq.write_table(t, tmp_path / "tz.parquet")
    code = ("import sys; from seqera_analytics.billing import load_cur; "
            "print(load_cur(sys.argv[1])['usage_start'].iloc[0])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tz.parquet")], capture_output=True,
                         text=True, check=True, env={**os.environ, "TZ": "America/New_York"}).stdout
    assert out.strip() == "2025-09-01 00:00:00+00:00"


def test_equal_lines_without_identity_are_two_and_one_identity_for_two_lines_is_refused(tmp_path: Path) -> None:
    same = line(identity_line_item_id="", line_item_unblended_cost=1.0, tags={"unique_run_id": "R1"}, **HOUR)
    r = import_cur(write([same, dict(same)], tmp_path / "blank", "csv"), cache=tmp_path / "c")
    assert r.lines_added == 2
    a = line(identity_line_item_id="X", line_item_unblended_cost=1.0, tags={"unique_run_id": "R1"}, **HOUR)
    b = dict(a, line_item_unblended_cost=2.0, tags={"unique_run_id": "R2"})
    with pytest.raises(BillingDataError, match="two different lines"):
        import_cur(write([a, b], tmp_path / "clash", "cur2-map"), cache=tmp_path / "d")


def test_tag_spellings_in_the_map_and_in_columns(tmp_path: Path) -> None:
    odd = line(line_item_unblended_cost=1.0, **HOUR, tags={})
    t = pq.read_table(write([odd], tmp_path / "odd", "cur2-map"))
    t = t.set_column(t.schema.get_field_index("resource_tags"), "resource_tags",
                     pa.array([[("User_Unique_Run_Id", "R1")]], pa.map_(pa.string(), pa.string())))
    pq.write_table(t, tmp_path / "odd.parquet")
    assert load_cur(tmp_path / "odd.parquet")["run_id"].tolist() == ["R1"]
    p = tmp_path / "two.csv"
    p.write_text("lineItem/LineItemType,lineItem/UnblendedCost,resourceTags/user:unique-run-id,"
                 "resourceTags/user:unique_run_id\nUsage,1.0,R1,\nUsage,2.0,,R2\n")
    assert sorted(load_cur(p)["run_id"]) == ["R1", "R2"]


def test_a_literal_path_with_glob_characters(tmp_path: Path, cur_file: Path) -> None:
    weird = tmp_path / "dir [x]" / "bill [1] *.parquet"
    weird.parent.mkdir()
    shutil.copy(cur_file, weird)
    assert len(load_cur(weird)) == 1427 and len(load_cur(weird.parent)) == 1427


def test_a_line_with_a_billing_period_but_no_usage_dates_counts_in_that_period(
        tmp_path: Path, fresh_cache: Path) -> None:
    tax = line(identity_line_item_id="tax", line_item_line_item_type="Tax", line_item_unblended_cost=0.1,
               bill_billing_period_start_date=datetime(2025, 9, 1))
    run = line(identity_line_item_id="u", line_item_unblended_cost=1.0, tags={"unique_run_id": "R1"},
               bill_billing_period_start_date=datetime(2025, 9, 1), **HOUR)
    r = import_cur(write([tax, run], tmp_path / "tax", "cur2-map"), cache=fresh_cache)
    assert r.periods == ["2025-09"] and r.undated_lines == 0
    rec = reconcile_billing(cache=fresh_cache, since="2025-09", until="2025-10")
    account = rec[rec.row == "account"]
    assert account["period_label"].tolist() == ["2025-09"] and account["billed_cost"].tolist() == [0.1]


def test_settings_and_arguments_fail_in_one_line(tmp_path: Path, cur_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQERA_ANALYTICS_CUR_MEMORY", "abc")
    with pytest.raises(ConfigurationError, match="SEQERA_ANALYTICS_CUR_MEMORY"):
        load_cur(cur_file)
    monkeypatch.delenv("SEQERA_ANALYTICS_CUR_MEMORY")
    with pytest.raises(ValueError, match="one tag name or more"):
        BillingTags(run=())
    with pytest.raises(BillingDataError, match="no CUR file given"):
        import_cur(None, cache=tmp_path / "c")
    assert isinstance(load_cur(cur_file), pd.DataFrame)
