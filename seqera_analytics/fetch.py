"""Notebook-facing fetch functions: API records -> typed DataFrames.

``fetch_*`` functions call the Seqera Platform API (through :mod:`seqera_analytics.api`) and
return pandas DataFrames typed by :mod:`seqera_analytics.frames.schema`; ``load_dump``
reads the same tables offline from ``tw runs dump`` archives and run bundles. Multi-run
fetches run concurrently under the per-token pacing and show a progress bar
(``show_progress=False`` turns it off).

Requests are spent only where they buy data: ``progress`` is taken from the runs listing
when the server includes it and fetched from ``/progress`` otherwise; ``/metrics`` is
called only by :func:`fetch_metrics` (its quartiles can be derived from tasks).

The ``a*`` coroutines underneath return Arrow tables; the cache's sync uses them directly.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from . import frames as F
from ._exceptions import DataFormatError
from ._time import parse_instant
from .api import (
    AsyncSeqeraClient,
    ClientConfig,
    SeqeraClient,
    run_sync,
    runs_search,
    task_rows_hint,
)
from .bundles import RunBundle, _is_unpacked_dump, iter_run_bundles, read_run_bundles

__all__ = [
    "RunData",
    "RunDetails",
    "afetch_run_details",
    "afetch_runs",
    "alist_runs",
    "connect",
    "fetch_metrics",
    "fetch_progress",
    "fetch_run_data",
    "fetch_runs",
    "fetch_tasks",
    "fetch_workspaces",
    "load_dump",
    "runs_search",
]

T = TypeVar("T")


# ---------------------------------------------------------------------------- helpers
def connect(token: str | None = None, endpoint: str | None = None, workspace: str | int | None = None,
            **options: Any) -> SeqeraClient:
    """A client for the Seqera Platform API.

    Arguments default to ``TOWER_ACCESS_TOKEN``, ``TOWER_API_ENDPOINT`` (default
    ``https://api.cloud.seqera.io``) and ``TOWER_WORKSPACE_ID`` (numeric id or
    ``org/workspace``). ``options`` are :class:`~seqera_analytics.api.ClientConfig` fields:
    ``verify`` (CA bundle path), ``proxy``, ``timeout_s``, ``requests_per_second``
    (default 19, the documented limit is 20), ``max_concurrency``, ``retry``.

    Raises
    ------
    ConfigurationError
        A malformed endpoint or setting. (A missing token is reported by the first request.)
    """
    return SeqeraClient(ClientConfig.from_env(token=token, endpoint=endpoint, workspace=workspace, **options))


def _statuses(status: str | Sequence[str] | None) -> list[str | None]:
    if status is None:
        return [None]
    values = [status] if isinstance(status, str) else list(status)
    out = []
    for s in values:
        up = str(s).strip().upper()
        if up not in F.RUN_STATUSES:
            raise ValueError(f"status={s!r} is not a run status; use one of "
                             f"{', '.join(x.lower() for x in F.RUN_STATUSES)}")
        out.append(up)
    return list(dict.fromkeys(out))


async def _gather_bar(aws: Sequence[Awaitable[T]], *, desc: str, unit: str, show: bool) -> list[T]:
    """Await all, in order, ticking a progress bar as each finishes."""
    if not aws:
        return []
    bar = tqdm(total=len(aws), desc=desc, unit=unit, disable=not show, leave=False)

    async def tick(aw: Awaitable[T]) -> T:
        try:
            return await aw
        finally:
            bar.update(1)

    try:
        return list(await asyncio.gather(*(tick(a) for a in aws)))
    finally:
        bar.close()


def _client_or_default(client: SeqeraClient | None) -> tuple[SeqeraClient, bool]:
    return (client, False) if client is not None else (connect(), True)


def _run_sync_with(client: SeqeraClient | None, fn: Callable[[AsyncSeqeraClient], Awaitable[T]]) -> T:
    c, owned = _client_or_default(client)
    try:
        return run_sync(fn(c.aio))
    finally:
        if owned:
            c.close()


# ---------------------------------------------------------------------------- runs
async def alist_runs(client: AsyncSeqeraClient, workspace: str | int | None = None, *,
                     since: Any = None, until: Any = None, status: str | Sequence[str] | None = None,
                     search: str | None = None, stop: Callable[[dict[str, Any]], bool] | None = None
                     ) -> tuple[int | None, list[dict[str, Any]]]:
    """(workspace id, ``/workflow`` list elements) of the runs submitted in ``[since, until)``."""
    lo, hi = parse_instant(since, "since"), parse_instant(until, "until")
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"until ({hi}) must be after since ({lo})")
    ws_id = await client.resolve_workspace(workspace)
    elements: dict[str, dict[str, Any]] = {}
    for st in _statuses(status):
        for el in await client.list_runs(ws_id, search=runs_search(lo, hi, search, st), stop=stop):
            elements.setdefault(str(el["workflow"]["id"]), el)
    els = list(elements.values())
    # The API filters on submit with its own inclusivity; enforce [since, until) exactly.
    if lo is not None or hi is not None:
        submit = pd.to_datetime(pd.Series([e["workflow"].get("submit") for e in els], dtype=object),
                                utc=True, errors="coerce")
        keep = pd.Series(True, index=submit.index)
        if lo is not None:
            keep &= submit >= lo
        if hi is not None:
            keep &= submit < hi
        els = [e for e, k in zip(els, keep) if k]
    return ws_id, els


def _listed_progress(els: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Progress the listing already carried (servers that include it in list elements)."""
    return {str(e["workflow"]["id"]): e["progress"] for e in els
            if isinstance(e.get("progress"), dict) and isinstance(e["progress"].get("workflowProgress"), dict)}


