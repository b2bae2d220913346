"""Incremental, crash-safe sync of a workspace from the API into the Parquet cache.

The only module that uses the API, the frame builders and the store together.

How a sync decides what to fetch:

1. The workspace is resolved (from the cache's memory of its name when it has one, so a
   re-sync spends no request on it).
2. Runs are listed newest first. When the cache already holds the workspace's complete
   history (the last sync finished), paging stops at the first run that is cached, in a
   terminal state and unchanged (same ``status`` and ``lastUpdated``): everything older is
   final. After an interrupted sync the whole list is read (only ~1 request per 99 runs).
3. New runs and changed runs get their tasks fetched, and nothing else for a finished run:
   its load is derived from its tasks (``frames._load``), a succeeded run's
   ``workflow.stats`` ends its task paging on a full page. ``/progress`` is fetched for runs
   still active, and for every run with ``progress=True`` (unless the listing carried it);
   ``/metrics`` if asked. Cached runs that were still active and lie
   older than the stop point are refreshed through ``GET /workflow/{id}``. A run that was
   terminal when cached is not fetched again, with two exceptions (below): it is pending,
   or it is short.
4. Finished runs are committed in batches (every ``commit_every_s`` seconds and at the
   end), atomically: a run's row appears together with its tasks. Committing runs in a
   worker thread so requests keep flowing meanwhile.

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
``workflow.stats``'s when the load was derived) and,
when the listing shows it, ``succeedCount + failedCount + cachedCount`` of
``workflow.stats``, the smaller of the two. Task rows are one per attempt, and these three
counters count attempts (a retried task is a FAILED row plus a COMPLETED one; on all the
bundled real runs rows equal that sum exactly). ``ignored`` and ``retries`` are not added:
they count failed attempts a second time. Only ever needing *at least* that many rows
keeps clean runs from being fetched again; a run that still comes back short
``MAX_SHORT_REFETCHES`` fetches in a row is left as the server serves it (``short_refetches``
in the state), so a server that counts more than it lists is not asked forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from . import frames as F
from ._exceptions import APIError, CacheError, NotFoundError, PermissionDeniedError
from .api import (
    AsyncSeqeraClient,
    ClientConfig,
    SeqeraClient,
    run_sync,
    task_rows_at_least,
    task_rows_final,
    task_rows_hint,
)
from ._time import parse_instant
from .fetch import runs_search
from .store import PERSONAL_WORKSPACE_ID, Cache, CacheWriter, WorkspaceState

__all__ = ["SyncSummary", "async_sync", "sync"]

log = logging.getLogger("seqera_analytics.sync")

#: Fetches in a row that may come back with fewer task rows than the run's counts (see above).
MAX_SHORT_REFETCHES = 3
#: The cached runs columns a short run is judged by (``/progress`` counters).
_COUNT_COLUMNS = ("tasks_succeeded", "tasks_failed", "tasks_cached")


@dataclass
class SyncSummary:
    """What a sync did.

    Attributes
    ----------
    workspace : str or None
        ``org/workspace`` (``None`` for the personal workspace or an id never named).
    workspace_id : int or None
    runs_listed : int
        Runs read from the listing (stops early on an incremental sync).
    runs_added, runs_updated : int
        Runs written by this sync that were new to the cache, and cached runs written again
        (they changed, were pending, or were short). Counted when committed: a run fetched
        but not committed (the sync failed) is in neither.
    runs_failed : list of str
        Runs whose fetch failed with 403/404 (deleted, or no access); they stay pending and
        the next sync tries them again. ``runs_skipped`` is the same list (older name).
    runs_short : list of str
        Runs written with fewer task rows than their counts promise (the server listed no
        more); fetched again by later syncs, up to ``MAX_SHORT_REFETCHES`` times.
    tasks_added : int
        Task rows written (for the added and updated runs).
    requests : int
        HTTP requests made, retries included.
    rate_limited, retries : int
        429 responses received; retried requests.
    seconds : float
        Wall time [s].
    cache : Path
    rebuilt : str or None
        Set when an older-schema cache was rebuilt.
    repaired : str or None
        Set when files missing from the cache were dropped (their runs are fetched again).
    """

    workspace: str | None
    workspace_id: int | None
    runs_listed: int = 0
    runs_added: int = 0
    runs_updated: int = 0
    runs_failed: list[str] = field(default_factory=list)
    runs_short: list[str] = field(default_factory=list)
    tasks_added: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    seconds: float = 0.0
    cache: Path | None = None
    rebuilt: str | None = None
    repaired: str | None = None

    @property
    def runs_skipped(self) -> list[str]:
        """The older name of :attr:`runs_failed`."""
        return self.runs_failed

    def __str__(self) -> str:
        name = self.workspace or (self.workspace_id if self.workspace_id is not None else "personal workspace")
        lines = [f"synced {name} into {self.cache}: {self.runs_added} runs added, {self.runs_updated} updated, "
                 f"{self.tasks_added} tasks written; {self.requests} requests in {self.seconds:.1f}s"
                 + (f" ({self.rate_limited} rate-limited, retried)" if self.rate_limited else "")]
        if self.runs_failed:
            more = "..." if len(self.runs_failed) > 5 else ""
            lines.append(f"{len(self.runs_failed)} runs could not be fetched (403/404: deleted or no access) "
                         f"and stay pending for the next sync: {', '.join(self.runs_failed[:5])}{more}")
        if self.runs_short:
            lines.append(f"{len(self.runs_short)} runs have fewer task rows than their counts say "
                         f"(the server listed no more): {', '.join(self.runs_short[:5])}")
        lines += [note for note in (self.rebuilt, self.repaired) if note]
        return "\n".join(lines)


def _run_id(el: dict[str, Any]) -> str:
    return str(el["workflow"]["id"])


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.to_datetime(value, utc=True, errors="coerce")
    return None if ts is pd.NaT else ts


@dataclass
class _Fetched:
    """One run fetched and built, waiting for a commit."""

    run_id: str
    short: bool
    tables: tuple[pa.Table, pa.Table, pa.Table, pa.Table | None]


class _Syncer:
    def __init__(self, client: AsyncSeqeraClient, writer: CacheWriter, *, metrics: bool,
                 show_progress: bool, commit_every_s: float, progress: bool = False) -> None:
        self.client = client
        self.writer = writer
        self.metrics = metrics
        self.progress = progress
        self.show_progress = show_progress
        self.commit_every_s = commit_every_s
        self.ready: list[_Fetched] = []
        self.commit_lock = asyncio.Lock()
        self.last_commit = time.monotonic()
        self.tasks_written = 0
        # Set by async_sync once it knows the plan: the runs cached before this sync, the runs
        # it means to write, and the state that records what is still pending.
        self.known: set[str] = set()
        self.planned: set[str] = set()
        self.state: WorkspaceState | None = None
        self.written: dict[str, bool] = {}  # run id -> was new to the cache
        self.short: set[str] = set()  # runs written with fewer rows than their counts

    # -------------------------------------------------------------- workspace
    async def resolve(self, workspace: str | int | None) -> tuple[int | None, str | None]:
        """(workspace id, ``org/workspace``); no request when the cache knows the name."""
        ref = workspace if workspace is not None else self.client.config.workspace
        if ref is None:
            return None, None
        text = str(ref).strip()
        endpoint = self.client.config.endpoint
        for key, ws in self.writer.state.workspaces.items():
            if ws.endpoint == endpoint and key != str(PERSONAL_WORKSPACE_ID) and (
                    key == text or (ws.workspace or "").lower() == text.lower()):
                return int(key), ws.workspace
        ws_id = await self.client.resolve_workspace(text)
        # Remember every workspace the token sees (names for later syncs and reports).
        rows = await self.client.list_user_workspaces()
        self.writer.put_workspaces(F.workspaces_table(rows))
        name = next((f"{r.get('orgName')}/{r.get('workspaceName')}" for r in rows
                     if r.get("workspaceId") == ws_id), None)
        return ws_id, name

    # -------------------------------------------------------------- commits
    def _record_state(self, batch: list[_Fetched]) -> None:
        """What the state must say once ``batch`` is committed: still pending, still short."""
        st = self.state
        if st is None:
            return
        done = set(self.written) | {f.run_id for f in batch}
        st.pending = sorted(self.planned - done)
        for f in batch:
            if f.short:
                st.short_refetches[f.run_id] = st.short_refetches.get(f.run_id, 0) + 1
            else:
                st.short_refetches.pop(f.run_id, None)

    def _committed(self, batch: list[_Fetched]) -> None:
        for f in batch:
            self.written[f.run_id] = f.run_id not in self.known
            if f.short:
                self.short.add(f.run_id)
            else:
                self.short.discard(f.run_id)
        self.tasks_written += sum(f.tables[1].num_rows for f in batch)

    async def commit(self, *, force: bool = False) -> int:
        """Commit the runs fetched so far (in a worker thread); returns tasks written."""
        if not force and time.monotonic() - self.last_commit < self.commit_every_s:
            return 0
        async with self.commit_lock:
            batch, self.ready = self.ready, []
            self.last_commit = time.monotonic()
            if not batch and not force:
                return 0
            self._record_state(batch)

            def work() -> int:
                if batch:
                    runs, tasks, progress, metrics = zip(*(f.tables for f in batch))
                    self.writer.put_runs(
                        F.concat_tables(F.RUNS, runs), F.concat_tables(F.TASKS, tasks),
                        F.concat_tables(F.PROCESS_PROGRESS, progress),
                        F.concat_tables(F.PROCESS_METRICS, metrics) if self.metrics else None,
                        final={f.run_id for f in batch if f.tables[0]["status"][0].as_py() in F.TERMINAL_RUN_STATUSES and (not f.short or (self.state is not None and self.state.short_refetches.get(f.run_id, 0) >= MAX_SHORT_REFETCHES))})
                self.writer.commit()
                return sum(f.tables[1].num_rows for f in batch)

            # A thread cannot be cancelled: if this task is, keep the commit lock until the
            # thread's commit is done, or the next commit would run beside it and both would
            # rewrite the same files.
            done = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                written = await asyncio.shield(done)
            except asyncio.CancelledError:
                while not done.done():
                    try:
                        await asyncio.shield(done)
                    except asyncio.CancelledError:
                        pass
                if not done.cancelled() and done.exception() is None:
                    self._committed(batch)
                raise
            self._committed(batch)
            log.info("committed %d runs, %d tasks", len(batch), written)
            return written

    # -------------------------------------------------------------- fetching
    async def fetch_one(self, el: dict[str, Any], ws_id: int | None) -> None:
        """Fetch one run's tasks, and its metrics if asked; build its tables.

        A finished run's load (``runs`` load columns, ``process_progress``) is derived from
        its tasks (:func:`frames.progress_from_tasks`): its task pages are its only requests.
        ``/progress`` is fetched for runs still active (their ``pending`` tasks have no rows
        yet) and, with ``progress=True``, for every run (the Platform's own peaks and
        ``net_cost``), unless the listing already carried it.
        """
        rid = _run_id(el)
        ws = el.get("workspaceId", ws_id)
        wf = el.get("workflow") or {}
        prog = el.get("progress") if isinstance(el.get("progress"), dict) else {}
        terminal = wf.get("status") in F.TERMINAL_RUN_STATUSES
        served = isinstance(prog.get("workflowProgress"), dict)
        need_progress = not served and (self.progress or not terminal)
        prog_job = asyncio.ensure_future(self.client.get_progress(rid, ws)) if need_progress else None

        async def expected() -> int | None:
            # Asked only when a short task page leaves the end open; the /progress request,
            # when there is one, is already on its way, so the counts cost no request of their own.
            return task_rows_hint(wf, await asyncio.shield(prog_job) if prog_job else prog)

        coros: list[Any] = [self.client.list_tasks(rid, ws, record_type=F.TaskRecord, expected=expected,
                                                   complete_at=task_rows_final(wf))]
        if prog_job is not None:
            coros.append(prog_job)
        if self.metrics:
            coros.append(self.client.get_metrics(rid, ws))
        try:
            got = iter(await asyncio.gather(*coros))
        finally:
            if prog_job is not None and not prog_job.done():
                prog_job.cancel()
        tasks = next(got)
        if need_progress:
            prog = next(got)
        mets = next(got) if self.metrics else None
        # Only counts the server sent can say the rows are short (derived ones come from them).
        bound = task_rows_at_least(wf, prog if served or need_progress else None) if terminal else None
        short = bound is not None and len(tasks) < bound
        if short:
            log.warning("run %s: the server listed %d task rows, its counts say at least %d", rid, len(tasks), bound)
        # Built here, between paced requests, rather than in the commit thread.
        task_rows = F.tasks_table(tasks, run_id=rid, workspace_id=ws)
        if not (served or need_progress):
            prog = F.progress_from_tasks(task_rows, wf.get("stats"))
        run = F.runs_table([{**el, "progress": prog}], workspace_id=ws_id)
        self.ready.append(_Fetched(rid, short, (
            run,
            F.check_tasks_against_runs(task_rows, run),
            F.process_progress_table(prog, run_id=rid, workspace_id=ws),
            F.process_metrics_table(mets, run_id=rid, workspace_id=ws) if mets is not None else None,
        )))


def _cached_counts(row: dict[str, Any]) -> dict[str, Any]:
    """The ``/progress`` counters of a cached runs row, in the API's names."""
    return {"succeeded": row.get("tasks_succeeded"), "failed": row.get("tasks_failed"),
            "cached": row.get("tasks_cached")}


