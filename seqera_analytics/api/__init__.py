"""HTTP access to the Seqera Platform API: configuration, pacing, retries, paging, errors.

Returns raw API records (``dict``/``list``, or caller-chosen ``msgspec`` record structs);
turning them into DataFrames is :mod:`seqera_analytics.frames`' job. Never imports pandas.
"""

from __future__ import annotations

from ._blocking import SeqeraClient, run_sync
from ._client import AsyncSeqeraClient, RequestStats, Workspace
from ._config import (
    DEFAULT_ENDPOINT,
    DOCUMENTED_RATE_LIMIT,
    PAGE_SIZE,
    ClientConfig,
    RetryPolicy,
    Secret,
)
from ._logging import install_redaction, redact
from ._paging import task_rows_at_least, task_rows_final, task_rows_hint
from ._query import runs_search

__all__ = [
    "DEFAULT_ENDPOINT",
    "DOCUMENTED_RATE_LIMIT",
    "PAGE_SIZE",
    "AsyncSeqeraClient",
    "ClientConfig",
    "RequestStats",
    "RetryPolicy",
    "Secret",
    "SeqeraClient",
    "Workspace",
    "install_redaction",
    "redact",
    "run_sync",
    "runs_search",
    "task_rows_at_least",
    "task_rows_final",
    "task_rows_hint",
]

install_redaction()