async def afetch_runs(client: AsyncSeqeraClient, workspace: str | int | None = None, *,
                      since: Any = None, until: Any = None, status: str | Sequence[str] | None = None,
                      search: str | None = None, with_progress: bool = True,
                      show_progress: bool = False) -> pa.Table:
    """Runs of a workspace as a :data:`~seqera_analytics.frames.RUNS` table (see
    :func:`fetch_runs`)."""
    ws_id, els = await alist_runs(client, workspace, since=since, until=until, status=status, search=search)
    if with_progress:
        known = _listed_progress(els)
        missing = [e for e in els if str(e["workflow"]["id"]) not in known]
        fetched = await _gather_bar(
            [client.get_progress(str(e["workflow"]["id"]), e.get("workspaceId", ws_id)) for e in missing],
            desc="progress", unit="run", show=show_progress)
        for e, p in zip(missing, fetched):
            e["progress"] = p
    return F.runs_table(els, workspace_id=ws_id)


def fetch_runs(workspace: str | int | None = None, since: Any = None, until: Any = None,
               status: str | Sequence[str] | None = None, search: str | None = None, *,
               with_progress: bool = True, client: SeqeraClient | None = None,
               show_progress: bool = True) -> pd.DataFrame:
    """Runs of a workspace, newest first, one row per run.

    Parameters
    ----------
    workspace : str or int, optional
        ``org/workspace`` or numeric id; default ``TOWER_WORKSPACE_ID``; ``None`` is the
        personal workspace.
    since, until : date-like, optional
        Submission time window ``[since, until)`` in UTC (``"2025-09"``, ``"2025-09-01"``,
        ISO date-times, ``datetime``). Sent as ``after:``/``before:`` search keywords.
    status : str or list of str, optional
        ``succeeded``, ``failed``, ``cancelled``, ``running``, ``submitted``, ``unknown``.
    search : str, optional
        Extra search text in the Platform's syntax (``projectName:nf-core/rnaseq``,
        ``label:x``, ``userName:y``, free text).
    with_progress : bool
        Include the run-level load (cost, CPU time, task counters); costs one ``/progress``
        request per run when the listing does not carry it.

    Returns
    -------
    pandas.DataFrame
        The :data:`~seqera_analytics.frames.RUNS` columns; see
        ``seqera_analytics.frames.describe("runs")`` for dtypes and units (e.g.
        ``submit`` ``datetime64[ms, UTC]``, ``duration`` ``timedelta64[ms]``, ``cost``
        ``Float64`` [USD]).

    Raises
    ------
    AuthenticationError, PermissionDeniedError, WorkspaceNotFoundError, APIError
        See :mod:`seqera_analytics._exceptions`.
    ValueError
        A malformed date or status.

    Source: ``GET /workflow`` (``attributes=labels``), ``GET /workflow/{id}/progress``.
    """
    async def go(c: AsyncSeqeraClient) -> pa.Table:
        return await afetch_runs(c, workspace, since=since, until=until, status=status, search=search,
                                 with_progress=with_progress, show_progress=show_progress)

    return F.to_pandas(_run_sync_with(client, go))


# ---------------------------------------------------------------------------- per-run data
@dataclass
class RunDetails:
    """Per-run payloads fetched together (Arrow tables of the data model)."""

    tasks: pa.Table
    process_metrics: pa.Table
    process_progress: pa.Table
    progress: dict[str, dict[str, Any]]