async def async_sync(client: AsyncSeqeraClient, workspace: str | int | None = None, since: Any = None, *,
                     cache: Cache | str | Path | None = None, metrics: bool = False, progress: bool = False,
                     show_progress: bool = True, commit_every_s: float = 10.0,
                     wait_for_lock_s: float = 0.0) -> SyncSummary:
    """Async form of :func:`sync` for callers with their own event loop and client."""
    c = cache if isinstance(cache, Cache) else Cache(cache)
    t0 = time.monotonic()
    before = client.stats.copy()
    since_ts = parse_instant(since, "since")
    with c.writer(wait_s=wait_for_lock_s) as writer:
        s = _Syncer(client, writer, metrics=metrics, show_progress=show_progress, commit_every_s=commit_every_s,
                    progress=progress)
        ws_id, ws_name = await s.resolve(workspace)
        key = PERSONAL_WORKSPACE_ID if ws_id is None else ws_id
        summary = SyncSummary(ws_name, ws_id, cache=c.path, rebuilt=writer.rebuilt, repaired=writer.repaired)
        endpoint = client.config.endpoint
        prev = writer.state.workspace(key)
        if prev is not None and prev.endpoint and prev.endpoint != endpoint:
            raise CacheError(
                f"The cache {c.path} holds workspace {key} synced from {prev.endpoint}, not {endpoint}. "
                "Use another cache directory (--cache) for each Platform.")
        cached = writer.cached_runs(ws_id, _COUNT_COLUMNS).to_pylist()
        known = {r["run_id"]: (r["status"], r["last_updated"]) for r in cached}
        rows = writer.cached_task_rows(ws_id)
        pending = set(prev.pending) if prev else set()
        tries = dict(prev.short_refetches) if prev else {}
        cached_by_id = {r["run_id"]: r for r in cached}

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
                                                        (since_ts is not None and since_ts >= covered)))

        def changed(el: dict[str, Any]) -> bool:
            old = known.get(_run_id(el))
            wf = el["workflow"]
            return old is None or wf.get("status") != old[0] or _ts(wf.get("lastUpdated")) != _ts(old[1])

        def wanted(el: dict[str, Any]) -> bool:
            rid = _run_id(el)
            return changed(el) or rid in pending or short(rid, el["workflow"])

        def final(el: dict[str, Any]) -> bool:  # cached, terminal, unchanged: older runs are too
            old = known.get(_run_id(el))
            return old is not None and old[0] in F.TERMINAL_RUN_STATUSES and not wanted(el)

        listed = await client.list_runs(ws_id, search=runs_search(since_ts), stop=final if incremental else None)
        summary.runs_listed = len(listed)
        todo = [el for el in listed if wanted(el)]
        listed_ids = {_run_id(el) for el in listed}
        # Beyond where the listing stopped: runs cached while active, runs still pending from an
        # earlier sync, and cached terminal runs that are short.
        stale = {rid for rid, (st, _) in known.items() if st not in F.TERMINAL_RUN_STATUSES}
        forced = pending | {rid for rid in known if short(rid)}
        extra = sorted((stale | forced) - listed_ids)
        failed: list[str] = []
        if extra:
            described = await asyncio.gather(*(client.describe_run(rid, ws_id) for rid in extra),
                                             return_exceptions=True)
            for rid, d in zip(extra, described):
                if isinstance(d, (PermissionDeniedError, NotFoundError)):
                    failed.append(rid)
                elif isinstance(d, BaseException):
                    raise d
                elif rid in forced or changed(d):
                    todo.append(d)
        new_state = WorkspaceState(key, ws_name or (prev.workspace if prev else None), endpoint,
                                   prev.synced_at if prev else None,
                                   prev.covered_since if prev else None, complete=False,
                                   pending=sorted(pending), short_refetches=tries)
        s.known, s.state = set(known), new_state
        s.planned = {_run_id(el) for el in todo} | (pending & set(failed))
        if todo:
            # Until this sync finishes, the next one must not trust a stop point.
            writer.set_workspace_state(new_state)
        log.info("%s: %d runs listed, %d to fetch (%d new), %d cached", ws_name or key, len(listed), len(todo),
                 sum(1 for el in todo if _run_id(el) not in known), len(known))
        bar = tqdm(total=len(todo), desc=f"sync {ws_name or key}", unit="run", disable=not show_progress or not todo)
        sem = asyncio.Semaphore(max(4, client.config.max_concurrency))

        async def one(el: dict[str, Any]) -> None:
            async with sem:
                try:
                    await s.fetch_one(el, ws_id)
                except (PermissionDeniedError, NotFoundError) as exc:
                    failed.append(_run_id(el))
                    warnings.warn(f"run {_run_id(el)} could not be fetched ({type(exc).__name__}: deleted, or no "
                                  "access); it stays pending and the next sync tries again", stacklevel=2)
                bar.update(1)
            await s.commit()

        jobs = [asyncio.ensure_future(one(el)) for el in todo]
        try:
            if jobs:
                # Stop at the first failure that is not about one run (server down, token
                # revoked, retries spent): the remaining runs would only fail the same way.
                done, pending_jobs = await asyncio.wait(jobs, return_when=asyncio.FIRST_EXCEPTION)
                err_job = next((j for j in jobs if j.done() and not j.cancelled() and j.exception()), None)
                if err_job is not None:
                    for j in pending_jobs:
                        j.cancel()
                    await asyncio.gather(*pending_jobs, return_exceptions=True)
                    writer.set_workspace_state(new_state)
                    await s.commit(force=True)
                    err = err_job.exception()
                    if isinstance(err, APIError):
                        note = "sync stopped; the runs fetched so far are saved, run the sync again to continue"
                        err.args = (f"{err.args[0]} -- {note}",)
                        err.message = err.args[0]
                    raise err  # type: ignore[misc]
            new_state.complete = True
            new_state.synced_at = pd.Timestamp.now(tz="UTC").isoformat()
            if since_ts is None:
                new_state.covered_since = None
            elif prev is None or not prev.complete:
                new_state.covered_since = since_ts.isoformat()
            elif prev.covered_since is not None:
                new_state.covered_since = min(covered, since_ts).isoformat()  # type: ignore[type-var]
            writer.set_workspace_state(new_state)
            await s.commit(force=True)
        except asyncio.CancelledError:
            # Ctrl-C / a notebook interrupt: keep what was fetched, then stop.
            for j in jobs:
                j.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            writer.set_workspace_state(new_state)
            await s.commit(force=True)
            raise
        finally:
            bar.close()
            summary.runs_added = sum(1 for new in s.written.values() if new)
            summary.runs_updated = len(s.written) - summary.runs_added
            summary.runs_failed = sorted(set(failed))
            summary.runs_short = sorted(s.short)
        summary.tasks_added = s.tasks_written
    after = client.stats
    summary.requests = after.requests - before.requests
    summary.retries = after.retries - before.retries
    summary.rate_limited = after.rate_limited - before.rate_limited
    summary.seconds = time.monotonic() - t0
    return summary


