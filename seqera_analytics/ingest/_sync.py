"""The sync: workspaces planned, their runs fetched round-robin under one pacer, one writer.

Every workspace is listed side by side (:mod:`._workspace` decides what each needs), and as
each plan lands its runs join the ones the workers are fetching, handed out one workspace at
a time in turn: a workspace of three runs finishes early instead of waiting behind one of
thousands, and the token's request budget (the client's pacer) stays full to the end. Fetched runs are
committed in batches (every ``commit_every_s`` seconds and at the
end), atomically, in a worker thread so requests keep flowing meanwhile: a run's row appears
together with its tasks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .. import frames as F
from .._exceptions import APIError, NotFoundError, PermissionDeniedError
from .._time import parse_instant
from ..api import AsyncSeqeraClient, ClientConfig, SeqeraClient, run_sync
from ..store import Cache, CacheWriter
from ._fetch import Fetched, fetch_run, run_id
from ._summary import MultiSyncSummary, SyncSummary
from ._targets import resolve_targets
from ._workspace import WorkspaceSync

__all__ = ["async_sync", "sync"]

log = logging.getLogger("seqera_analytics.sync")


class _Committer:
    """Batches fetched runs of every workspace into the writer's commits (one at a time)."""

    def __init__(self, writer: CacheWriter, *, metrics: bool, commit_every_s: float) -> None:
        self.writer = writer
        self.metrics = metrics
        self.commit_every_s = commit_every_s
        self.ready: list[tuple[WorkspaceSync, Fetched]] = []
        self.lock = asyncio.Lock()
        self.last = time.monotonic()

    async def finish(self, ws: WorkspaceSync) -> None:
        """Record a workspace's final state, facts and marks for the next commit, under the
        commit lock: a commit thread may be reading the writer's buffers and the states."""
        async with self.lock:
            ws.finish()

    async def commit(self, *, force: bool = False) -> int:
        """Commit the runs fetched so far (in a worker thread); returns tasks written."""
        if not force and time.monotonic() - self.last < self.commit_every_s:
            return 0
        async with self.lock:
            batch, self.ready = self.ready, []
            self.last = time.monotonic()
            if not batch and not force:
                return 0
            by_ws: dict[int, tuple[WorkspaceSync, list[Fetched]]] = {}
            for ws, f in batch:
                by_ws.setdefault(id(ws), (ws, []))[1].append(f)
            final = set().union(*(ws.record(fs) for ws, fs in by_ws.values()))
            writer, metrics = self.writer, self.metrics

            def work() -> int:
                if batch:
                    runs, tasks, progress, mets = zip(*(f.tables for _, f in batch))
                    writer.put_runs(F.concat_tables(F.RUNS, runs), F.concat_tables(F.TASKS, tasks),
                                    F.concat_tables(F.PROCESS_PROGRESS, progress),
                                    F.concat_tables(F.PROCESS_METRICS, mets) if metrics else None, final=final)
                writer.commit()
                return sum(f.tables[1].num_rows for _, f in batch)

            def committed() -> None:
                for ws, fs in by_ws.values():
                    ws.committed(fs)

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
                    committed()
                raise
            committed()
            log.info("committed %d runs, %d tasks", len(batch), written)
            return written


class _RoundRobin:
    """Hands out the next run to fetch, one workspace after another."""

    def __init__(self) -> None:
        self.workspaces: list[WorkspaceSync] = []
        self.turn = 0

    def add(self, ws: WorkspaceSync) -> None:
        self.workspaces.append(ws)

    def next(self) -> tuple[WorkspaceSync, dict[str, Any]] | None:
        n = len(self.workspaces)
        for k in range(n):
            ws = self.workspaces[(self.turn + k) % n]
            if ws.todo:
                self.turn = (self.turn + k + 1) % n
                ws.in_flight += 1
                return ws, ws.todo.popleft()
        return None


class _Bar:
    """One progress bar for the whole sync, shown once there is something to fetch; its
    total grows as workspaces are planned (tqdm's ETA follows)."""

    def __init__(self, desc: str, show: bool) -> None:
        self.desc, self.show = desc, show
        self.bar: tqdm | None = None

    def grow(self, n: int) -> None:
        if not self.show or n <= 0:
            return
        if self.bar is None:
            self.bar = tqdm(total=0, desc=self.desc, unit="run")
        self.bar.total += n
        self.bar.refresh()

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _unreachable(exc: PermissionDeniedError | NotFoundError) -> str:
    return f"{exc.status_code} on {exc.method} {exc.path} (no access to its runs, or deleted)"


