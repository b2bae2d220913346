"""Fetching one run: its task pages (and nothing else, for a finished run), built into tables.

A finished run's load (``runs`` load columns, ``process_progress``) is derived from its tasks
(:func:`seqera_analytics.frames.progress_from_tasks`), and a succeeded run's
``workflow.stats`` ends its task paging on a full page, so its task pages are its only
requests. ``/progress`` is fetched for runs still active (their ``pending`` tasks have no
rows yet) and, with ``progress=True``, for every run (the Platform's own peaks and
``net_cost``), unless the run's body already carried it; ``/metrics`` only when asked. A
finished run's load is derived even when its body carried a progress (a refresh through
``GET /workflow/{id}`` does), so the same run is stored the same whichever request brought it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .. import frames as F
from ..api import AsyncSeqeraClient, task_rows_at_least, task_rows_final, task_rows_hint

__all__ = ["Fetched", "fetch_run", "run_id"]

log = logging.getLogger("seqera_analytics.sync")


def run_id(el: dict[str, Any]) -> str:
    """The run id of a ``GET /workflow`` list element (or a ``GET /workflow/{id}`` body)."""
    return str(el["workflow"]["id"])


@dataclass
class Fetched:
    """One run fetched and built, waiting for a commit.

    ``tables`` are its RUNS row, TASKS rows, PROCESS_PROGRESS rows and PROCESS_METRICS rows
    (``None`` unless metrics were asked); ``short``: fewer task rows than its counts promise.
    """

    run_id: str
    short: bool
    tables: tuple[pa.Table, pa.Table, pa.Table, pa.Table | None]

    @property
    def terminal(self) -> bool:
        return self.tables[0]["status"][0].as_py() in F.TERMINAL_RUN_STATUSES


async def fetch_run(client: AsyncSeqeraClient, el: dict[str, Any], ws_id: int | None, *,
                    metrics: bool = False, progress: bool = False) -> Fetched:
    """Fetch one run's tasks (``GET /workflow/{id}/tasks``), its ``/progress`` when needed
    and its ``/metrics`` if asked, and build its tables.

    Raises
    ------
    PermissionDeniedError, NotFoundError
        The run is gone or no longer accessible (403/404).
    APIError
        Any other failure, after the client's retries.
    """
    rid = run_id(el)
    ws = el.get("workspaceId", ws_id)
    wf = el.get("workflow") or {}
    prog = el.get("progress") if isinstance(el.get("progress"), dict) else {}
    terminal = wf.get("status") in F.TERMINAL_RUN_STATUSES
    # The progress a body carries (a listing with it, a GET /workflow/{id} refresh) is used only
    # where /progress would be fetched: a finished run's load is always derived the same way,
    # so its stored values do not depend on which request brought it.
    wanted = progress or not terminal
    served = wanted and isinstance(prog.get("workflowProgress"), dict)
    need_progress = wanted and not served
    prog_job = asyncio.ensure_future(client.get_progress(rid, ws)) if need_progress else None

    async def expected() -> int | None:
        # Asked only when a short task page leaves the end open; the /progress request,
        # when there is one, is already on its way, so the counts cost no request of their own.
        return task_rows_hint(wf, await asyncio.shield(prog_job) if prog_job else prog)

    coros: list[Any] = [client.list_tasks(rid, ws, record_type=F.TaskRecord, expected=expected,
                                          complete_at=task_rows_final(wf))]
    if prog_job is not None:
        coros.append(prog_job)
    if metrics:
        coros.append(client.get_metrics(rid, ws))
    try:
        got = iter(await asyncio.gather(*coros))
    finally:
        if prog_job is not None and not prog_job.done():
            prog_job.cancel()
    tasks = next(got)
    if need_progress:
        prog = next(got)
    mets = next(got) if metrics else None
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
    return Fetched(rid, short, (
        run,
        F.check_tasks_against_runs(task_rows, run),
        F.process_progress_table(prog, run_id=rid, workspace_id=ws),
        F.process_metrics_table(mets, run_id=rid, workspace_id=ws) if mets is not None else None,
    ))
