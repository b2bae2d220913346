"""The billing tables: line items of an AWS Cost and Usage Report (CUR), and the billed cost
the cache keeps per task.

These come from the cloud account's bill, not from the Platform API: ``source`` names the
CUR 2.0 column (legacy CUR Parquet uses the same names; legacy CSV spells them
``lineItem/UsageStartDate`` ...). See ``BILLING_TASKS`` for what the cache stores and
:mod:`seqera_analytics.billing` for how lines are read, classified and matched.

Line classes (``line_class``):

* ``usage``: a usage line (``Usage``, ``SavingsPlanCoveredUsage``, ``DiscountedUsage``...),
  attributed to a run by its run tag when it has one;
* ``account``: money of the account, not of any task (``Tax``, ``Credit``, ``Refund``,
  ``Fee``, ``RIFee``, ``SavingsPlanNegation``, ``SavingsPlanRecurringFee``, discounts...);
* ``allocated``: an instance line whose cost the split lines of its ECS tasks restate
  (``split_line_item_parent_resource_id``): kept, never added to ``billed_cost`` again.

Cost bases (``cost_basis``): ``split`` (``split_line_item_split_cost`` +
``split_line_item_unused_cost``), ``savings_plan`` (``savings_plan_savings_plan_effective_cost``),
``reservation`` (``reservation_effective_cost``), ``unblended`` (``line_item_unblended_cost``).
"""

from __future__ import annotations

import pyarrow as pa

from .schema import F64, I64, STR, TS, Column, TableSpec

U64 = pa.uint64()

__all__ = ["BILLING_KEYS", "BILLING_LINES", "BILLING_PARENTS", "BILLING_TASKS", "LINE_CLASSES"]

LINE_CLASSES = ("usage", "account", "allocated")


def _c(name: str, type_: object, source: str, unit: str, description: str) -> Column:
    return Column(name, type_, source, unit, description)  # type: ignore[arg-type]


_MONEY = (
    _c("used_cost", F64, "split_line_item_split_cost", "USD",
       "cost of the resources the task used: its share of the instance (split lines); the "
       "billed cost on lines without split data; null on account lines"),
    _c("idle_cost", F64, "split_line_item_unused_cost", "USD",
       "the task's share of the instance's idle (unused) capacity; 0 on lines without split "
       "data; null on account lines"),
    _c("billed_cost", F64, "", "USD",
       "what the line costs on its basis (cost_basis): used_cost + idle_cost on split lines, "
       "the effective cost under a Savings Plan or reservation, else the unblended cost; the "
       "amount of an account line; 0 on allocated lines (their cost is in their tasks' lines)"),
    _c("unblended_cost", F64, "line_item_unblended_cost", "USD",
       "the line's unblended cost as the file states it (0 on split ECS lines)"),
)

_WHAT = (
    _c("billing_period", STR, "bill_billing_period_start_date", "",
       "'YYYY-MM' of the billing period the file states; null when it does not"),
    _c("line_item_type", STR, "line_item_line_item_type", "", "Usage, Tax, Credit, ..."),
    _c("product_code", STR, "line_item_product_code", "", "AmazonECS, AmazonEC2, ..."),
    _c("line_class", STR, "", "", "usage, account or allocated (see the module docs)"),
    _c("cost_basis", STR, "", "", "split, savings_plan, reservation or unblended"),
    _c("run_id", STR, "resource_tags user_unique_run_id", "",
       "the run tag (a Seqera workflow id); null when the line has none"),
    _c("task_hash", STR, "resource_tags user_task_hash", "",
       "the task tag: the full 32-hex task hash; null when the line has none"),
    _c("process", STR, "resource_tags user_pipeline_process", "", "the process tag"),
)

BILLING_LINES = TableSpec(
    name="billing_lines",
    endpoint="AWS Cost and Usage Report (CUR 2.0, legacy Parquet or legacy CSV)",
    key=("line_key",),
    doc="One row per CUR line item, normalised (load_cur).",
    columns=(
        _c("usage_start", TS, "line_item_usage_start_date", "",
           "start of the hour(s) the line covers (UTC); null when the line has no usage dates"),
        _c("usage_end", TS, "line_item_usage_end_date", "", "end of the hour(s) the line covers"),
        *_WHAT,
        _c("resource_id", STR, "line_item_resource_id", "", "the ECS task ARN, instance id, ..."),
        *_MONEY,
        _c("line_key", STR, "identity_line_item_id, identity_time_interval", "",
           "the line's identity (128 bits, hex) of the CUR's identity columns where present, else of the "
           "line's own values (hex)"),
    ),
)

BILLING_TASKS = TableSpec(
    name="billing_tasks",
    endpoint="AWS Cost and Usage Report, aggregated by `seqera-analytics cur import`",
    key=("period", "usage_day", "billing_period", "line_item_type", "product_code",
         "line_class", "cost_basis", "run_id", "task_hash", "process", "instance_id", "usage_start"),
    doc="Billed cost per task (and per run, unattributed and account line group), additive: "
        "a task's cost is the sum of its rows.",
    columns=(
        _c("usage_day", TS, "line_item_usage_start_date", "",
           "UTC day of the lines' usage start; null for lines without usage dates (undated)"),
        *_WHAT,
        *_MONEY,
        _c("instance_id", STR, "line_item_resource_id", "",
           "on untagged EC2 usage rows only (one row per instance and hour): the instance, so that "
           "split lines of its ECS tasks imported another time mark it allocated"),
        _c("lines", I64, "", "count", "CUR line items summed in the row"),
        _c("usage_start", TS, "line_item_usage_start_date", "", "earliest usage start of the lines"),
        _c("usage_end", TS, "line_item_usage_end_date", "", "latest usage end of the lines"),
    ),
)

#: The identities of the imported lines (what makes an import idempotent).
BILLING_KEYS = TableSpec(
    name="billing_keys",
    endpoint="AWS Cost and Usage Report, written by `seqera-analytics cur import`",
    key=("key_hi", "key_lo"),
    doc="One row per imported line item: the two 64-bit halves of its line key.",
    columns=(
        _c("key_hi", U64, "", "", "first 64-bit hash of the line's identity"),
        _c("key_lo", U64, "", "", "second 64-bit hash of the line's identity"),
        _c("nat", U64, "", "",
           "64-bit hash of what the line is about (resource, hours, type, product, "
           "usage type, operation, account, description, amounts): the same line in a "
           "re-delivered or re-formatted bill"),
    ),
)

#: The instance-hours that imported split lines restate (their parents).
BILLING_PARENTS = TableSpec(
    name="billing_parents",
    endpoint="AWS Cost and Usage Report split_line_item_parent_resource_id, by `cur import`",
    key=("resource_id", "usage_start"),
    doc="Spans of hours that split cost allocation lines name an instance as their parent "
        "(one per task and day: a task's lines are consecutive hours on its instance).",
    columns=(
        _c("resource_id", STR, "split_line_item_parent_resource_id", "", "the EC2 instance"),
        _c("usage_start", TS, "line_item_usage_start_date", "", "the first hour's start"),
        _c("usage_end", TS, "line_item_usage_end_date", "", "the last hour's end"),
    ),
)
