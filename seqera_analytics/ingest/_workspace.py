"""One workspace's part of a sync: what to fetch, its sync state, and its summary.

How it decides what to fetch:

1. Runs are listed newest first. When the cache already holds the workspace's complete
   history (its last sync finished), paging stops at the first run that is cached, in a
   terminal state and unchanged (same ``status`` and ``lastUpdated``): everything older is
   final. After an interrupted sync, on ``full=True``, and automatically when the last full
   listing is older than :data:`FULL_LISTING_EVERY`, the whole list is read (one request
   per 99 runs).
2. New runs and changed runs get their tasks fetched (:mod:`._fetch`). A run written into
   the cache's trees as final whose ``lastUpdated`` alone changed (labels edited, say) gets
   its facts updated from the listing and no task request. Cached runs that were still active
   and lie older than the stop point are refreshed through ``GET /workflow/{id}``. A run that
   was terminal when cached is not fetched again, with two exceptions (below): it is
   pending, or it is short.
3. A listing that was read to its end is complete: cached runs it no longer shows (the
   Platform keeps a limited run history, ``/orgs/{orgId}/quotas`` ``maxRunHistory``) are
   marked ``unlisted_since`` and stay in the cache and in reports; a marked run listed again
   is unmarked.

**Pending runs.** Every run a sync means to write stays in the workspace's sync state
(``pending`` in ``state.json``) until a commit writes it. A run whose fetch fails with
403/404 (deleted, or no access right now) is reported in ``SyncSummary.runs_failed`` and
the sync goes on; any other failure (5xx or connection errors after retries, a revoked
token) commits what was fetched, then raises. Either way every later sync fetches the
pending runs again (through ``GET /workflow/{id}`` when the listing does not reach them)
until they are written.

**Short runs** (the rule for counts). A cached run in a terminal state is fetched again
when its cached task rows are fewer than :func:`~seqera_analytics.api.task_rows_at_least`
of its counts: ``succeeded + failed + cached`` of its cached counters (``/progress``'s, or
``workflow.stats``'s when the load was derived) and, when the listing shows it,
``succeedCount + failedCount + cachedCount`` of ``workflow.stats``, the smaller of the two.
Task rows are one per attempt, and these three counters count attempts (a retried task is
a FAILED row plus a COMPLETED one; on all the bundled real runs rows equal that sum
exactly). ``ignored`` and ``retries`` are not added: they count failed attempts a second
time. Only ever needing *at least* that many rows keeps clean runs from being fetched again;
a run that still comes back short ``MAX_SHORT_REFETCHES`` fetches in a row is left as the
server serves it (``short_refetches`` in the state), so a server that counts more than it
lists is not asked forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import pandas as pd

from .. import frames as F
from .._exceptions import CacheError, NotFoundError, PermissionDeniedError
from ..api import AsyncSeqeraClient, runs_search, task_rows_at_least
from ..store import PERSONAL_WORKSPACE_ID, CacheWriter, WorkspaceState
from ._fetch import Fetched, run_id
from ._summary import SyncSummary
from ._targets import Target

__all__ = ["FULL_LISTING_EVERY", "MAX_SHORT_REFETCHES", "WorkspaceSync"]

log = logging.getLogger("seqera_analytics.sync")

#: Fetches in a row that may come back with fewer task rows than the run's counts (see above).
MAX_SHORT_REFETCHES = 3
#: How old the last full listing of a workspace may be before a sync reads the whole list
#: again, to find runs the Platform no longer lists.
FULL_LISTING_EVERY = pd.Timedelta(days=7)
#: The cached runs columns a short run is judged by (``/progress`` counters), and the ones
#: the unlisted marks need.
_CACHED_COLUMNS = ("tasks_succeeded", "tasks_failed", "tasks_cached", "submit", "unlisted_since")


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.to_datetime(value, utc=True, errors="coerce")
    return None if ts is pd.NaT else ts


def _cached_counts(row: dict[str, Any]) -> dict[str, Any]:
    """The ``/progress`` counters of a cached runs row, in the API's names."""
    return {"succeeded": row.get("tasks_succeeded"), "failed": row.get("tasks_failed"),
            "cached": row.get("tasks_cached")}


