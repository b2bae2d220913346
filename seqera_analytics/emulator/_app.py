"""The emulator's ASGI application: Starlette routes behind a small gateway.

Every request passes the :class:`Gateway` first, which does what sits in front of the real
API: counts the request, adds latency, injects faults, checks the bearer token (401) and
applies the per-token rate limit (429). The routes then answer with the spec's response
shapes (``tests/spec/seqera-api-latest.yml``) and ``{"message": ...}`` JSON errors.

Endpoints (all ``GET``; all but ``/service-info`` need ``Authorization: Bearer <token>``):

====================================  =====================================================
path                                  response
====================================  =====================================================
/service-info                         ``ServiceInfoResponse``
/user-info                            ``DescribeUserResponse``
/user/{userId}/workspaces             ``ListWorkspacesAndOrgResponse`` (403: another user)
/orgs                                 ``ListOrganizationsResponse`` (``role`` filter)
/orgs/{orgId}/workspaces              ``ListWorkspacesResponse`` (403: not a member)
/orgs/{orgId}/quotas                  ``DescribeOrganizationQuotasResponse`` (``maxRunHistory``)
/workflow                             ``ListWorkflowsResponse`` (workspaceId, max, offset,
                                      search, attributes, includeTotalSize)
/workflow/{workflowId}                ``DescribeWorkflowResponse`` (workspaceId, attributes)
/workflow/{workflowId}/progress       ``GetProgressResponse``
/workflow/{workflowId}/metrics        ``GetWorkflowMetricsResponse``
/workflow/{workflowId}/tasks          ``ListTasksResponse`` (max, offset, sortBy, sortDir,
                                      search); each element is ``{"task": {...}}``
/workflow/{workflowId}/task/{taskId}  ``DescribeTaskResponse`` (taskId = Nextflow taskId)
====================================  =====================================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from ._faults import html_error_body
from ._search import SearchError, parse_search
from ._state import RunEntry, User, Workspace
from ._util import base62, dumps, entity_id, iso, sha

if TYPE_CHECKING:
    from ._emulator import Emulator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_PAGE = 100  # the server cap on max (API-NOTES §1)
DEFAULT_PAGE = 10  # the real default is undocumented; this is the emulator's choice
RATE_LIMIT_MESSAGE = "Maximum request rate exceeded. Wait {secs}secs before issuing a new request"
ATTRIBUTES = ("optimized", "labels", "messages", "minimal", "pipelineInfo")
TASK_SORT_KEYS = [
    "taskId",
    "id",
    "name",
    "process",
    "tag",
    "hash",
    "status",
    "submit",
    "start",
    "complete",
    "duration",
    "realtime",
    "cost",
    "cpus",
    "memory",
    "pcpu",
    "peakRss",
    "attempt",
    "exitStatus",
]
PUBLIC_ENDPOINTS = ("/service-info",)
_USER_KEY = "seqera_emulator.user"
_CREATED = "2024-01-15T09:00:00Z"


class ApiError(Exception):
    """An error answered as ``{"message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers, media_type="application/json")


def _raw_json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


FORBIDDEN = "Forbidden"


# ---------------------------------------------------------------------- parameters
def _int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        # Micronaut's wording for a query parameter that does not convert.
        raise ApiError(
            400,
            f'Failed to convert argument [{name}] for value [{raw}] due to: For input string: "{raw}"',
        ) from None


def _page(request: Request, what: str) -> tuple[int, int]:
    max_ = _int_param(request, "max", DEFAULT_PAGE)
    offset = _int_param(request, "offset", 0)
    assert max_ is not None and offset is not None
    if max_ > MAX_PAGE:
        raise ApiError(
            400, f"{what} max parameter cannot be greater than {MAX_PAGE} (current value={max_})"
        )
    if max_ < 0:
        raise ApiError(400, f"{what} max parameter cannot be negative (current value={max_})")
    if offset < 0:
        raise ApiError(400, f"{what} offset parameter cannot be negative (current value={offset})")
    return max_, offset


def _bool_param(request: Request, name: str) -> bool:
    raw = (request.query_params.get(name) or "").lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ApiError(
        400, f"Failed to convert argument [{name}] for value [{raw}]: expected true or false"
    )


def _attributes(request: Request) -> set[str]:
    out: set[str] = set()
    for raw in request.query_params.getlist("attributes"):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in ATTRIBUTES:
                raise ApiError(
                    400,
                    f"Failed to convert argument [attributes] for value [{item}]: expected one of {', '.join(ATTRIBUTES)}",
                )
            out.add(item)
    return out


class Handlers:
    """The route handlers, bound to one emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = emu._store

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def user(request: Request) -> User:
        user = request.scope.get(_USER_KEY)
        if user is None:
            raise ApiError(401, "Unauthorized")
        return user  # type: ignore[no-any-return]

    def workspace(self, request: Request, user: User) -> Workspace | None:
        """The ``workspaceId`` workspace (403 unless a member); ``None`` = personal workspace."""
        wid = _int_param(request, "workspaceId", None)
        if wid is None:
            return None
        ws = self.store.workspaces.get(wid)
        if ws is None or user.id not in ws.members or wid in self.store.forbidden:
            raise ApiError(403, FORBIDDEN)
        return ws

    def run(self, request: Request, user: User) -> RunEntry:
        """The run in the path, which must live in the ``workspaceId`` workspace (else 403)."""
        ws = self.workspace(request, user)
        entry = ws.entries.get(request.path_params["workflowId"]) if ws is not None else None
        if entry is None or not self.store.in_history(entry):
            # Unknown, deleted or elsewhere: the Platform answers 403 (API-NOTES §6).
            raise ApiError(403, FORBIDDEN)
        return entry

    def pipeline_info(self, entry: RunEntry) -> dict[str, Any] | None:
        wf = entry.view.workflow
        if not wf.get("launchId"):
            return None  # launched with `nextflow run -with-tower`: no pipeline record
        ws = entry.ws
        return {
            "id": entity_id("pipeline", ws.id, wf.get("projectName")) % 10_000_000_000,
            "workspaceId": ws.id,
            "version": {
                "id": base62(
                    sha("pipeline-version", ws.id, wf.get("projectName"), wf.get("revision")), 22
                ),
                "name": wf.get("revision") or "default",
                "dateCreated": _CREATED,
                "lastUpdated": _CREATED,
                "hash": wf.get("commitId"),
                "isDefault": True,
                "isDraftVersion": False,
            },
        }

    # ------------------------------------------------------------------ user / orgs
    async def service_info(self, request: Request) -> Response:
        return _json(
            {
                "serviceInfo": {
                    "version": "25.3.0-emulator",
                    "apiVersion": "1.140.0",
                    "commitId": "emulator",
                    "authTypes": ["github", "google"],
                    "loginPath": "/login",
                    "navbar": {
                        "menus": [{"label": "Docs", "url": "https://docs.seqera.io/platform"}]
                    },
                    "heartbeatInterval": 60,
                    "userWorkspaceEnabled": True,
                    "allowInstanceCredentials": False,
                    "landingUrl": "https://seqera.io",
                    "termsOfUseUrl": "https://seqera.io/legal/terms-of-use",
                    "contentUrl": str(request.base_url).rstrip("/"),
                    "analytics": None,
                    "allowLocalRepos": True,
                    "contentMaxFileSize": 26214400,
                    "waveEnabled": True,
                    "groundswellEnabled": False,
                    "groundswellAllowedWorkspaces": None,
                    "seqeraCloud": False,
                    "evalWorkspaceIds": [],
                    "contactEmail": "support@example.org",
                    "allowNextflowCliLogs": True,
                    "logoutUrl": None,
                    "seqeraAiBaseUrl": None,
                }
            }
        )

    async def user_info(self, request: Request) -> Response:
        user = self.user(request)
        return _json(
            {
                "user": {
                    "id": user.id,
                    "userName": user.user_name,
                    "email": user.email,
                    "firstName": None,
                    "lastName": None,
                    "organization": None,
                    "description": None,
                    "avatar": None,
                    "avatarId": None,
                    "notification": None,
                    "termsOfUseConsent": True,
                    "marketingConsent": False,
                    "lastAccess": iso(time.time()),
                    "dateCreated": _CREATED,
                    "lastUpdated": _CREATED,
                    "deleted": False,
                },
                "needConsent": False,
                "defaultWorkspaceId": None,
            }
        )

    async def user_workspaces(self, request: Request) -> Response:
        user = self.user(request)
        try:
            uid = int(request.path_params["userId"])
        except ValueError:
            raw = request.path_params["userId"]
            raise ApiError(
                400,
                f'Failed to convert argument [userId] for value [{raw}] due to: For input string: "{raw}"',
            ) from None
        if uid != user.id:
            raise ApiError(403, FORBIDDEN)
        with self.store.lock:
            spaces = self.store.member_workspaces(user)
            orgs = sorted({ws.org.id: ws.org for ws in spaces}.values(), key=lambda o: o.name)
            rows: list[dict[str, Any]] = []
            for org in orgs:  # org-only rows first (workspaceId null), as the real response
                rows.append(
                    {
                        "orgId": org.id,
                        "orgName": org.name,
                        "orgLogoUrl": None,
                        "orgType": "pro",
                        "workspaceId": None,
                        "workspaceName": None,
                        "workspaceFullName": None,
                        "visibility": None,
                        "roles": [org.members.get(user.id, "member")],
                    }
                )
            for ws in spaces:
                rows.append(
                    {
                        "orgId": ws.org.id,
                        "orgName": ws.org.name,
                        "orgLogoUrl": None,
                        "orgType": "pro",
                        "workspaceId": ws.id,
                        "workspaceName": ws.name,
                        "workspaceFullName": ws.full_name,
                        "visibility": "PRIVATE",
                        "roles": [ws.org.members.get(user.id, "member")],
                    }
                )
        return _json({"orgsAndWorkspaces": rows})

    async def orgs(self, request: Request) -> Response:
        user = self.user(request)
        role = request.query_params.get("role")
        with self.store.lock:
            out = []
            for org in sorted(self.store.orgs.values(), key=lambda o: o.name):
                member_role = org.members.get(user.id)
                if member_role is None or (role and role != member_role):
                    continue
                out.append(
                    {
                        "orgId": org.id,
                        "name": org.name,
                        "fullName": org.name,
                        "description": None,
                        "location": None,
                        "website": None,
                        "logoId": None,
                        "logoUrl": None,
                        "memberId": entity_id("member", org.id, user.id),
                        "memberRole": member_role,
                        "type": "pro",
                    }
                )
        # totalSize is null in the real response (fixture organizations_list.json).
        return _json({"organizations": out, "totalSize": None})

    async def org_workspaces(self, request: Request) -> Response:
        user = self.user(request)
        raw = request.path_params["orgId"]
        try:
            org_id = int(raw)
        except ValueError:
            raise ApiError(
                400,
                f'Failed to convert argument [orgId] for value [{raw}] due to: For input string: "{raw}"',
            ) from None
        with self.store.lock:
            org = self.store.orgs.get(org_id)
            if org is None or user.id not in org.members:
                raise ApiError(403, FORBIDDEN)
            spaces = [ws for ws in self.store.member_workspaces(user) if ws.org.id == org_id]
            body = {
                "workspaces": [
                    {
                        "id": ws.id,
                        "name": ws.name,
                        "fullName": ws.name,
                        "description": None,
                        "visibility": "PRIVATE",
                    }
                    for ws in spaces
                ]
            }
        return _json(body)

    async def org_quotas(self, request: Request) -> Response:
        user = self.user(request)
        raw = request.path_params["orgId"]
        org = self.store.orgs.get(int(raw)) if raw.isdigit() else None
        if org is None or user.id not in org.members:
            raise ApiError(403, FORBIDDEN)
        # DescribeOrganizationQuotasResponse; only maxRunHistory means anything here.
        return _json({"quotas": {"maxRunHistory": self.store.max_run_history}})

    # ------------------------------------------------------------------ runs
    async def workflow_list(self, request: Request) -> Response:
        user = self.user(request)
        ws = self.workspace(request, user)
        max_, offset = _page(request, "Workflow list")
        attrs = _attributes(request)
        include_total = _bool_param(request, "includeTotalSize")
        try:
            query = parse_search(request.query_params.get("search"))
        except SearchError as exc:
            raise ApiError(400, str(exc)) from None
        if ws is None:  # the personal workspace holds no runs
            return _json(
                {"workflows": [], "totalSize": 0 if include_total else None, "hasMore": False}
            )
        new_runs = self.emu.faults.new_runs_per_list_page
        if offset > 0 and new_runs > 0:
            # Fault: runs appear while the client pages, shifting every offset.
            self.store.add_runs(new_runs, ws.full_name, "SUCCEEDED")
        page, total, more = self.store.list_runs(ws, query, offset, max_, count_all=include_total)
        minimal, messages = "minimal" in attrs, "messages" in attrs
        org_bits = (
            b',"orgId":'
            + dumps(ws.org.id)
            + b',"orgName":'
            + dumps(ws.org.name)
            + b',"workspaceId":'
            + dumps(ws.id)
            + b',"workspaceName":'
            + dumps(ws.name)
        )
        elements = []
        for entry in page:
            parts = [
                b'{"workflow":',
                self.store.list_workflow_json(entry, minimal=minimal, messages=messages),
            ]
            if self.emu.list_progress:
                parts += [b',"progress":', dumps(entry.view.progress())]
            parts += [
                org_bits,
                b',"labels":',
                dumps(entry.label_records if "labels" in attrs else None),
                b',"starred":false',
                b',"optimized":',
                b"false" if "optimized" in attrs else b"null",
                b',"pipelineInfo":',
                dumps(self.pipeline_info(entry) if "pipelineInfo" in attrs else None),
                b"}",
            ]
            elements.append(b"".join(parts))
        body = (
            b'{"workflows":['
            + b",".join(elements)
            + b'],"totalSize":'
            + dumps(total)
            + b',"hasMore":'
            + (b"true" if more else b"false")
            + b"}"
        )
        return _raw_json(body)

    async def workflow_describe(self, request: Request) -> Response:
        user = self.user(request)
        entry = self.run(request, user)
        attrs = _attributes(request)
        ws = entry.ws
        wf = entry.view.workflow
        if "messages" in attrs:
            wf = {**wf, "messages": []}
        return _json(
            {
                "workflow": wf,
                "progress": entry.view.progress(),
                "platform": {"id": "aws-batch", "name": "Amazon Batch"},
                "jobInfo": None,
                "orgId": ws.org.id,
                "orgName": ws.org.name,
                "workspaceId": ws.id,
                "workspaceName": ws.name,
                "labels": entry.label_records if "labels" in attrs else None,
                "optimized": False if "optimized" in attrs else None,
                "messages": [],
                "pipelineInfo": self.pipeline_info(entry) if "pipelineInfo" in attrs else None,
            }
        )

    async def workflow_progress(self, request: Request) -> Response:
        entry = self.run(request, self.user(request))
        return _json({"progress": entry.view.progress()})

    async def workflow_metrics(self, request: Request) -> Response:
        entry = self.run(request, self.user(request))
        return _json({"metrics": entry.view.metrics()})

    async def workflow_tasks(self, request: Request) -> Response:
        entry = self.run(request, self.user(request))
        max_, offset = _page(request, "Task list")
        failure = self.emu.faults.take_task_failure(entry.id)
        if failure is not None:
            if failure >= 500:
                return Response(html_error_body(failure), failure, media_type="text/html")
            raise ApiError(failure, FORBIDDEN if failure == 403 else f"Workflow {entry.id} not available")
        cap = self.emu.max_page_size
        if cap is not None:
            max_ = min(max_, cap)  # a server that fills pages only up to its own size
        sort_by = request.query_params.get("sortBy") or "taskId"
        if sort_by not in TASK_SORT_KEYS:
            raise ApiError(
                400, f"Invalid sortBy value '{sort_by}'; use one of: {', '.join(TASK_SORT_KEYS)}"
            )
        sort_dir = (request.query_params.get("sortDir") or "asc").lower()
        if sort_dir not in ("asc", "desc"):
            raise ApiError(400, f"Invalid sortDir value '{sort_dir}'; use asc or desc")
        search = (request.query_params.get("search") or "").strip().lower()
        tasks = entry.view.tasks()
        if search:
            # Like the web UI: substring of name, process, tag, hash or status.
            tasks = [
                t
                for t in tasks
                if any(
                    search in str(t.get(k) or "").lower()
                    for k in ("name", "process", "tag", "hash", "status")
                )
            ]
        if sort_by != "taskId" or sort_dir != "asc":
            present = [t for t in tasks if t.get(sort_by) is not None]
            missing = [t for t in tasks if t.get(sort_by) is None]
            # Stable sorts: ties keep ascending taskId; tasks without the field go last.
            tasks = sorted(present, key=lambda t: t[sort_by], reverse=sort_dir == "desc") + missing
        page = tasks[offset : offset + max_]
        body: dict[str, Any] = {"tasks": [{"task": t} for t in page]}
        if self.emu.task_totals:
            body["total"] = len(tasks)
        return _json(body)

    async def workflow_task(self, request: Request) -> Response:
        entry = self.run(request, self.user(request))
        raw = request.path_params["taskId"]
        try:
            task_id = int(raw)
        except ValueError:
            raise ApiError(
                400,
                f'Failed to convert argument [taskId] for value [{raw}] due to: For input string: "{raw}"',
            ) from None
        for t in entry.view.tasks():
            if t.get("taskId") == task_id:
                return _json({"task": t})
        raise ApiError(404, f"Task {task_id} not found in workflow {entry.id}")


# ---------------------------------------------------------------------- gateway
def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == b"authorization":
            text = value.decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    hdrs = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    hdrs += headers or []
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send_body(send, status, dumps(obj), b"application/json", headers)


async def _drop(receive: Receive, send: Send) -> None:
    """Close the connection without sending a single byte of response."""
    # Under uvicorn, `receive` is a bound method of the request cycle, which holds the
    # socket transport: closing it is exactly a dropped connection.
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        for _ in range(5):  # let uvicorn notice the disconnect, so it sends nothing itself
            await asyncio.sleep(0)
        return
    # Elsewhere (e.g. httpx.ASGITransport): fail the exchange after a partial body.
    raise ConnectionAbortedError("seqera emulator: connection dropped (fault injection)")


def _truncating(send: Send, keep: float) -> Send:
    """Wrap ``send`` so a 200 JSON body is cut to ``keep`` of its length (Content-Length fixed)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        headers = list(start.get("headers") or [])
        is_json = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
        if start.get("status") == 200 and is_json and len(body) > 2:
            body = body[: max(1, int(len(body) * keep))]
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


class Gateway:
    """ASGI middleware in front of the routes: counting, latency, faults, auth, rate limit."""

    def __init__(self, app: Starlette, emu: Emulator) -> None:
        self.app = app
        self.emu = emu
        self.routes = [r for r in app.routes if isinstance(r, Route)]

    def endpoint(self, scope: Scope) -> str | None:
        """The route template a request matches (``/workflow/{workflowId}/tasks``), or None."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return route.path
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[arg-type]
            return
        started = time.monotonic()
        endpoint = self.endpoint(scope)
        token = _bearer(scope)
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self.emu._record(
                    started, token, scope.get("method", ""), endpoint, scope.get("path", ""), status
                )

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Record before the first byte leaves, so a client that got its response
                # always finds its request counted.
                record(int(message["status"]))
            await send(message)

        try:
            await self._serve(scope, receive, recording_send, endpoint, token, record)
        finally:
            record(0)  # no response started: the connection was dropped

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: str | None,
        token: str | None,
        record: Callable[[int], None],
    ) -> None:
        emu = self.emu
        latency = emu.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000.0)
        faults = emu.faults
        draw = faults.draw() if faults.active else None
        if draw is not None:
            if draw.drop or draw.down:
                record(0)  # before the client can notice the closed connection
                await _drop(receive, send)
                return
            if draw.error is not None:
                await _send_body(send, draw.error, html_error_body(draw.error), b"text/html")
                return
            if draw.burst:
                await _send_json(
                    send,
                    429,
                    {"message": RATE_LIMIT_MESSAGE.format(secs=0)},
                    [(b"retry-after", b"0")],
                )
                return
        user = emu._store.users_by_token.get(token) if token else None
        if user is None and endpoint not in PUBLIC_ENDPOINTS:
            await _send_json(send, 401, {"message": "Unauthorized"})
            return
        limiter = emu._limiter
        if user is not None and limiter is not None and token is not None:
            decision = limiter.acquire(token)
            if not decision.allowed:
                secs = decision.retry_after
                await _send_json(
                    send,
                    429,
                    {"message": RATE_LIMIT_MESSAGE.format(secs=secs)},
                    [(b"retry-after", str(secs).encode())],
                )
                return
            if decision.wait_s > 0:
                await asyncio.sleep(decision.wait_s)
        scope[_USER_KEY] = user
        if draw is not None and draw.truncate_at is not None:
            send = _truncating(send, draw.truncate_at)
        await self.app(scope, receive, send)  # type: ignore[arg-type]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _json({"message": exc.message}, exc.status, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _json({"message": exc.detail}, exc.status_code, dict(exc.headers or {}))


def build_app(emu: Emulator) -> Gateway:
    """The emulator's ASGI app (a :class:`Gateway` around the Starlette routes)."""
    h = Handlers(emu)
    routes = [
        Route("/service-info", h.service_info),
        Route("/user-info", h.user_info),
        Route("/user/{userId}/workspaces", h.user_workspaces),
        Route("/orgs", h.orgs),
        Route("/orgs/{orgId}/workspaces", h.org_workspaces),
        Route("/orgs/{orgId}/quotas", h.org_quotas),
        Route("/workflow", h.workflow_list),
        Route("/workflow/{workflowId}", h.workflow_describe),
        Route("/workflow/{workflowId}/progress", h.workflow_progress),
        Route("/workflow/{workflowId}/metrics", h.workflow_metrics),
        Route("/workflow/{workflowId}/tasks", h.workflow_tasks),
        Route("/workflow/{workflowId}/task/{taskId}", h.workflow_task),
    ]
    app = Starlette(
        routes=routes, exception_handlers={ApiError: _api_error, HTTPException: _http_error}
    )
    return Gateway(app, emu)
