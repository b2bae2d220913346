"""Write synthetic Cost and Usage Reports in every format the toolkit reads.

A line is a dict with CUR 2.0 column names (``line_item_unblended_cost``...) plus ``tags``
(tag name -> value, e.g. ``{"unique_run_id": "R1"}``). :func:`write` writes the same lines
as CUR 2.0 Parquet (tags as a MAP or as [key, value] pairs), legacy CUR Parquet
(``resource_tags_user_<tag>`` columns) or legacy CSV (``resourceTags/user:<tag>``, gzipped
or not), the way AWS spells each.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CSV_NAMES = {
    "identity_line_item_id": "identity/LineItemId",
    "identity_time_interval": "identity/TimeInterval",
    "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
    "line_item_usage_start_date": "lineItem/UsageStartDate",
    "line_item_usage_end_date": "lineItem/UsageEndDate",
    "line_item_line_item_type": "lineItem/LineItemType",
    "line_item_product_code": "lineItem/ProductCode",
    "line_item_resource_id": "lineItem/ResourceId",
    "line_item_usage_type": "lineItem/UsageType",
    "line_item_unblended_cost": "lineItem/UnblendedCost",
    "split_line_item_split_cost": "splitLineItem/SplitCost",
    "split_line_item_unused_cost": "splitLineItem/UnusedCost",
    "split_line_item_parent_resource_id": "splitLineItem/ParentResourceId",
    "savings_plan_savings_plan_effective_cost": "savingsPlan/SavingsPlanEffectiveCost",
    "reservation_effective_cost": "reservation/EffectiveCost",
}
TIMES = ("bill_billing_period_start_date", "line_item_usage_start_date", "line_item_usage_end_date")
MONEY = ("line_item_unblended_cost", "split_line_item_split_cost", "split_line_item_unused_cost",
         "savings_plan_savings_plan_effective_cost", "reservation_effective_cost")
FORMATS = ("cur2-map", "cur2-pairs", "legacy-parquet", "csv", "csv.gz")


def line(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"line_item_line_item_type": "Usage", "line_item_product_code": "AmazonECS",
                            "line_item_unblended_cost": 0.0, "tags": {}}
    base.update(values)
    return base


def _columns(lines: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for ln in lines:
        cols += [k for k in ln if k != "tags" and k not in cols]
    return cols


def _tag_names(lines: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for ln in lines:
        names += [k for k in ln["tags"] if k not in names]
    return names


def _typed(col: str, values: list[Any]) -> pa.Array:
    if col in TIMES:
        return pa.array(values, pa.timestamp("us"))
    if col in MONEY:
        return pa.array(values, pa.float64())
    return pa.array(values, pa.string())


def write(lines: list[dict[str, Any]], path: Path, fmt: str) -> Path:
    """Write ``lines`` as ``fmt`` (one of :data:`FORMATS`) to ``path`` (its suffix is set)."""
    cols = _columns(lines)
    tags = _tag_names(lines)
    if fmt.startswith("cur2") or fmt == "legacy-parquet":
        path = path.with_suffix(".parquet")
        data = {c: _typed(c, [ln.get(c) for ln in lines]) for c in cols}
        if fmt == "cur2-map":
            data["resource_tags"] = pa.array(
                [[(f"user_{k}", v) for k, v in ln["tags"].items()] for ln in lines],
                pa.map_(pa.string(), pa.string()))
        elif fmt == "cur2-pairs":
            data["resource_tags"] = pa.array(
                [[[f"user_{k}", v] for k, v in ln["tags"].items()] for ln in lines],
                pa.list_(pa.list_(pa.string())))
        else:
            for t in tags:
                data[f"resource_tags_user_{t}"] = pa.array([ln["tags"].get(t) for ln in lines], pa.string())
        pq.write_table(pa.table(data), path)
        return path
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([CSV_NAMES[c] for c in cols] + [f"resourceTags/user:{t.replace('_', '-')}" for t in tags])
    for ln in lines:
        row = []
        for c in cols:
            v = ln.get(c)
            row.append("" if v is None else v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v)
        w.writerow(row + [ln["tags"].get(t, "") for t in tags])
    if fmt == "csv.gz":
        path = path.with_suffix(".csv.gz")
        path.write_bytes(gzip.compress(buf.getvalue().encode()))
    else:
        path = path.with_suffix(".csv")
        path.write_text(buf.getvalue())
    return path


def file_total(lines: list[dict[str, Any]]) -> float:
    """The file's own total: the sum of line_item_unblended_cost (the invoice)."""
    return sum(float(ln.get("line_item_unblended_cost") or 0.0) for ln in lines)