class WorkspaceSync:
    """The plan and the bookkeeping of one workspace within a sync.

    :meth:`plan` lists the workspace and decides ``todo`` (list elements to fetch, in a
    deque the sync's workers pop from); :meth:`record` and :meth:`committed` keep its state
    in step with the commits; :meth:`finish` marks its listing complete.
    """

    def __init__(self, target: Target, writer: CacheWriter, endpoint: str, *, since: pd.Timestamp | None,
                 full: bool, summary: SyncSummary) -> None:
        self.target = target
        self.writer = writer
        self.endpoint = endpoint
        self.since = since
        self.full = full
        self.summary = summary
        self.key = PERSONAL_WORKSPACE_ID if target.workspace_id is None else target.workspace_id
        self.todo: deque[dict[str, Any]] = deque()
        self.to_fetch = 0
        self.in_flight = 0
        self.facts: list[dict[str, Any]] = []
        self.failed: list[str] = []
        self.known: set[str] = set()
        self.planned: set[str] = set()
        self.written: dict[str, bool] = {}  # run id -> was new to the cache
        self.short: set[str] = set()  # runs written with fewer rows than their counts
        self.tasks_written = 0
        self.complete_listing = False
        self.listed: set[str] = set()
        self.cached: dict[str, dict[str, Any]] = {}
        self.state: WorkspaceState | None = None
        self.prev: WorkspaceState | None = None  # the state the last sync left (set by plan)
        self.finishing = False  # its last fetch is done and its finishing commit is on its way
        self.finished = False

    @property
    def workspace_id(self) -> int | None:
        return self.target.workspace_id

    # -------------------------------------------------------------- planning
    async def plan(self, client: AsyncSeqeraClient) -> None:
        """List the workspace and decide what to fetch.

        Raises
        ------
        CacheError
            The cache holds this workspace from another Platform endpoint.
        PermissionDeniedError, NotFoundError
            The workspace answers 403/404 (no access, or deleted).
        APIError
            Any other failure of the listing.
        """
        writer, ws_id, key = self.writer, self.workspace_id, self.key
        prev = writer.state.workspace(key)
        if prev is not None and prev.endpoint and prev.endpoint != self.endpoint:
            raise CacheError(
                f"The cache {writer.root} holds workspace {key} synced from {prev.endpoint}, not {self.endpoint}. "
                "Use another cache directory (--cache) for each Platform.")
        cached = writer.cached_runs(ws_id, _CACHED_COLUMNS).to_pylist()
        self.cached = cached_by_id = {r["run_id"]: r for r in cached}
        known = {r["run_id"]: (r["status"], r["last_updated"]) for r in cached}
        rows = writer.cached_task_rows(ws_id)
        pending = set(prev.pending) if prev else set()
        tries = dict(prev.short_refetches) if prev else {}

        def short(rid: str, workflow: dict[str, Any] | None = None) -> bool:
            """A cached terminal run with fewer task rows than its counts (see the module doc)."""
            row = cached_by_id.get(rid)
            if row is None or row["status"] not in F.TERMINAL_RUN_STATUSES:
                return False
            if tries.get(rid, 0) >= MAX_SHORT_REFETCHES:
                return False  # the server keeps listing fewer rows than it counts: take them
            sources = [n for n in (task_rows_at_least(None, _cached_counts(row)),
                                   task_rows_at_least(workflow, None) if workflow else None) if n is not None]
            return bool(sources) and rows.get(rid, 0) < min(sources)

        covered = _ts(prev.covered_since) if prev else None
        incremental = bool(prev and prev.complete and (prev.covered_since is None or
                                                        (self.since is not None and self.since >= covered)))
        last_full = _ts(prev.full_listed_at) if prev else None
        now = pd.Timestamp.now(tz="UTC")
        if incremental and (self.full or last_full is None or now - last_full >= FULL_LISTING_EVERY):
            incremental = False  # a full listing: the one that finds runs no longer listed
            log.info("%s: full listing (last one: %s)", self.target.label, last_full)

        def changed(el: dict[str, Any]) -> bool:
            old = known.get(run_id(el))
            wf = el["workflow"]
            return old is None or wf.get("status") != old[0] or _ts(wf.get("lastUpdated")) != _ts(old[1])

        def wanted(el: dict[str, Any]) -> bool:
            rid = run_id(el)
            return changed(el) or rid in pending or short(rid, el["workflow"])

        def facts_only(el: dict[str, Any]) -> bool:
            # Written as final, still terminal with the same status: only facts can have changed.
            rid, wf = run_id(el), el["workflow"]
            row = cached_by_id.get(rid)
            return (row is not None and bool(row["final"]) and wf.get("status") == row["status"]
                    and row["status"] in F.TERMINAL_RUN_STATUSES and rid not in pending
                    and not short(rid, wf))

        def final(el: dict[str, Any]) -> bool:  # cached, terminal, unchanged: older runs are too
            old = known.get(run_id(el))
            return old is not None and old[0] in F.TERMINAL_RUN_STATUSES and not wanted(el)

        listed = await client.list_runs(ws_id, search=runs_search(self.since), stop=final if incremental else None)
        self.complete_listing = not incremental
        self.summary.runs_listed = len(listed)
        self.summary.full_listing = self.complete_listing
        todo: list[dict[str, Any]] = []
        for el in listed:
            if not wanted(el):
                continue
            (self.facts if facts_only(el) else todo).append(el)
        self.listed = {run_id(el) for el in listed}
        # Beyond where the listing stopped: runs cached while active, runs still pending from an
        # earlier sync, and cached terminal runs that are short.
        # (An active run already marked unlisted is gone from the Platform: nothing to refresh.)
        stale = {rid for rid, (st, _) in known.items() if st not in F.TERMINAL_RUN_STATUSES
                 and cached_by_id[rid].get("unlisted_since") is None}
        forced = pending | {rid for rid in known if short(rid)}
        extra = sorted((stale | forced) - self.listed)
        if extra:
            described = await asyncio.gather(*(client.describe_run(rid, ws_id) for rid in extra),
                                             return_exceptions=True)
            for rid, d in zip(extra, described):
                if isinstance(d, (PermissionDeniedError, NotFoundError)):
                    if self.complete_listing and rid in stale and rid not in forced:
                        # Cached while active, missing from a whole listing and refused by
                        # name: dropped from the run history. Marked unlisted at finish (it
                        # keeps its last known state) and not asked for again.
                        continue
                    self.failed.append(rid)
                elif isinstance(d, BaseException):
                    raise d
                elif rid in forced or changed(d):
                    todo.append(d)
        self.state = WorkspaceState(key, self.target.name or (prev.workspace if prev else None), self.endpoint,
                                    prev.synced_at if prev else None, prev.covered_since if prev else None,
                                    complete=False, pending=sorted(pending), short_refetches=tries,
                                    full_listed_at=prev.full_listed_at if prev else None)
        self.prev = prev
        self.known = set(known)
        self.planned = {run_id(el) for el in todo} | (pending & set(self.failed))
        self.todo = deque(todo)
        self.to_fetch = len(todo)
        if todo:
            # Until this sync finishes, the next one must not trust a stop point.
            writer.set_workspace_state(self.state)
        log.info("%s: %d runs listed, %d to fetch (%d new), %d facts only, %d cached", self.target.label,
                 len(listed), len(todo), sum(1 for el in todo if run_id(el) not in known), len(self.facts),
                 len(known))

    # -------------------------------------------------------------- commits
    def record(self, batch: list[Fetched]) -> set[str]:
        """Bring the state to what it must say once ``batch`` (this workspace's runs) is
        committed; returns the runs to write as final (terminal, and not short unless the
        server was given its last chance)."""
        st = self.state
        final: set[str] = set()
        if st is None:
            return {f.run_id for f in batch if f.terminal and not f.short}
        done = set(self.written) | {f.run_id for f in batch}
        st.pending = sorted(self.planned - done)
        for f in batch:
            if f.short:
                st.short_refetches[f.run_id] = st.short_refetches.get(f.run_id, 0) + 1
            else:
                st.short_refetches.pop(f.run_id, None)
            if f.terminal and (not f.short or st.short_refetches.get(f.run_id, 0) >= MAX_SHORT_REFETCHES):
                final.add(f.run_id)
        return final

    def committed(self, batch: list[Fetched]) -> None:
        for f in batch:
            self.written[f.run_id] = f.run_id not in self.known
            if f.short:
                self.short.add(f.run_id)
            else:
                self.short.discard(f.run_id)
        self.tasks_written += sum(f.tables[1].num_rows for f in batch)

    def save(self) -> None:
        """Record the (incomplete) state for the next commit: a stop before :meth:`finish`."""
        if self.state is not None:
            self.writer.set_workspace_state(self.state)

    def finish(self) -> None:
        """The workspace's fetches are done: its listing becomes the next sync's stop point,
        facts-only runs get their facts, and a complete listing sets the unlisted marks.
        Takes effect at the next commit."""
        st, prev, since = self.state, self.prev, self.since
        assert st is not None, "finish() before plan()"
        now = pd.Timestamp.now(tz="UTC")
        if self.facts:
            self.writer.update_run_facts(F.runs_table(self.facts, workspace_id=self.workspace_id))
        if self.complete_listing:
            gone, back = [], []
            for rid, row in self.cached.items():
                if rid in self.listed:
                    if row.get("unlisted_since") is not None:
                        back.append(rid)
                elif since is None or ((submit := _ts(row.get("submit"))) is not None and submit >= since):
                    gone.append(rid)
            gone = [r for r in gone if r not in self.planned]
            if gone:
                self.writer.mark_unlisted(self.workspace_id, gone, now)
            if back:
                self.writer.mark_listed(self.workspace_id, back)
            self.summary.runs_unlisted = sum(1 for r in gone if self.cached[r].get("unlisted_since") is None)
            self.summary.runs_relisted = len(back)
            st.full_listed_at = now.isoformat()
        st.complete = True
        st.synced_at = now.isoformat()
        covered = _ts(prev.covered_since) if prev else None
        if since is None:
            st.covered_since = None
        elif prev is None or not prev.complete:
            st.covered_since = since.isoformat()
        elif covered is not None:
            st.covered_since = min(covered, since).isoformat()
        self.writer.set_workspace_state(st)
        self.finished = True

    def close_summary(self) -> SyncSummary:
        """Fill in the summary from what was committed."""
        s = self.summary
        s.runs_added = sum(1 for new in self.written.values() if new)
        s.runs_updated = len(self.written) - s.runs_added
        s.runs_failed = sorted(set(self.failed))
        s.runs_short = sorted(self.short)
        s.runs_facts_updated = len(self.facts) if self.finished else 0
        s.tasks_added = self.tasks_written
        return s
