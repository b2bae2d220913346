"""The same lines in every CUR format read the same; tag names are configurable."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from curgen import FORMATS, line, write

from seqera_analytics import BillingDataError
from seqera_analytics.billing import BillingTags, load_cur

AT = {"line_item_usage_start_date": datetime(2025, 9, 10, 10), "line_item_usage_end_date": datetime(2025, 9, 10, 11),
          "bill_billing_period_start_date": datetime(2025, 9, 1)}


def _lines(run_tag: str = "unique_run_id") -> list[dict]:
    return [
        line(identity_line_item_id=f"id{i}", identity_time_interval="2025-09-01T00:00:00Z/2025-10-01T00:00:00Z",
             line_item_resource_id=f"arn:aws:ecs:eu-west-1:1:task/x/{i}", split_line_item_split_cost=0.25 * i,
             split_line_item_unused_cost=0.5, tags={run_tag: f"R{i % 2}", "task_hash": f"{i:032x}",
                                                     "pipeline_process": "NFCORE:FOO"}, **AT)
        for i in range(1, 7)
    ] + [line(identity_line_item_id="tax", line_item_line_item_type="Tax", line_item_unblended_cost=0.7, **AT)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_the_same(tmp_path: Path, fmt: str) -> None:
    got = load_cur(write(_lines(), tmp_path / "bill", fmt))
    assert len(got) == 7
    per_run = got.groupby("run_id")["billed_cost"].sum().round(6).to_dict()
    assert per_run == {"R0": round(0.25 * (2 + 4 + 6) + 1.5, 6), "R1": round(0.25 * (1 + 3 + 5) + 1.5, 6)}
    tax = got[got.line_item_type == "Tax"].iloc[0]
    assert tax["line_class"] == "account" and tax["billed_cost"] == 0.7
    assert set(got["billing_period"]) == {"2025-09"}
    assert set(got.dropna(subset=["run_id"])["process"]) == {"NFCORE:FOO"}
    assert str(got["usage_start"].iloc[0]) == "2025-09-10 10:00:00+00:00"


def test_many_files_at_once(tmp_path: Path) -> None:
    a = write(_lines()[:3], tmp_path / "a", "cur2-map")
    b = write(_lines()[3:], tmp_path / "b", "csv.gz")
    got = load_cur([a, b])
    assert len(got) == 7
    assert len(load_cur(tmp_path)) == 7  # a directory is read recursively


def test_tag_names_are_configurable(tmp_path: Path) -> None:
    path = write(_lines(run_tag="seqera_run"), tmp_path / "renamed", "cur2-map")
    with pytest.raises(BillingDataError) as err:
        load_cur(path)
    msg = str(err.value)
    assert "\n" not in msg and "tag keys found: pipeline_process, seqera_run, task_hash" in msg
    got = load_cur(path, tags=BillingTags(run="seqera-run"))
    assert got["run_id"].notna().sum() == 6


def test_without_split_columns_the_unblended_cost_is_the_basis(tmp_path: Path) -> None:
    lines = [line(identity_line_item_id=f"u{i}", line_item_unblended_cost=1.25, line_item_product_code="AmazonEC2",
                  tags={"unique_run_id": "R1", "task_hash": f"{i:032x}"}, **AT) for i in range(3)]
    got = load_cur(write(lines, tmp_path / "nosplit", "cur2-map"))
    assert set(got["cost_basis"]) == {"unblended"}
    assert got["billed_cost"].tolist() == [1.25] * 3 and got["idle_cost"].tolist() == [0.0] * 3
