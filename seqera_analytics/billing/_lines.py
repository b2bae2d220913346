"""Classify the money of each line: used, idle and billed cost, its basis and its class.

The rules (BILLING-NOTES; AWS "Understanding split cost allocation data", "Savings Plans
line items", "Reservation line items"):

* A line with split cost data (``split_line_item_split_cost`` or ``..._unused_cost`` not
  null) is an ECS task's share of an instance: used = split cost, idle = unused cost,
  billed = used + idle (basis ``split``). Its ``line_item_unblended_cost`` states the same
  money again (0 on real split lines; the bundled decoy line carries both): never added.
* ``SavingsPlanCoveredUsage`` with ``savings_plan_savings_plan_effective_cost``, and
  ``DiscountedUsage`` with ``reservation_effective_cost``: billed = the effective cost (bases
  ``savings_plan`` and ``reservation``); what the unblended cost says above it is offset
  by the negation and fee lines and is reported as an account-level adjustment.
* Any other usage line: billed = unblended cost (basis ``unblended``).
* Account lines (:data:`ACCOUNT_LINE_TYPES`): the unblended amount, on no task, ever.
* An instance line whose resource is the ``split_line_item_parent_resource_id`` of split
  lines in the same hour is ``allocated``: its cost is already in its tasks' split lines,
  so its billed cost is 0 (its unblended cost is kept for the audit). ``load_cur`` marks
  them within the files it reads; an import leaves it to the reports, which compare the
  instance rows with the split parents of every import (``reports._billed.mark_allocated``).

So over a consistent file, sum(billed_cost) + the effective-cost adjustment equals
sum(line_item_unblended_cost) of the lines that are not split lines: the invoice.
"""

from __future__ import annotations

__all__ = ["ACCOUNT_LINE_TYPES", "classified_select"]

#: Line types that carry account-level money (never a task's).
ACCOUNT_LINE_TYPES = (
    "Tax", "Credit", "Refund", "Fee", "RIFee", "SavingsPlanNegation", "SavingsPlanRecurringFee",
    "SavingsPlanUpfrontFee", "BundledDiscount", "EdpDiscount", "PrivateRateDiscount", "Discount",
    "DistributorDiscount",
)
_ACCOUNT = ", ".join(f"'{t}'" for t in ACCOUNT_LINE_TYPES)


def classified_select(raw: str, *, allocate: bool = True) -> str:
    """SQL over ``raw`` (a relation with ``_sql.RAW``) adding the line's class, basis,
    used/idle/billed cost and its period.

    ``allocate``: mark the instance lines that split lines of the same files restate (a
    second pass over the lines; ``load_cur``). An import leaves it to the reports, which
    compare instance lines with the split parents of every import (``billing_parents``)."""
    parents = ("SELECT DISTINCT parent_resource_id AS pid, usage_start AS pstart FROM r "
               "WHERE is_split AND parent_resource_id IS NOT NULL" if allocate else
               "SELECT CAST(NULL AS VARCHAR) AS pid, CAST(NULL AS TIMESTAMP) AS pstart WHERE false")
    return f"""
WITH r AS (
  SELECT *,
    line_item_type IN ({_ACCOUNT}) AS is_account,
    (split_cost IS NOT NULL OR unused_cost IS NOT NULL) AS is_split
  FROM ({raw})
), parents AS (
  {parents}
), c AS (
  SELECT r.*,
    CASE WHEN is_account THEN 'account'
         WHEN NOT is_split AND p.pid IS NOT NULL THEN 'allocated'
         ELSE 'usage' END AS line_class,
    CASE WHEN is_account THEN 'unblended'
         WHEN is_split THEN 'split'
         WHEN line_item_type = 'SavingsPlanCoveredUsage' AND sp_effective IS NOT NULL
           THEN 'savings_plan'
         WHEN line_item_type = 'DiscountedUsage' AND ri_effective IS NOT NULL THEN 'reservation'
         ELSE 'unblended' END AS cost_basis
  -- a plain equi-join (a condition on is_split here would make it a nested loop)
  FROM r LEFT JOIN parents p ON r.resource_id = p.pid AND r.usage_start = p.pstart
)
SELECT
  usage_start, usage_end, is_split,
  strftime(period_start, '%Y-%m') AS billing_period,
  coalesce(strftime(period_start, '%Y-%m'), strftime(usage_start, '%Y-%m'), 'undated') AS period,
  CAST(date_trunc('day', usage_start) AS TIMESTAMP) AS usage_day,
  line_item_type, product_code, line_class, cost_basis,
  run_tag AS run_id, hash_tag AS task_hash, process_tag AS process, resource_id,
  CASE WHEN line_class = 'account' THEN NULL
       WHEN line_class = 'allocated' THEN 0.0
       WHEN cost_basis = 'split' THEN coalesce(split_cost, 0.0)
       WHEN cost_basis = 'savings_plan' THEN sp_effective
       WHEN cost_basis = 'reservation' THEN ri_effective
       ELSE coalesce(unblended, 0.0) END AS used_cost,
  CASE WHEN line_class = 'account' THEN NULL
       WHEN cost_basis = 'split' AND line_class = 'usage' THEN coalesce(unused_cost, 0.0)
       ELSE 0.0 END AS idle_cost,
  CASE WHEN line_class = 'account' THEN coalesce(unblended, 0.0)
       WHEN line_class = 'allocated' THEN 0.0
       WHEN cost_basis = 'split' THEN coalesce(split_cost, 0.0) + coalesce(unused_cost, 0.0)
       WHEN cost_basis = 'savings_plan' THEN sp_effective
       WHEN cost_basis = 'reservation' THEN ri_effective
       ELSE coalesce(unblended, 0.0) END AS billed_cost,
  unblended AS unblended_cost,
  has_split_columns, key_hi, key_lo, nat, bad_money, bad_time, _file,
  CASE WHEN is_split THEN parent_resource_id END AS parent_resource_id,
  -- an instance line that split lines imported another time may restate (see _billed)
  CASE WHEN line_class = 'usage' AND run_tag IS NULL AND NOT is_split
            AND product_code = 'AmazonEC2' THEN resource_id END AS instance_id,
  CASE WHEN line_class = 'usage' AND run_tag IS NULL AND NOT is_split
            AND product_code = 'AmazonEC2' AND resource_id IS NOT NULL THEN usage_start END
    AS instance_hour
FROM c
"""
