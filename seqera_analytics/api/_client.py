"""The async Seqera Platform API client: pacing, retries, paging, workspace resolution.

Every request goes through one loop (:meth:`AsyncSeqeraClient._get`): take a concurrency
slot, wait for the token's next pacing slot, send, map the outcome to a typed error, and
retry the transient ones (429, 5xx, dropped connections, timeouts, truncated bodies) with
jittered exponential backoff that honours ``Retry-After``. Bodies are decoded with
``msgspec`` (optionally straight into a record struct, see ``record_type``).

This module speaks HTTP and JSON only: it returns plain ``dict``/``list`` records (or the
caller's record structs) and never imports pandas.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from urllib.parse import quote
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import tenacity

from .. import __version__
from .._exceptions import (
    APIError,
    ConfigurationError,
    InvalidResponseError,
    RateLimitError,
    WorkspaceNotFoundError,
)
from ._config import PAGE_SIZE, ClientConfig
from ._errors import RETRYABLE, from_status, from_transport, invalid_body, not_the_api, wrong_shape
from ._paging import MAX_PAGES, Expected, collect_pages, no_progress
from ._ratelimit import Pacer, jitter, pacer_for

__all__ = ["AsyncSeqeraClient", "RequestStats", "Workspace"]

log = logging.getLogger("seqera_analytics.api")

#: How many times a runs listing may step back after noticing the list moved up under it.
_MAX_REWINDS = 20
_RUN_ATTRIBUTES = ("labels",)


@dataclass
class RequestStats:
    """What a client has sent so far (for sync summaries and benchmarks).

    Attributes
    ----------
    requests : int
        HTTP requests sent, retries included.
    retries : int
        Attempts beyond the first.
    by_status : Counter
        Responses per HTTP status; ``0`` counts requests that got no response.
    started, last : float
        ``time.monotonic()`` of the first and the latest request [s].
    """

    requests: int = 0
    retries: int = 0
    by_status: Counter = field(default_factory=Counter)
    started: float | None = None
    last: float | None = None

    @property
    def rate_limited(self) -> int:
        """429 responses received."""
        return self.by_status.get(429, 0)

    def copy(self) -> RequestStats:
        return RequestStats(self.requests, self.retries, Counter(self.by_status), self.started, self.last)


@dataclass(frozen=True)
class Workspace:
    """A workspace the token can see (a row of ``GET /user/{userId}/workspaces``)."""

    workspace_id: int
    org_id: int | None
    org_name: str
    workspace_name: str

    @property
    def ref(self) -> str:
        return f"{self.org_name}/{self.workspace_name}"


def _run_id(element: Mapping[str, Any]) -> str:
    return str((element.get("workflow") or {}).get("id"))


def _task_key(record: Any) -> Any:
    return record.get("taskId") if isinstance(record, Mapping) else getattr(record, "taskId", None)


_PAGE_TYPES: dict[Any, Any] = {}


def _tasks_page_type(record_type: Any) -> Any:
    """``{"tasks": [{"task": <record_type>}], "total": int}`` as a msgspec type."""
    if record_type not in _PAGE_TYPES:
        item = msgspec.defstruct("TaskItem", [("task", record_type)], gc=False)
        _PAGE_TYPES[record_type] = msgspec.defstruct(
            "TasksPage", [("tasks", list[item]), ("total", Any, None)])  # type: ignore[valid-type]
    return _PAGE_TYPES[record_type]


# Response envelopes: decoding into these checks the shape at C speed; a complete answer of
# another shape becomes a non-retryable InvalidResponseError naming TOWER_API_ENDPOINT.
_Obj = dict[str, Any]
_ServiceInfoBody = msgspec.defstruct("ServiceInfoBody", [("serviceInfo", _Obj | None, None)])
_UserInfoBody = msgspec.defstruct("UserInfoBody", [("user", _Obj)])
_WorkspacesBody = msgspec.defstruct("WorkspacesBody", [("orgsAndWorkspaces", list[_Obj] | None, None)])
_OrgsBody = msgspec.defstruct("OrgsBody", [("organizations", list[_Obj] | None, None)])
_OrgWorkspacesBody = msgspec.defstruct("OrgWorkspacesBody", [("workspaces", list[_Obj] | None, None)])
_RunsBody = msgspec.defstruct("RunsBody", [("workflows", list[_Obj])])
_ProgressBody = msgspec.defstruct("ProgressBody", [("progress", _Obj | None, None)])
_MetricsBody = msgspec.defstruct("MetricsBody", [("metrics", list[Any] | None, None)])
_TaskBody = msgspec.defstruct("TaskBody", [("task", _Obj | None, None)])


def _check_run_element(el: Mapping[str, Any], path: str) -> None:
    wf = el.get("workflow")
    if not isinstance(wf, dict) or not isinstance(wf.get("id"), str) or not wf["id"]:
        raise wrong_shape("a run without a workflow id", method="GET", path=path)


class AsyncSeqeraClient:
    """Async client for the Seqera Platform API.

    Parameters
    ----------
    config : ClientConfig, optional
        Settings; by default read from the environment (``TOWER_ACCESS_TOKEN``,
        ``TOWER_API_ENDPOINT``, ``TOWER_WORKSPACE_ID``) and ``**kwargs``.
    transport : httpx.AsyncBaseTransport, optional
        For tests: e.g. ``httpx.MockTransport``.
    **kwargs
        Passed to :meth:`ClientConfig.from_env` (``token``, ``endpoint``, ``workspace``,
        ``requests_per_second``, ``max_concurrency``, ``verify``, ``proxy``...).

    Notes
    -----
    Use one client per event loop (``async with AsyncSeqeraClient() as client``). Requests
    of every client using the same token share one pacer (see ``_ratelimit``).
    """

    def __init__(self, config: ClientConfig | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> None:
        self.config = config if config is not None else ClientConfig.from_env(**kwargs)
        if config is not None and kwargs:
            self.config = config.with_options(**kwargs)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        fp = self.config.token.fingerprint() if self.config.token else "anonymous"
        self._pacer: Pacer = pacer_for(fp, self.config.endpoint, self.config.requests_per_second)
        self._workspace_rows: list[dict[str, Any]] | None = None
        self._user: dict[str, Any] | None = None
        self.stats = RequestStats()

    def __repr__(self) -> str:
        return f"AsyncSeqeraClient(endpoint={self.config.endpoint!r}, workspace={self.config.workspace!r})"

    # ------------------------------------------------------------------ lifecycle
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            if self.config.token is None:
                raise ConfigurationError(
                    "No access token: set TOWER_ACCESS_TOKEN (create one at "
                    "https://cloud.seqera.io/tokens; in Python, connect(token=...) works too). "
                    "To try the toolkit without one, run `seqera-analytics demo`.")
            limits = httpx.Limits(max_connections=self.config.max_concurrency,
                                  max_keepalive_connections=self.config.max_concurrency)
            self._http = httpx.AsyncClient(
                base_url=self.config.endpoint,
                headers={"Accept": "application/json",
                         "User-Agent": f"seqera-analytics/{__version__}"},
                auth=_BearerAuth(self.config.token.get_secret_value()),
                timeout=self.config.timeout_s,
                verify=self.config.verify,
                proxy=self.config.proxy,
                limits=limits,
                transport=self._transport,
                follow_redirects=False,
            )
            self._sem = asyncio.Semaphore(self.config.max_concurrency)
        return self._http

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncSeqeraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ core
    async def _attempt(self, path: str, params: Mapping[str, Any] | None, type_: Any) -> Any:
        http = self._client()
        assert self._sem is not None
        async with self._sem:
            await self._pacer.acquire()
            now = time.monotonic()
            self.stats.requests += 1
            self.stats.started = self.stats.started or now
            self.stats.last = now
            try:
                response = await http.get(path, params=params)
            except httpx.TransportError as exc:
                self.stats.by_status[0] += 1
                raise from_transport(exc, method="GET", path=path, endpoint=self.config.endpoint) from exc
        status = response.status_code
        self.stats.by_status[status] += 1
        log.debug("GET %s %s -> %d (%d bytes, %.0f ms)", path, _query(params), status,
                  len(response.content), (time.monotonic() - now) * 1000)
        if not 200 <= status < 300:
            if 300 <= status < 400:
                raise not_the_api(response, method="GET", path=path, endpoint=self.config.endpoint)
            raise from_status(response, method="GET", path=path, endpoint=self.config.endpoint)
        self._pacer.reward()
        if "html" in response.headers.get("content-type", "").lower():
            raise not_the_api(response, method="GET", path=path, endpoint=self.config.endpoint)
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.ValidationError as exc:  # complete JSON of another shape: no retry
            raise wrong_shape(str(exc), method="GET", path=path) from exc
        except msgspec.DecodeError as exc:  # malformed, e.g. truncated: retry
            raise invalid_body(exc, method="GET", path=path, size=len(response.content)) from exc

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.config.retry.max_retries + 1:
            return True
        exc = state.outcome.exception() if state.outcome else None
        if getattr(exc, "refused", False) and state.attempt_number >= 3:
            return True  # nothing listens there (or DNS fails): a wrong endpoint, not a blip
        retry_after = getattr(exc, "retry_after", None)
        # A server asking for a long pause: fail now with its message rather than sleep silently.
        return retry_after is not None and retry_after > self.config.retry.max_retry_after_s

    def _wait(self, state: tenacity.RetryCallState) -> float:
        policy = self.config.retry
        exc = state.outcome.exception() if state.outcome else None
        n = state.attempt_number
        backoff = min(policy.initial_delay_s * 2 ** (n - 1), policy.max_delay_s) * jitter()
        if isinstance(exc, RateLimitError):
            # Retry-After is whole seconds, truncated (so often 0): the server's permit cycle
            # ends within retry_after + 1 s. (No side effects here: tenacity computes the wait
            # even when it then stops; _before_sleep acts on it.)
            ra = min(exc.retry_after or 0.0, policy.max_retry_after_s)
            return max(ra + policy.rate_limit_cycle_s * random.uniform(0.5, 1.0), backoff if n > 1 else 0.0)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and 0 < retry_after <= policy.max_retry_after_s:
            return retry_after
        return backoff

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, RateLimitError):
            # The token's budget is spent for this cycle: hold every request of the token, and
            # slow down (a limit lower than ours, e.g. Enterprise, or a shared token).
            self._pacer.hold(wait)
            self._pacer.penalize()
        # Persistent trouble is worth a warning (the CLI shows warnings); a single retry is not.
        level = logging.WARNING if state.attempt_number >= 3 else logging.INFO
        log.log(level, "retrying %s after %s (attempt %d, waiting %.2fs)",
                getattr(exc, "path", "?"), type(exc).__name__, state.attempt_number, wait)

    async def _get(self, path: str, params: Mapping[str, Any] | None = None, *, type_: Any = Any) -> Any:
        """GET ``path`` and decode its JSON body into ``type_``, retrying transient failures.

        Raises
        ------
        APIStatusError subclasses, APIConnectionError, InvalidResponseError
            After ``config.retry.max_retries`` retries for the transient ones.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        retrying = tenacity.AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=tenacity.retry_if_exception(_retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(path, params, type_)
        except RETRYABLE as exc:
            n = retrying.statistics.get("attempt_number", 1)
            if n > 1 and isinstance(exc, APIError):
                exc.args = (f"{exc.args[0]} (gave up after {n} attempts)",)
                exc.message = exc.args[0]
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ account
    async def service_info(self) -> dict[str, Any]:
        """``GET /service-info`` ``.serviceInfo`` (version, apiVersion, ...)."""
        return (await self._get("/service-info", type_=_ServiceInfoBody)).serviceInfo or {}

    async def user_info(self) -> dict[str, Any]:
        """``GET /user-info`` ``.user`` (``id``, ``userName``, ...).

        Raises
        ------
        AuthenticationError
            The token is wrong or expired (401/403).
        InvalidResponseError
            The answer has no user id (not the Platform API).
        """
        if self._user is None:
            user = (await self._get("/user-info", type_=_UserInfoBody)).user
            if not isinstance(user.get("id"), int):
                raise wrong_shape("no user id", method="GET", path="/user-info")
            self._user = user
        return self._user

    async def list_user_workspaces(self, user_id: int | None = None, *, refresh: bool = False) -> list[dict[str, Any]]:
        """``GET /user/{userId}/workspaces`` ``.orgsAndWorkspaces`` (org-only rows included).

        Without ``user_id``: the token owner's, cached per client (``refresh=True`` asks
        again: workspaces are created and access granted while a client lives).

        Raises
        ------
        InvalidResponseError
            A row has a workspace id that is not a number.
        """
        if user_id is None:
            if self._workspace_rows is None or refresh:
                user_id = (await self.user_info())["id"]
                self._workspace_rows = await self._workspace_rows_of(user_id)
            return list(self._workspace_rows)
        return await self._workspace_rows_of(user_id)

    async def _workspace_rows_of(self, user_id: int) -> list[dict[str, Any]]:
        path = f"/user/{_segment(user_id)}/workspaces"
        rows = (await self._get(path, type_=_WorkspacesBody)).orgsAndWorkspaces or []
        for r in rows:
            ws = r.get("workspaceId")
            if ws is not None and not isinstance(ws, int):
                raise wrong_shape(f"workspaceId {ws!r} is not a number", method="GET", path=path)
        return rows

    async def list_organizations(self) -> list[dict[str, Any]]:
        """``GET /orgs`` ``.organizations``."""
        return (await self._get("/orgs", type_=_OrgsBody)).organizations or []

    async def list_org_workspaces(self, org_id: int) -> list[dict[str, Any]]:
        """``GET /orgs/{orgId}/workspaces`` ``.workspaces``."""
        return (await self._get(f"/orgs/{int(org_id)}/workspaces", type_=_OrgWorkspacesBody)).workspaces or []

    async def workspaces(self) -> list[Workspace]:
        """The workspaces this token can see (cached per client)."""
        return [
            Workspace(int(r["workspaceId"]), r.get("orgId"), str(r.get("orgName")), str(r.get("workspaceName")))
            for r in await self.list_user_workspaces() if r.get("workspaceId") is not None
        ]

    async def resolve_workspace(self, ref: str | int | None = None) -> int | None:
        """Workspace id of ``ref``.

        ``ref`` is a numeric id or ``"org/workspace"`` (matched like tw: exact case first,
        then case-insensitively, through ``/user-info`` and ``/user/{userId}/workspaces``).
        ``None`` means the configured workspace (``TOWER_WORKSPACE_ID``), and when none is
        configured, the personal workspace (returned as ``None``: no ``workspaceId``).

        Raises
        ------
        WorkspaceNotFoundError
            No visible workspace has that name; the message lists those that exist.
        ConfigurationError
            ``ref`` is neither a number nor ``org/workspace``.
        """
        if ref is None:
            ref = self.config.workspace
        if ref is None:
            return None
        if isinstance(ref, int) and not isinstance(ref, bool):
            return ref
        text = str(ref).strip()
        if text.isdigit():
            return int(text)
        parts = [p.strip() for p in text.split("/")]
        if len(parts) != 2 or not all(parts):
            raise ConfigurationError(
                f"A workspace is a numeric id or 'org/workspace', got {text!r} (--workspace / TOWER_WORKSPACE_ID).")
        org, name = parts
        spaces = await self.workspaces()
        exact = [w for w in spaces if w.org_name == org and w.workspace_name == name]
        if not exact:
            exact = [w for w in spaces if w.org_name.lower() == org.lower()
                     and w.workspace_name.lower() == name.lower()]
        if len(exact) >= 1:
            return exact[0].workspace_id
        available = sorted(w.ref for w in spaces)
        listing = ", ".join(available) if available else "none (only the personal workspace)"
        raise WorkspaceNotFoundError(
            f"No workspace {text!r} is visible to this token. Workspaces it can see: {listing}.",
            available=available)

    # ------------------------------------------------------------------ runs
    async def _runs_page(self, workspace_id: int | None, offset: int, search: str | None,
                         attributes: Sequence[str]) -> list[dict[str, Any]]:
        params = {"workspaceId": workspace_id, "max": PAGE_SIZE, "offset": offset, "search": search,
                  "attributes": ",".join(attributes) if attributes else None}
        elements = (await self._get("/workflow", params, type_=_RunsBody)).workflows
        for el in elements:
            _check_run_element(el, "/workflow")
        return elements

    async def list_runs(self, workspace_id: int | None, *, search: str | None = None,
                        attributes: Sequence[str] = _RUN_ATTRIBUTES,
                        stop: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Every run of a workspace (``GET /workflow``), newest first, each exactly once.

        Pages with ``max=100``; consecutive pages overlap by one run so that a listing that
        moved under us is noticed: when a page does not start with the run that ended the
        previous one and that run is new to us, runs were removed above and the listing steps
        back a page. De-duplicates by run id (runs added on top push others down into the next
        page). Stops on a short page, never trusting totals. If more than one page was read,
        re-reads the top until it reaches known runs, to pick up runs added meanwhile.

        Parameters
        ----------
        workspace_id : int or None
            ``None`` lists the personal workspace.
        search : str, optional
            The API's search expression (``status:failed after:2025-01-01T00:00:00.000Z``...).
        attributes : sequence of str
            ``labels`` etc.; attributes not asked for come back null.
        stop : callable, optional
            Called on each run in listing order; paging ends at the first run for which it
            returns true (that run and older ones are left out). Incremental sync uses it to
            stop at the first cached, final, unchanged run.

        Returns
        -------
        list of dict
            ``ListWorkflowsResponse.ListWorkflowsElement`` records (``workflow``,
            ``progress`` when the server includes it, ``labels``, ``workspaceId``, ...).
        """
        seen: dict[str, dict[str, Any]] = {}
        offset, pages, rewinds, prev_last = 0, 0, 0, None
        while True:
            items = await self._runs_page(workspace_id, offset, search, attributes)
            pages += 1
            self._check_page_budget(pages, "/workflow")
            if prev_last is not None and items:
                first = _run_id(items[0])
                if first != prev_last and first not in seen and rewinds < _MAX_REWINDS:
                    rewinds += 1
                    log.info("run listing moved up under us at offset %d; stepping back", offset)
                    offset, prev_last = max(0, offset - (PAGE_SIZE - 1)), None
                    continue
            stopped, new = False, 0
            for el in items:
                rid = _run_id(el)
                if rid in seen:
                    continue
                if stop is not None and stop(el):
                    stopped = True
                    break
                seen[rid] = el
                new += 1
            if stopped or len(items) < PAGE_SIZE:
                break
            if new == 0:
                # A full page with nothing new: the server ignores offset (a proxy, a fake). Paging
                # on would never end.
                raise no_progress("/workflow", offset)
            prev_last = _run_id(items[-1])
            offset += len(items) - 1
        if pages > 1:
            newer = await self._recheck_top(workspace_id, search, attributes, seen, stop)
            if newer:
                seen = {**newer, **seen}
        return list(seen.values())

    async def _recheck_top(self, workspace_id: int | None, search: str | None, attributes: Sequence[str],
                           seen: Mapping[str, Any], stop: Callable[[dict[str, Any]], bool] | None
                           ) -> dict[str, dict[str, Any]]:
        newer: dict[str, dict[str, Any]] = {}
        offset, pages = 0, 0
        while True:
            items = await self._runs_page(workspace_id, offset, search, attributes)
            pages += 1
            self._check_page_budget(pages, "/workflow")
            reached_known, new = False, 0
            for el in items:
                rid = _run_id(el)
                if rid in seen or (stop is not None and stop(el)):
                    reached_known = True
                    break
                if rid not in newer:
                    newer[rid] = el
                    new += 1
            if reached_known or len(items) < PAGE_SIZE:
                return newer
            if new == 0:
                raise no_progress("/workflow", offset)
            offset += len(items) - 1

    def _check_page_budget(self, pages: int, path: str) -> None:
        if pages > MAX_PAGES:
            raise InvalidResponseError(
                f"GET {path} still returned full pages after {MAX_PAGES} pages "
                f"({MAX_PAGES * PAGE_SIZE:,} rows); stopping. Check TOWER_API_ENDPOINT.",
                method="GET", path=path)

    async def describe_run(self, run_id: str, workspace_id: int | None,
                           attributes: Sequence[str] = _RUN_ATTRIBUTES) -> dict[str, Any]:
        """``GET /workflow/{id}``: the ``DescribeWorkflowResponse`` (``workflow``, ``labels``,
        ``workspaceId``...), the same shape as a list element."""
        path = f"/workflow/{_segment(run_id)}"
        body = await self._get(path, {"workspaceId": workspace_id,
                                      "attributes": ",".join(attributes) if attributes else None},
                               type_=dict[str, Any])
        _check_run_element(body, path)
        return body

    async def get_progress(self, run_id: str, workspace_id: int | None) -> dict[str, Any]:
        """``GET /workflow/{id}/progress`` ``.progress`` (``workflowProgress``,
        ``processesProgress``, ``totalProcesses``)."""
        body = await self._get(f"/workflow/{_segment(run_id)}/progress", {"workspaceId": workspace_id},
                               type_=_ProgressBody)
        return body.progress or {}

    async def get_metrics(self, run_id: str, workspace_id: int | None) -> list[dict[str, Any]]:
        """``GET /workflow/{id}/metrics`` ``.metrics`` (per-process ``ResourceData``)."""
        body = await self._get(f"/workflow/{_segment(run_id)}/metrics", {"workspaceId": workspace_id},
                               type_=_MetricsBody)
        return [m for m in body.metrics or [] if isinstance(m, dict)]

    async def get_task(self, run_id: str, task_id: int, workspace_id: int | None) -> dict[str, Any]:
        """``GET /workflow/{id}/task/{taskId}`` ``.task``."""
        body = await self._get(f"/workflow/{_segment(run_id)}/task/{int(task_id)}",
                               {"workspaceId": workspace_id}, type_=_TaskBody)
        return body.task or {}

    async def _tasks_page(self, run_id: str, workspace_id: int | None, offset: int, record_type: Any,
                          search: str | None) -> tuple[list[Any], int | None]:
        page = await self._get(f"/workflow/{_segment(run_id)}/tasks", {
            "workspaceId": workspace_id, "max": PAGE_SIZE, "offset": offset, "search": search,
        }, type_=_tasks_page_type(record_type))
        total = page.total if isinstance(page.total, int) else None
        return [item.task for item in page.tasks], total

    async def list_tasks(self, run_id: str, workspace_id: int | None, *, record_type: Any = dict,
                         search: str | None = None, expected: Expected = None,
                         complete_at: int | None = None) -> list[Any]:
        """Every task row of a run (``GET /workflow/{id}/tasks``), unwrapped, each once.

        One row per attempt: a retried task has a row per attempt (distinct ``taskId``).
        Pages with ``max=100``. A page shorter than asked ends the listing only when neither
        the response's ``total`` nor ``expected`` says more rows exist; otherwise paging
        goes on at the server's real page size (see :mod:`seqera_analytics.api._paging`).
        De-duplicated by ``taskId``.

        Parameters
        ----------
        record_type : type
            ``dict`` (default) or a ``msgspec.Struct`` type to decode each task into (e.g.
            :data:`seqera_analytics.frames.TaskRecord`, much faster for large runs).
        search : str, optional
            The API's task search (by name).
        expected : int, callable or None
            Task rows the run's own counts suggest [rows] (``task_rows_hint`` of its
            ``workflow.stats`` / ``/progress``); a callable, possibly async, is called only
            when a short page leaves it open. Ignored with ``search`` (counts cover all tasks).
        complete_at : int or None
            The run's exact row count (``task_rows_final`` of a succeeded run's
            ``workflow.stats``): paging ends once that many rows arrived, saving the page that
            would only confirm the end when the count is a multiple of 100. Ignored with
            ``search``.

        Returns
        -------
        list
            Tasks in the order served (ascending ``taskId`` by default).

        Raises
        ------
        InvalidResponseError
            The server ignores ``offset`` (a page with nothing new), or endless pages.
        APIStatusError subclasses, APIConnectionError
            As :meth:`_get`, after retries.
        """
        path = f"/workflow/{_segment(run_id)}/tasks"

        async def page(offset: int) -> tuple[list[Any], int | None]:
            return await self._tasks_page(run_id, workspace_id, offset, record_type, search)

        return await collect_pages(page, path=path, key=_task_key, expected=None if search else expected,
                                   complete_at=None if search else complete_at)


def _segment(value: Any) -> str:
    """A value as one URL path segment (run ids come from servers and callers)."""
    return quote(str(value), safe="")


def _query(params: Mapping[str, Any] | None) -> str:
    return "&".join(f"{k}={v}" for k, v in (params or {}).items())


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE) and getattr(exc, "retryable", True)


class _BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer`` per request; the token lives only in this object,
    whose repr does not show it."""

    def __init__(self, token: str) -> None:
        self.__token = token

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = f"Bearer {self.__token}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth('***')"