async def _sync_all(client: AsyncSeqeraClient, plans: list[WorkspaceSync], committer: _Committer, *,
                    many: bool, metrics: bool, progress: bool, bar: _Bar) -> dict[str, str]:
    """Plan every workspace (side by side) and fetch their runs round-robin as plans land, so
    the first fetches do not wait for the largest listing. Returns the workspaces that could
    not be synced (403/404 on their listing, in a sync of many): name -> reason.

    Raises the first failure that is not about one run or one workspace (server down, token
    revoked, retries spent): the rest would only fail the same way.
    """
    rr = _RoundRobin()
    more = asyncio.Event()
    planning = len(plans)
    failed: dict[str, str] = {}

    async def plan(ws: WorkspaceSync) -> None:
        nonlocal planning
        try:
            await ws.plan(client)
        except (PermissionDeniedError, NotFoundError) as exc:
            if not many:
                # About the workspace, not the sync: say which, and keep the class.
                exc.args = (f"Cannot sync {ws.target.label}: {_unreachable(exc)}.",)
                exc.message = exc.args[0]
                exc.about_workspace = True  # type: ignore[attr-defined]  # (no "run it again" note)
                raise
            # One workspace out of reach (403: access revoked, 404: deleted): the others go on.
            failed[ws.target.label] = _unreachable(exc)
            ws.state = None
            return
        finally:
            planning -= 1
            more.set()
        if ws.todo:
            rr.add(ws)
            bar.grow(ws.to_fetch)
        else:
            await committer.finish(ws)
        more.set()

    async def worker() -> None:
        while True:
            item = rr.next()
            if item is None:
                if planning == 0:
                    return
                more.clear()
                await more.wait()
                continue
            ws, el = item
            try:
                f = await fetch_run(client, el, ws.workspace_id, metrics=metrics, progress=progress)
                committer.ready.append((ws, f))
            except (PermissionDeniedError, NotFoundError) as exc:
                ws.failed.append(run_id(el))
                warnings.warn(f"run {run_id(el)} could not be fetched ({type(exc).__name__}: deleted, or no "
                              "access); it stays pending and the next sync tries again", stacklevel=2)
            finally:
                ws.in_flight -= 1
                bar.update()
            if not ws.todo and ws.in_flight == 0 and not ws.finishing:
                ws.finishing = True  # (finish() itself waits for the commit lock)
                await committer.finish(ws)
            await committer.commit()

    n_workers = max(4, client.config.max_concurrency)
    jobs = [asyncio.ensure_future(plan(p)) for p in plans] + [asyncio.ensure_future(worker())
                                                            for _ in range(n_workers)]
    try:
        await asyncio.wait(jobs, return_when=asyncio.FIRST_EXCEPTION)
        err_job = next((j for j in jobs if j.done() and not j.cancelled() and j.exception()), None)
        if err_job is not None:
            raise err_job.exception()  # type: ignore[misc]
    finally:
        for j in jobs:
            j.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
    return failed


async def async_sync(client: AsyncSeqeraClient, workspace: str | int | Sequence[str | int] | None = None,
                     since: Any = None, *, org: str | None = None, all_workspaces: bool = False,
                     include_personal: bool = False, full: bool = False,
                     cache: Cache | str | Path | None = None, metrics: bool = False, progress: bool = False,
                     show_progress: bool = True, commit_every_s: float = 10.0,
                     wait_for_lock_s: float = 0.0) -> SyncSummary | MultiSyncSummary:
    """Async form of :func:`sync` for callers with their own event loop and client."""
    c = cache if isinstance(cache, Cache) else Cache(cache)
    t0 = time.monotonic()
    before = client.stats.copy()
    since_ts = parse_instant(since, "since")
    many = all_workspaces or org is not None or (workspace is not None and not isinstance(workspace, (str, int)))
    refs: list[str | int | None] = ([workspace] if workspace is None or isinstance(workspace, (str, int))
                                    else list(workspace))
    with c.writer(wait_s=wait_for_lock_s) as writer:
        targets = await resolve_targets(client, writer, workspaces=refs, org=org, all_workspaces=all_workspaces,
                                        include_personal=include_personal)
        endpoint = client.config.endpoint
        plans = [WorkspaceSync(t, writer, endpoint, since=since_ts, full=full,
                               summary=SyncSummary(t.name, t.workspace_id, cache=c.path,
                                                   requests=None if many else 0))
                 for t in targets]
        committer = _Committer(writer, metrics=metrics, commit_every_s=commit_every_s)
        bar = _Bar("sync" if many or not targets else f"sync {targets[0].label}", show_progress)
        failed: dict[str, str] = {}
        try:
            failed = await _sync_all(client, plans, committer, many=many, metrics=metrics, progress=progress,
                                     bar=bar)
        except BaseException as err:
            # Ctrl-C, a notebook interrupt, or a failure that stops the sync: keep what was
            # fetched (the states stay incomplete, so the next sync lists everything again).
            for p in plans:
                if not p.finished:
                    p.save()
            await committer.commit(force=True)
            if isinstance(err, APIError) and not getattr(err, "about_workspace", False):
                note = "sync stopped; the runs fetched so far are saved, run the sync again to continue"
                err.args = (f"{err.args[0]} -- {note}",)
                err.message = err.args[0]
            raise
        else:
            await committer.commit(force=True)
        finally:
            bar.close()
            summaries = [p.close_summary() for p in plans if p.state is not None]
        rebuilt, repaired = writer.rebuilt, writer.repaired
    after = client.stats
    seconds = time.monotonic() - t0
    counts = {"requests": after.requests - before.requests, "retries": after.retries - before.retries,
              "rate_limited": after.rate_limited - before.rate_limited}
    if not many:
        s = summaries[0]
        for k, v in counts.items():
            setattr(s, k, v)
        s.seconds, s.rebuilt, s.repaired = seconds, rebuilt, repaired
        return s
    for s in summaries:
        s.seconds = seconds
    return MultiSyncSummary(summaries, failed, seconds=seconds, cache=c.path, rebuilt=rebuilt, repaired=repaired,
                            **counts)


