"""Bring the Parquet cache up to date from the Platform: one workspace, several, or every
one the token can see, incrementally and crash-safe.

The only package that uses the API, the frame builders and the store together. Layout:
``_targets`` (which workspaces), ``_workspace`` (what each one needs fetched, its sync state,
the unlisted marks), ``_fetch`` (one run's requests and tables), ``_sync`` (round-robin
fetching under one pacer, commits, summaries in ``_summary``).
"""

from __future__ import annotations

from ._summary import MultiSyncSummary, SyncSummary
from ._sync import async_sync, sync
from ._targets import OrganizationNotFoundError
from ._workspace import FULL_LISTING_EVERY, MAX_SHORT_REFETCHES

__all__ = ["FULL_LISTING_EVERY", "MAX_SHORT_REFETCHES", "MultiSyncSummary", "OrganizationNotFoundError",
           "SyncSummary", "async_sync", "sync"]