async def afetch_run_details(client: AsyncSeqeraClient, runs: Sequence[tuple[str, int | None]], *,
                             tasks: bool = True, progress: bool = False, metrics: bool = False,
                             known_progress: dict[str, dict[str, Any]] | None = None,
                             show_progress: bool = False) -> RunDetails:
    """Tasks, ``/progress`` and ``/metrics`` of many runs, concurrently under the pacing.

    Parameters
    ----------
    runs : sequence of (run_id, workspace_id)
    tasks, progress, metrics : bool
        What to fetch. ``progress`` is skipped for runs in ``known_progress``.

    Returns
    -------
    RunDetails
        ``tasks`` (:data:`TASKS`), ``process_metrics`` (:data:`PROCESS_METRICS`),
        ``process_progress`` (:data:`PROCESS_PROGRESS`) and the raw progress per run id.
    """
    known_progress = dict(known_progress or {})

    async def one(run_id: str, ws: int | None) -> tuple[pa.Table | None, pa.Table | None, pa.Table | None]:
        p = (asyncio.ensure_future(client.get_progress(run_id, ws))
             if progress and run_id not in known_progress else None)

        async def expected() -> int | None:
            # The run's counters say how many task rows to expect when a task page comes back
            # short without a total (see seqera_analytics.api._paging); no extra request.
            return task_rows_hint(None, await asyncio.shield(p) if p is not None else known_progress.get(run_id))

        t = client.list_tasks(run_id, ws, record_type=F.TaskRecord, expected=expected) if tasks else None
        m = client.get_metrics(run_id, ws) if metrics else None
        try:
            got = iter(await asyncio.gather(*(x for x in (t, p, m) if x is not None)))
        finally:
            if p is not None and not p.done():
                p.cancel()
        task_rows, prog, mets = (next(got) if t else None), (next(got) if p else None), (next(got) if m else None)
        if prog is not None:
            known_progress[run_id] = prog
        # Build this run's tables now: the loop is mostly idle waiting for pacing slots, so
        # the CPU work hides behind the rate limit instead of piling up at the end.
        return (
            F.tasks_table(task_rows, run_id=run_id, workspace_id=ws) if task_rows is not None else None,
            F.process_progress_table(known_progress.get(run_id), run_id=run_id, workspace_id=ws)
            if progress or run_id in known_progress else None,
            F.process_metrics_table(mets, run_id=run_id, workspace_id=ws) if mets is not None else None,
        )

    results = await _gather_bar([one(r, w) for r, w in runs], desc="runs", unit="run", show=show_progress)
    return RunDetails(
        tasks=F.concat_tables(F.TASKS, [r[0] for r in results]),
        process_progress=F.concat_tables(F.PROCESS_PROGRESS, [r[1] for r in results]),
        process_metrics=F.concat_tables(F.PROCESS_METRICS, [r[2] for r in results]),
        progress=known_progress,
    )


def _run_refs(runs: Any, workspace: Any) -> Callable[[AsyncSeqeraClient], Awaitable[list[tuple[str, int | None]]]]:
    """(run_id, workspace_id) pairs from a runs DataFrame, a list of ids or one id.

    Rows of a runs DataFrame keep their own ``workspace_id``; ids without one get
    ``workspace`` (default: the configured workspace).
    """
    if isinstance(runs, pd.DataFrame):
        if "run_id" not in runs.columns:
            raise ValueError("the runs DataFrame has no run_id column (use fetch_runs() or load_runs())")
        ws = runs["workspace_id"] if "workspace_id" in runs.columns else pd.Series([None] * len(runs))
        pairs = [(str(r), None if pd.isna(w) else int(w)) for r, w in zip(runs["run_id"], ws)]
    else:
        ids = [runs] if isinstance(runs, str) else [str(r) for r in runs]
        pairs = [(r, None) for r in ids]

    async def resolve(c: AsyncSeqeraClient) -> list[tuple[str, int | None]]:
        default = None
        if any(w is None for _, w in pairs):
            default = await c.resolve_workspace(workspace)
        return list(dict.fromkeys((r, default if w is None else w) for r, w in pairs))

    return resolve


def _fetch_details(runs: Any, workspace: Any, client: SeqeraClient | None, show_progress: bool,
                   **what: bool) -> RunDetails:
    refs = _run_refs(runs, workspace)

    async def go(c: AsyncSeqeraClient) -> RunDetails:
        return await afetch_run_details(c, await refs(c), show_progress=show_progress, **what)

    return _run_sync_with(client, go)