def sync(workspace: str | int | Sequence[str | int] | None = None, since: Any = None, *,
         org: str | None = None, all_workspaces: bool = False, include_personal: bool = False,
         full: bool = False, cache: Cache | str | Path | None = None, client: SeqeraClient | None = None,
         metrics: bool = False, progress: bool = False, show_progress: bool = True, commit_every_s: float = 10.0,
         wait_for_lock_s: float = 0.0, **client_options: Any) -> SyncSummary | MultiSyncSummary:
    """Bring the cache up to date with one workspace, several, or a whole organisation
    (incremental, crash-safe).

    Parameters
    ----------
    workspace : str, int or a sequence of them, optional
        ``org/workspace`` or id; default ``TOWER_WORKSPACE_ID``, else the personal workspace.
        A list syncs each of them.
    since : date-like, optional
        Only runs submitted from this UTC date on (``"2025-01-01"``).
    org : str, optional
        Also sync every workspace of this organisation (name or id) the token can see.
    all_workspaces : bool
        Sync every workspace the token can see; the personal workspace only with
        ``include_personal``.
    full : bool
        Read every workspace's listing to its end (rather than stopping at the first cached,
        finished, unchanged run), to find runs the Platform no longer lists. Done
        automatically when the last full listing is older than
        :data:`~seqera_analytics.ingest.FULL_LISTING_EVERY` (7 days); costs one request per
        99 runs listed.
    cache : Cache or path, optional
        Default ``$SEQERA_ANALYTICS_CACHE`` or the user cache dir.
    client : SeqeraClient, optional
        Default: one built from ``TOWER_ACCESS_TOKEN``/``TOWER_API_ENDPOINT`` and
        ``client_options``. One client means one pacer for the token, whatever the number
        of workspaces.
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
        When one workspace was asked for (a single ``workspace``, or none).
    MultiSyncSummary
        For a list of workspaces, ``org`` or ``all_workspaces``: one :class:`SyncSummary`
        per workspace, and the workspaces that could not be synced (403/404) in ``failed``.

    Raises
    ------
    CacheLockedError
        Another sync is writing this cache.
    OrganizationNotFoundError
        ``org`` is not visible to the token (the message lists the visible ones).
    AuthenticationError, WorkspaceNotFoundError, APIError
        Nothing is lost: runs fetched before the error are committed. For a single
        workspace a 403/404 on its listing raises too; in a sync of many it is reported in
        ``MultiSyncSummary.failed`` and the others are synced.
    """
    owned = client is None
    c = client if client is not None else SeqeraClient(ClientConfig.from_env(**client_options))
    try:
        return run_sync(async_sync(c.aio, workspace, since, org=org, all_workspaces=all_workspaces,
                                   include_personal=include_personal, full=full, cache=cache, metrics=metrics,
                                   progress=progress, show_progress=show_progress, commit_every_s=commit_every_s,
                                   wait_for_lock_s=wait_for_lock_s))
    finally:
        if owned:
            c.close()