def sync(workspace: str | int | None = None, since: Any = None, *, cache: Cache | str | Path | None = None,
         client: SeqeraClient | None = None, metrics: bool = False, progress: bool = False,
         show_progress: bool = True, commit_every_s: float = 10.0, wait_for_lock_s: float = 0.0,
         **client_options: Any) -> SyncSummary:
    """Bring the cache up to date with a workspace (incremental, crash-safe).

    Parameters
    ----------
    workspace : str or int, optional
        ``org/workspace`` or id; default ``TOWER_WORKSPACE_ID``, else the personal workspace.
    since : date-like, optional
        Only runs submitted from this UTC date on (``"2025-01-01"``).
    cache : Cache or path, optional
        Default ``$SEQERA_ANALYTICS_CACHE`` or the user cache dir.
    client : SeqeraClient, optional
        Default: one built from ``TOWER_ACCESS_TOKEN``/``TOWER_API_ENDPOINT`` and
        ``client_options``.
    metrics : bool
        Also fetch ``/metrics`` per run (one more request per run; the quartiles can be
        derived from tasks, so off by default).
    progress : bool
        Also fetch ``/progress`` for finished runs (one more request each). Without it a
        finished run's load columns are derived from its tasks (``frames._load``: exact for
        cost, memory, bytes and counters, CPU time within the second rounding of task times,
        peaks approximate) and ``net_cost`` is null; active runs always get ``/progress``.
    commit_every_s : float
        Commit fetched runs at least this often [s].
    wait_for_lock_s : float
        How long to wait if another sync holds the cache [s].

    Returns
    -------
    SyncSummary

    Raises
    ------
    CacheLockedError
        Another sync is writing this cache.
    AuthenticationError, WorkspaceNotFoundError, APIError
        Nothing is lost: runs fetched before the error are committed.
    """
    owned = client is None
    c = client if client is not None else SeqeraClient(ClientConfig.from_env(**client_options))
    try:
        return run_sync(async_sync(c.aio, workspace, since, cache=cache, metrics=metrics, progress=progress,
                                   show_progress=show_progress, commit_every_s=commit_every_s,
                                   wait_for_lock_s=wait_for_lock_s))
    finally:
        if owned:
            c.close()
