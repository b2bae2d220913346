"""Query expressions for the Platform's list endpoints, shared by every caller that lists runs.

The sync (:mod:`seqera_analytics.ingest`) and the notebook fetchers
(:mod:`seqera_analytics.fetch`) both build ``GET /workflow`` searches here, below both of
them, so neither imports the other.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["runs_search"]


def _iso(ts: datetime) -> str:
    # The CLI docs require after:/before: as full ISO-8601 UTC timestamps with milliseconds
    # (API-NOTES §2); a bare date is not what the API documents.
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def runs_search(since: datetime | None = None, until: datetime | None = None, search: str | None = None,
                status: str | None = None) -> str | None:
    """The ``search`` expression for ``GET /workflow``.

    Parameters
    ----------
    since, until : datetime, optional
        Timezone-aware UTC instants (``pandas.Timestamp`` works); they become ``after:`` and
        ``before:`` on the run's submit time, as full ISO-8601 UTC timestamps (API-NOTES §2).
    search : str, optional
        The caller's own search text, appended as is.
    status : str, optional
        A run status (``SUCCEEDED``); becomes ``status:succeeded``.

    Returns
    -------
    str or None
        ``None`` when there is nothing to filter on (the parameter is then left out).
    """
    parts = []
    if since is not None:
        parts.append(f"after:{_iso(since)}")
    if until is not None:
        parts.append(f"before:{_iso(until)}")
    if status:
        parts.append(f"status:{status.lower()}")
    if search and search.strip():
        parts.append(search.strip())
    return " ".join(parts) or None