def fetch_tasks(runs: Any, workspace: str | int | None = None, *,
                client: SeqeraClient | None = None, show_progress: bool = True) -> pd.DataFrame:
    """Every task attempt of the given runs, one row per attempt.

    Parameters
    ----------
    runs : DataFrame, list of str or str
        A runs DataFrame (its ``run_id`` and ``workspace_id`` are used), run ids, or one id.
    workspace : str or int, optional
        Workspace of runs given by id (default ``TOWER_WORKSPACE_ID``).

    Returns
    -------
    pandas.DataFrame
        The :data:`~seqera_analytics.frames.TASKS` columns (``realtime``/``duration``
        ``timedelta64[ms]``, ``memory``/``peak_rss``/``rchar`` ``Int64`` [bytes], ``pcpu``
        ``Float64`` [% of one core], ``cost`` ``Float64`` [USD], ...); see
        ``seqera_analytics.frames.describe("tasks")``.

    Raises
    ------
    PermissionDeniedError
        A run is not in the workspace (or does not exist).
    APIError
        See :mod:`seqera_analytics._exceptions`.

    Source: ``GET /workflow/{id}/tasks`` (all pages, ``max=100``). A page shorter than asked
    ends a run's tasks unless the response's ``total`` says more exist (here no run counts
    are fetched; :func:`fetch_run_data` and the cache's sync also use ``/progress``).
    """
    return F.to_pandas(_fetch_details(runs, workspace, client, show_progress, tasks=True).tasks)


def fetch_metrics(runs: Any, workspace: str | int | None = None, *,
                  client: SeqeraClient | None = None, show_progress: bool = True) -> pd.DataFrame:
    """The Platform's per-process resource summaries of the given runs, long form.

    Returns
    -------
    pandas.DataFrame
        :data:`~seqera_analytics.frames.PROCESS_METRICS`: ``run_id``, ``workspace_id``,
        ``process``, ``metric`` (cpu, mem, vmem, time, reads, writes, cpu_usage,
        mem_usage, time_usage), ``stat`` (mean, min, q1, q2, q3, max), ``value``
        (``Float64``, in ``unit``), ``unit``.

    Source: ``GET /workflow/{id}/metrics``. One request per run; the same quartiles can be
    computed from :func:`fetch_tasks` output.
    """
    return F.to_pandas(_fetch_details(runs, workspace, client, show_progress,
                                      tasks=False, metrics=True).process_metrics)


def fetch_progress(runs: Any, workspace: str | int | None = None, *,
                   client: SeqeraClient | None = None, show_progress: bool = True) -> pd.DataFrame:
    """Per-process task counters of the given runs.

    Returns
    -------
    pandas.DataFrame
        :data:`~seqera_analytics.frames.PROCESS_PROGRESS`: ``run_id``, ``workspace_id``,
        ``process``, ``tasks_pending`` ... ``tasks_ignored`` (``Int64`` counts),
        ``last_updated``.

    Source: ``GET /workflow/{id}/progress`` ``.progress.processesProgress``.
    """
    return F.to_pandas(_fetch_details(runs, workspace, client, show_progress,
                                      tasks=False, progress=True).process_progress)


def fetch_workspaces(*, client: SeqeraClient | None = None) -> pd.DataFrame:
    """The workspaces the token can see.

    Returns
    -------
    pandas.DataFrame
        :data:`~seqera_analytics.frames.WORKSPACES`: ``workspace_id`` (Int64),
        ``workspace`` ("org/workspace"), ``org_id``, ``org_name``, ``workspace_name``,
        ``workspace_full_name``, ``visibility``, ``roles``.

    Source: ``GET /user-info``, ``GET /user/{userId}/workspaces``.
    """
    async def go(c: AsyncSeqeraClient) -> pa.Table:
        return F.workspaces_table(await c.list_user_workspaces())

    return F.to_pandas(_run_sync_with(client, go))


# ---------------------------------------------------------------------------- everything at once
@dataclass
class RunData:
    """The tables of a set of runs (from :func:`fetch_run_data` or :func:`load_dump`).

    Attributes
    ----------
    runs, tasks, process_metrics, process_progress : pandas.DataFrame
        Typed exactly as the ``fetch_*`` results.
    """

    runs: pd.DataFrame
    tasks: pd.DataFrame
    process_metrics: pd.DataFrame
    process_progress: pd.DataFrame

    def __repr__(self) -> str:
        return (f"RunData({len(self.runs)} runs, {len(self.tasks)} tasks, {len(self.process_metrics)} "
                f"process_metrics rows, {len(self.process_progress)} process_progress rows)")


