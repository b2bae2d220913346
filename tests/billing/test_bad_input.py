"""Bad bills: one clear line each, nothing written to the cache."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curgen import line, write

from seqera_analytics.cli import main


def _not_a_cur(tmp: Path) -> Path:
    p = tmp / "runs.parquet"
    pq.write_table(pa.table({"run_id": ["a"], "cost": [1.0]}), p)
    return p


def _json(tmp: Path) -> Path:
    p = tmp / "bill.json"
    p.write_text(json.dumps({"lines": []}))
    return p


def _empty(tmp: Path) -> Path:
    p = tmp / "empty.parquet"
    p.write_bytes(b"")
    return p


def _header_only(tmp: Path) -> Path:
    p = tmp / "header.csv"
    p.write_text("identity/LineItemId,lineItem/LineItemType,lineItem/UnblendedCost,resourceTags/user:unique-run-id\n")
    return p


def _no_rows(tmp: Path) -> Path:
    lines = [line(identity_line_item_id="x", line_item_usage_start_date=datetime(2025, 9, 1),
                  tags={"unique_run_id": "R"})]
    p = write(lines, tmp / "norows", "cur2-map")
    pq.write_table(pq.read_table(p).slice(0, 0), p)
    return p


def _other_tags(tmp: Path) -> Path:
    lines = [line(identity_line_item_id="x", line_item_usage_start_date=datetime(2025, 9, 1),
                  tags={"team": "genomics", "cost_center": "42"})]
    return write(lines, tmp / "othertags", "legacy-parquet")


def _truncated(tmp: Path) -> Path:
    lines = [line(identity_line_item_id=str(i), tags={"unique_run_id": "R"}) for i in range(50)]
    p = write(lines, tmp / "trunc", "cur2-map")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    return p


CASES = {
    "not a CUR": (_not_a_cur, "is not a Cost and Usage Report: it lacks"),
    "json": (_json, "is not a Cost and Usage Report (neither Parquet nor CSV)"),
    "0 bytes": (_empty, "is empty"),
    "header only": (_header_only, "no line items"),
    "no rows": (_no_rows, "no line items"),
    "other tags": (_other_tags, "tag keys found: cost_center, team"),
    "truncated": (_truncated, "not a readable Parquet file"),
}


@pytest.mark.parametrize("case", CASES)
def test_one_line_and_nothing_written(tmp_path: Path, fresh_cache: Path, case: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    make, expected = CASES[case]
    bad = make(tmp_path)
    state = (fresh_cache / "state.json").read_bytes()
    assert main(["cur", "import", str(bad), "--cache", str(fresh_cache)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err
    assert (fresh_cache / "state.json").read_bytes() == state
    assert not (fresh_cache / "billing_tasks").exists() and not (fresh_cache / "billing_keys").exists()


def test_missing_file_and_bad_period(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cur", "import", str(tmp_path / "nope.parquet"), "--cache", str(tmp_path / "c")]) == 1
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["cur", "import", str(tmp_path), "--replace-period", "2025-13", "--cache", str(tmp_path / "c")])
    assert exit_.value.code == 2 and "must be YYYY-MM" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
