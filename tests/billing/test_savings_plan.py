"""A synthetic bill with a Savings Plan, a reservation, negation, fee, tax and credit lines:
tasks use the effective cost, the rest are account-level rows, and the grand total is the
file's own (the sum of its unblended cost)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from curgen import file_total, line, write
from synthetic import runs_frame, short, tasks_frame, workdir

from seqera_analytics.billing import load_cur
from seqera_analytics.reports import billed_tasks, cost_report, reconcile_billing

H1, H2, H3 = "a1" + "0" * 30, "b2" + "1" * 30, "c3" + "2" * 30
HOUR = {"line_item_usage_start_date": datetime(2025, 9, 10, 10), "line_item_usage_end_date": datetime(2025, 9, 10, 11),
            "bill_billing_period_start_date": datetime(2025, 9, 1)}


def _lines() -> list[dict]:
    run = {"unique_run_id": "R1"}
    return [
        line(identity_line_item_id="l1", line_item_line_item_type="SavingsPlanCoveredUsage",
             line_item_product_code="AmazonECS", line_item_unblended_cost=1.00,
             savings_plan_savings_plan_effective_cost=0.70, tags={**run, "task_hash": H1}, **HOUR),
        line(identity_line_item_id="l2", line_item_line_item_type="SavingsPlanCoveredUsage",
             line_item_unblended_cost=2.00, savings_plan_savings_plan_effective_cost=1.40,
             tags={**run, "task_hash": H2}, **HOUR),
        line(identity_line_item_id="l3", line_item_line_item_type="DiscountedUsage",
             line_item_product_code="AmazonEC2", line_item_unblended_cost=0.0,
             reservation_effective_cost=0.50, tags={**run, "task_hash": H3}, **HOUR),
        line(identity_line_item_id="l4", line_item_line_item_type="SavingsPlanNegation",
             line_item_unblended_cost=-3.00, **HOUR),
        line(identity_line_item_id="l5", line_item_line_item_type="SavingsPlanRecurringFee",
             line_item_product_code="ComputeSavingsPlans", line_item_unblended_cost=2.50, **HOUR),
        line(identity_line_item_id="l6", line_item_line_item_type="RIFee", line_item_product_code="AmazonEC2",
             line_item_unblended_cost=0.45, **HOUR),
        line(identity_line_item_id="l7", line_item_line_item_type="Tax", line_item_product_code="AmazonECS",
             line_item_unblended_cost=0.80, **HOUR),
        line(identity_line_item_id="l8", line_item_line_item_type="Credit", line_item_unblended_cost=-1.00, **HOUR),
        line(identity_line_item_id="l9", line_item_product_code="AmazonS3", line_item_unblended_cost=0.30, **HOUR),
    ]


@pytest.fixture
def bill(tmp_path: Path) -> tuple[pd.DataFrame, float]:
    lines = _lines()
    return load_cur(write(lines, tmp_path / "sp", "cur2-map")), file_total(lines)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    tasks = tasks_frame([{"run_id": "R1", "task_id": i + 1, "hash": short(h), "workdir": workdir(h), "cost": 0.9}
                         for i, h in enumerate((H1, H2, H3))])
    return tasks, runs_frame(["R1"])


def test_tasks_use_the_effective_cost(bill: tuple[pd.DataFrame, float]) -> None:
    tasks, runs = _frames()
    got = billed_tasks(tasks=tasks, runs=runs, billing=bill[0]).set_index("task_id")
    assert got["billed_cost"].round(2).tolist() == [0.70, 1.40, 0.50]  # not 1.00, 2.00, 0.00
    assert got["idle_cost"].fillna(0).eq(0).all()


def test_account_rows_and_grand_total(bill: tuple[pd.DataFrame, float]) -> None:
    tasks, runs = _frames()
    rec = reconcile_billing(tasks=tasks, runs=runs, billing=bill[0])
    sep = rec[rec.period_label == "2025-09"]
    account = sep[sep.row == "account"].set_index("line_item_type")["billed_cost"].round(2).to_dict()
    assert account == {"Credit": -1.00, "RIFee": 0.45, "SavingsPlanNegation": -3.00,
                       "SavingsPlanRecurringFee": 2.50, "Tax": 0.80}
    row = sep.set_index("row")
    assert round(float(row.loc["runs", "billed_cost"]), 2) == 2.60       # 0.70 + 1.40 + 0.50
    assert round(float(row.loc["unattributed", "billed_cost"]), 2) == 0.30
    # list price above the effective cost: (1.00 - 0.70) + (2.00 - 1.40) + (0.00 - 0.50)
    assert round(float(row.loc["adjustment", "billed_cost"]), 2) == 0.40
    total = float(row.loc["total", "billed_cost"])
    assert round(total, 2) == round(bill[1], 2) == 3.05
    parts = sep[sep.row != "total"]["billed_cost"].astype(float).sum()
    assert round(parts, 6) == round(total, 6)


def test_cost_report_never_mixes_account_lines_into_tasks(bill: tuple[pd.DataFrame, float]) -> None:
    tasks, runs = _frames()
    c = cost_report(tasks, runs, billing=bill[0], basis="billed", by="pipeline")
    assert round(float(c["billed_cost"].sum()), 2) == 2.60
    assert c["tasks_billed"].sum() == 3 and c["tasks_without_lines"].sum() == 0
