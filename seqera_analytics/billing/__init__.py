"""The AWS bill: read Cost and Usage Reports, classify their money, keep it in the cache.

Seqera's task ``cost`` is an *estimate*; what the account paid is in the AWS Cost and Usage
Report (CUR). With *split cost allocation data* on AWS Batch, every ECS task (one Nextflow
task attempt) gets its own line items, tagged with the run id, task hash and process.

* :func:`load_cur`: CUR files -> one normalised DataFrame of line items (exploring);
* :func:`import_cur` (``seqera-analytics cur import``): CUR files -> the cache's
  ``billing_tasks`` dataset (billed cost per task, run, unattributed and account-line
  group), idempotent; reports then take ``basis="billed"`` or ``"both"``.

Formats, tags and identities in ``_formats``; the money rules (used, idle, billed, effective
cost, account lines) in ``_lines``; the import in ``_import``. Layering: ``billing`` reads
files the user names and writes through :mod:`seqera_analytics.store`; it never calls the
Platform API, and reports never import it (they read what it stored).
"""

from __future__ import annotations

from ._formats import BillingTags, bundled_cur
from ._import import CurImport, import_cur, load_cur
from ._lines import ACCOUNT_LINE_TYPES

__all__ = ["ACCOUNT_LINE_TYPES", "BillingTags", "CurImport", "bundled_cur", "import_cur", "load_cur"]
