"""Paging ``GET /workflow/{id}/tasks`` to the end, and what a run's counts say about its rows.

When is a task listing finished? The docs give ``max``/``offset`` paging with a server cap
of 100 (API-NOTES §1), and tw and nf-aggregate stop at the first page shorter than 100.
That is only right if the server always fills a page up to ``max``. A server that caps
pages lower (a proxy, a different deployment, a future version) would have every run cut
off after its first page. So a short page ends the listing only when nothing says more
rows exist:

* the response's ``total`` (the full match count, API-NOTES §1: fixture ``runs_tasks.json``
  has ``total: 11`` next to 10 tasks), or
* the run's own counts (:func:`task_rows_hint`: ``workflow.stats`` or ``/progress``).

If either says more rows exist, paging goes on at the server's real page size, and the
offset moves on by the rows actually received. It stops when the target is reached, when
a page comes back empty (the server has nothing more, whatever its counts say), or at
:data:`MAX_PAGES`. A page of the full asked size leads to another request, so a total that
is too small loses nothing, with one exception that saves a request per run whose row count
is a multiple of 100: a **succeeded** run's ``workflow.stats`` (``succeedCount +
failedCount + cachedCount``, set by Nextflow when the run ends) is its exact row count
(:func:`task_rows_final`), so the listing ends once that many distinct rows arrived, full
page or not, unless the response's ``total`` says more. **Neither total nor counts**: a
short page is the end, which is what tw and nf-aggregate do (the only documented behaviour).

This module has no pandas and does no I/O of its own: the client passes a coroutine that
fetches one page.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Union

from .._exceptions import InvalidResponseError
from ._config import PAGE_SIZE

__all__ = ["MAX_PAGES", "collect_pages", "no_progress", "task_rows_at_least", "task_rows_final", "task_rows_hint"]

#: Safety net against endless paging: 100,000 pages is 10 million rows of one listing.
MAX_PAGES = 100_000
#: Task pages fetched concurrently ahead (only when a total or the counts say how many remain).
PREFETCH_PAGES = 8

Page = tuple[list[Any], Union[int, None]]
Expected = Union[int, None, Callable[[], Awaitable[Union[int, None]]]]


def _count(mapping: Any, name: str) -> int | None:
    value = mapping.get(name) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _sum(mapping: Any, names: tuple[str, ...]) -> int | None:
    values = [_count(mapping, n) for n in names]
    return sum(values) if values and all(v is not None for v in values) else None  # type: ignore[misc]


# Each of these is a set of task rows (one row per attempt): COMPLETED, FAILED (every failed
# attempt, retried or not) and CACHED. Measured on the bundled real runs: rows ==
# succeed + failed + cached in all five, e.g. 3dLeF2W4ju5og4: 260 + 19 + 0 = 279 rows, with
# 19 FAILED attempts that were retried. `ignored` and `retries` are left out: they count
# failed attempts again (retries == failed == 19 in that run), so adding them would double count.
_STATS_ROWS = ("succeedCount", "failedCount", "cachedCount")
_PROGRESS_ROWS = ("succeeded", "failed", "cached")
# Rows of tasks still in flight (active runs): RUNNING, SUBMITTED and ABORTED tasks have rows.
# `pending` does not: pending tasks have not been submitted, so the Platform has no record yet.
_PROGRESS_ACTIVE = ("running", "submitted", "aborted")


def _workflow_progress(progress: Any) -> Any:
    if isinstance(progress, Mapping) and isinstance(progress.get("workflowProgress"), Mapping):
        return progress["workflowProgress"]
    return progress


def _sources(workflow: Any, progress: Any) -> list[int]:
    out = []
    stats = workflow.get("stats") if isinstance(workflow, Mapping) else None
    s = _sum(stats, _STATS_ROWS)
    if s is not None:
        out.append(s)
    p = _sum(_workflow_progress(progress), _PROGRESS_ROWS)
    if p is not None:
        out.append(p)
    return out


def task_rows_at_least(workflow: Mapping[str, Any] | None, progress: Mapping[str, Any] | None) -> int | None:
    """The fewest task rows a finished run can have, by every count the API gives.

    Each source counts finished attempts (one task row each): ``workflow.stats``
    ``succeedCount + failedCount + cachedCount`` (set by Nextflow at completion, ``null``
    while active) and ``/progress`` ``workflowProgress`` ``succeeded + failed + cached``.
    When both are present the **smaller** is returned, so a run is only ever reported short
    when every source agrees it is (a count that overstates would otherwise have the run
    fetched again on every sync).

    Parameters
    ----------
    workflow : mapping or None
        The ``workflow`` object of a run (``GET /workflow`` element or ``GET /workflow/{id}``).
    progress : mapping or None
        ``GetProgressResponse.progress`` (or its ``workflowProgress``).

    Returns
    -------
    int or None
        A row count [rows]; ``None`` when no source has all three counters.
    """
    found = _sources(workflow, progress)
    return min(found) if found else None


def task_rows_hint(workflow: Mapping[str, Any] | None, progress: Mapping[str, Any] | None) -> int | None:
    """How many task rows a run's counts suggest, for deciding whether to keep paging.

    The larger of the sources of :func:`task_rows_at_least`, plus the ``running``,
    ``submitted`` and ``aborted`` tasks of ``/progress`` (rows exist for those too). A hint
    that is too large costs one more request (an empty page ends paging); one that is too
    small is caught by full pages, which always lead to another request.

    Returns
    -------
    int or None
        A row count [rows]; ``None`` when there are no counts.
    """
    found = _sources(workflow, progress)
    if not found:
        return None
    return max(found) + (_sum(_workflow_progress(progress), _PROGRESS_ACTIVE) or 0)


def task_rows_final(workflow: Mapping[str, Any] | None) -> int | None:
    """The exact task rows of a succeeded run, from its own record (no request).

    ``workflow.stats`` ``succeedCount + failedCount + cachedCount`` when ``workflow.status``
    is ``SUCCEEDED``: every task of such a run finished as one of those (measured equal to
    the rows on all five bundled real runs, e.g. 3dLeF2W4ju5og4: 260 + 19 + 0 = 279).
    ``None`` for any other status: a failed or cancelled run can also have ``ABORTED`` rows,
    which no ``WfStats`` count covers (SPEC ``WfStats``), and an active run's stats are null.

    Returns
    -------
    int or None
        A row count [rows].
    """
    if not isinstance(workflow, Mapping) or workflow.get("status") != "SUCCEEDED":
        return None
    return _sum(workflow.get("stats"), _STATS_ROWS)


async def _resolve(expected: Expected) -> int | None:
    if expected is None or isinstance(expected, int):
        return expected
    value = expected()
    if inspect.isawaitable(value):
        value = await value
    return value if isinstance(value, int) else None


def no_progress(path: str, offset: int) -> InvalidResponseError:
    """A page that brought nothing new: the server ignores ``offset`` (runs and tasks)."""
    return InvalidResponseError(
        f"GET {path} returned a page at offset {offset} with nothing new: the server ignores "
        "`offset`, so paging would never end. Check TOWER_API_ENDPOINT (a proxy or a non-API URL?).",
        method="GET", path=path)


def _too_many_pages(path: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"GET {path} still returned rows after {MAX_PAGES} pages; stopping. Check TOWER_API_ENDPOINT.",
        method="GET", path=path)


async def collect_pages(fetch_page: Callable[[int], Awaitable[Page]], *, path: str,
                        key: Callable[[Any], Any], expected: Expected = None,
                        complete_at: int | None = None) -> list[Any]:
    """Every row of an offset-paged listing, each once (see the module docstring for when it ends).

    Parameters
    ----------
    fetch_page : callable
        ``await fetch_page(offset)`` returns ``(rows, total)`` for one request with
        ``max=PAGE_SIZE`` (``total`` ``None`` when the response has none).
    path : str
        For error messages.
    key : callable
        Row identity for de-duplication (``None``: always kept).
    expected : int, callable or None
        Rows the caller's own counts suggest (:func:`task_rows_hint`); a callable (sync or
        async) is called only when a short page leaves the question open, so a count that
        costs a request is paid for only by listings that need it.
    complete_at : int or None
        The exact row count the caller knows (:func:`task_rows_final`): once that many
        distinct rows arrived the listing ends, even on a full page, unless ``total`` says
        more.

    Returns
    -------
    list
        Rows in the order served.

    Raises
    ------
    InvalidResponseError
        A page at a new offset held nothing new (the server ignores ``offset``), or more
        than :data:`MAX_PAGES` pages.
    """
    out: list[Any] = []
    keys: set[Any] = set()

    def add(items: list[Any]) -> int:
        new = 0
        for rec in items:
            k = key(rec)
            if k is None or k not in keys:
                keys.add(k)
                out.append(rec)
                new += 1
        return new

    items, total = await fetch_page(0)
    pages, offset, size = 1, len(items), len(items)
    add(items)
    asked: int | None = None  # the caller's counts, asked for once, when first needed
    asked_done = careful = False
    while items:
        if complete_at is not None and len(out) >= complete_at and (total is None or offset >= total):
            break  # the run's own count says every row is here: no page to confirm it
        target = total if total is not None else complete_at
        if len(items) < PAGE_SIZE and (target is None or offset >= target):
            if not asked_done:
                asked, asked_done = await _resolve(expected), True
            known = [t for t in (total, asked) if t is not None]
            target = max(known) if known else None
            if target is None or offset >= target:
                break  # a short page and nothing says more rows exist: the end
        elif target is not None and asked is not None:
            target = max(target, asked)
        remaining = (target - offset) if target is not None and not careful else 0
        window = max(1, min(PREFETCH_PAGES, -(-remaining // max(size, 1))))
        offsets = [offset + i * size for i in range(window)]
        results = await asyncio.gather(*(fetch_page(o) for o in offsets))
        careful = False
        for o, (got, t) in zip(offsets, results):
            if o > offset:
                # An earlier page of this window was short: this one would leave a gap. The
                # counts and the pages disagree, so go on one page at a time.
                careful = True
                break
            pages += 1
            if pages > MAX_PAGES:
                raise _too_many_pages(path)
            if add(got) == 0 and got:
                raise no_progress(path, o)
            items, offset = got, max(offset, o + len(got))
            total = t if t is not None else total
            size = max(size, len(got))
            if not got:
                break
    return out
