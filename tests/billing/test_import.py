"""``cur import`` keeps the bill in the cache: idempotent, period by period, all or nothing."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from curgen import line, write

from seqera_analytics import BillingDataError
from seqera_analytics.billing import import_cur
from seqera_analytics.cli import main
from seqera_analytics.store import Cache


def _month(month: int, n: int, cost: float, prefix: str = "x") -> list[dict]:
    return [line(identity_line_item_id=f"{prefix}{month}-{i}",
                 identity_time_interval=f"2025-{month:02d}-01T00:00:00Z/2025-{month + 1:02d}-01T00:00:00Z",
                 bill_billing_period_start_date=datetime(2025, month, 1),
                 line_item_usage_start_date=datetime(2025, month, 3, i % 24),
                 line_item_usage_end_date=datetime(2025, month, 3, i % 24) .replace(minute=59),
                 split_line_item_split_cost=cost, split_line_item_unused_cost=0.0,
                 tags={"unique_run_id": f"R{i % 3}", "task_hash": f"{i:032x}"}) for i in range(n)]


def _totals(cache: Path) -> dict[str, tuple[float, int]]:
    rows = Cache(cache).read_billing().to_pandas()
    g = rows.groupby("period").agg(billed=("billed_cost", "sum"), lines=("lines", "sum"))
    return {p: (round(float(r.billed), 6), int(r.lines)) for p, r in g.iterrows()}


def test_importing_twice_or_a_copy_changes_nothing(tmp_path: Path, cur_file: Path) -> None:
    cache = tmp_path / "c"
    first = import_cur(cur_file, cache=cache)
    before = _totals(cache)
    again = import_cur(cur_file, cache=cache)
    copy = tmp_path / "copy.parquet"
    shutil.copy(cur_file, copy)
    import_cur(copy, cache=cache)
    assert first.lines_added == 1427 and again.lines_added == 0 and again.lines_already_imported == 1427
    assert _totals(cache) == before == {"2025-09": (round(150.365502, 6), 1426), "undated": (0.123457, 1)}
    both = tmp_path / "both"
    r = import_cur([cur_file, copy], cache=both)  # a file and its copy in one import
    assert r.lines_added == 1427 and r.lines_repeated == 1427
    assert _totals(both) == before


def test_parts_of_a_month_add_up_and_replace_period_replaces_exactly_that(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    sep, octo = _month(9, 40, 0.5), _month(10, 10, 2.0)
    import_cur(write(sep[:25] + octo, tmp_path / "part1", "cur2-map"), cache=cache)
    import_cur(write(sep[20:], tmp_path / "part2", "csv"), cache=cache)   # overlaps 5 lines
    assert _totals(cache) == {"2025-09": (20.0, 40), "2025-10": (20.0, 10)}
    # AWS restates September: other costs, fewer lines
    restated = _month(9, 30, 0.75)
    r = import_cur(write(restated, tmp_path / "restated", "cur2-pairs"), cache=cache)
    assert r.lines_added == 0  # same identities: kept as first imported unless replaced
    r = import_cur(write(restated, tmp_path / "restated2", "cur2-map"), cache=cache, replace_period="2025-09")
    assert r.replaced == ["2025-09"] and r.lines_added == 30
    assert _totals(cache) == {"2025-09": (22.5, 30), "2025-10": (20.0, 10)}


def test_replace_period_the_files_do_not_hold_writes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    import_cur(write(_month(9, 5, 1.0), tmp_path / "a", "cur2-map"), cache=cache)
    state = (cache / "state.json").read_bytes()
    with pytest.raises(BillingDataError, match="hold no lines of that period"):
        import_cur(write(_month(10, 5, 1.0), tmp_path / "b", "cur2-map"), cache=cache, replace_period="2025-09")
    assert (cache / "state.json").read_bytes() == state


def test_cli_import_and_reports(tmp_path: Path, fresh_cache: Path, cur_file: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cur", "import", str(cur_file), "--cache", str(fresh_cache)]) == 0
    out = capsys.readouterr().out
    assert "Imported 1,427 of 1,427 CUR line(s)" in out and "no usage dates" in out
    assert main(["report", "reconcile", "--month", "2025-09", "--cache", str(fresh_cache)]) == 0
    out = capsys.readouterr().out
    assert "150.37" in out and "unattributed" in out and "undated" in out
    assert max(len(x) for x in out.splitlines()) <= 100
    assert main(["report", "reconcile", "--per", "run", "--cache", str(fresh_cache)]) == 0
    out = capsys.readouterr().out
    assert "no bill lines" in out and "48.01" in out
    assert main(["report", "cost", "--basis", "billed", "--by", "run_id", "--month", "2025-09",
                 "--cache", str(fresh_cache)]) == 0
    out = capsys.readouterr().out
    for figure in ("41.08", "48.01", "28.31", "32.97"):
        assert figure in out
    assert main(["report", "cost", "--basis", "both", "--idle", "spread", "--cache", str(fresh_cache),
                 "-o", str(tmp_path / "both.csv"), "--layout", "wide"]) == 0
    assert (tmp_path / "both.csv").read_text().count("\n") >= 3
    assert main(["report", "runtime", "--basis", "billed", "--cache", str(fresh_cache)]) == 2


def test_billed_reports_on_a_cache_without_a_bill_say_what_to_do(fresh_cache: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["report", "reconcile"], ["report", "cost", "--basis", "billed"]):
        assert main([*args, "--cache", str(fresh_cache)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "seqera-analytics cur import" in err