def fetch_run_data(workspace: str | int | None = None, since: Any = None, until: Any = None,
                   status: str | Sequence[str] | None = None, search: str | None = None, *,
                   metrics: bool = False, client: SeqeraClient | None = None,
                   show_progress: bool = True) -> RunData:
    """Runs and everything about them in one go: the fastest way to pull a workspace.

    Lists the runs (as :func:`fetch_runs`), then fetches every run's tasks and
    ``/progress`` (and ``/metrics`` with ``metrics=True``) in one concurrent phase under
    the rate limit.

    Returns
    -------
    RunData
        ``runs``, ``tasks``, ``process_metrics`` (empty unless ``metrics``),
        ``process_progress``; typed as :func:`fetch_runs`, :func:`fetch_tasks`,
        :func:`fetch_metrics` and :func:`fetch_progress` return them.

    Raises
    ------
    As :func:`fetch_runs`.
    """
    async def go(c: AsyncSeqeraClient) -> RunData:
        ws_id, els = await alist_runs(c, workspace, since=since, until=until, status=status, search=search)
        details = await afetch_run_details(
            c, [(str(e["workflow"]["id"]), e.get("workspaceId", ws_id)) for e in els], tasks=True,
            progress=True, metrics=metrics, known_progress=_listed_progress(els), show_progress=show_progress)
        for e in els:
            e["progress"] = details.progress.get(str(e["workflow"]["id"]))
        runs = F.runs_table(els, workspace_id=ws_id)
        tasks = F.check_tasks_against_runs(details.tasks, runs)
        return RunData(F.to_pandas(runs), F.to_pandas(tasks),
                       F.to_pandas(details.process_metrics), F.to_pandas(details.process_progress))

    return _run_sync_with(client, go)


# ---------------------------------------------------------------------------- offline
def bundle_tables(bundle: RunBundle) -> dict[str, pa.Table]:
    """Arrow tables (runs, tasks, process_metrics, process_progress) of one captured run."""
    org, _, ws = (bundle.workspace or "").partition("/")
    element = {"workflow": bundle.workflow, "progress": bundle.progress, "labels": bundle.labels,
               "orgId": bundle.org_id, "workspaceId": bundle.workspace_id,
               "orgName": org or None, "workspaceName": ws or None}
    rid, wsid = bundle.run_id, bundle.workspace_id
    runs = F.runs_table([element])
    return {
        "runs": runs,
        "tasks": F.check_tasks_against_runs(F.tasks_table(bundle.tasks, run_id=rid, workspace_id=wsid), runs),
        "process_metrics": F.process_metrics_table(bundle.metrics, run_id=rid, workspace_id=wsid),
        "process_progress": F.process_progress_table(bundle.progress, run_id=rid, workspace_id=wsid),
    }


def _dump_bundles(p: Path) -> list[RunBundle]:
    """The runs in one path given to :func:`load_dump` (a directory of runs must hold some)."""
    if p.is_dir() and not _is_unpacked_dump(p):
        found = list(iter_run_bundles(p))
        if not found:
            raise DataFormatError(f"no run bundles (*.json) or tw runs dump archives in {p}")
        return found
    return read_run_bundles(p)


def load_dump(path: str | Path | Iterable[str | Path]) -> RunData:
    """Read runs offline from ``tw runs dump`` archives and run bundle JSON files.

    Parameters
    ----------
    path : path or iterable of paths
        A ``.tar.gz``/``.tar.xz`` dump (an archive of several dump folders gives one run per
        folder), a bundle ``.json`` (nf-aggregate format), an unpacked dump directory, or a
        directory of dumps/bundles (every one in it is read, in name order).

    Returns
    -------
    RunData
        ``runs``, ``tasks``, ``process_metrics``, ``process_progress`` DataFrames typed as
        the ``fetch_*`` results. Dumps carry no per-process progress (tw does not save it),
        so their ``process_progress`` rows are absent. A run found more than once (a bundle
        next to its dump) is read once, from the first source in path order, with a warning
        naming both.

    Raises
    ------
    DataFormatError
        A path is missing, of an unknown format, holds invalid or malformed JSON (the
        message names the file and what is wrong), or is a directory with no runs in it.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    bundles: dict[str, RunBundle] = {}
    for p in map(Path, paths):
        for b in _dump_bundles(p):
            first = bundles.setdefault(b.run_id, b)
            if first is not b:
                warnings.warn(f"run {b.run_id} is in both {first.source} and {b.source}; "
                              f"reading it once, from {first.source}", UserWarning, stacklevel=2)
    parts = [bundle_tables(b) for b in bundles.values()]
    return RunData(**{name: F.to_pandas(F.concat_tables(F.TABLES[name], [p[name] for p in parts]))
                      for name in ("runs", "tasks", "process_metrics", "process_progress")})
